/* Helpers shared by the C test clients (tsclient.c, waitclient.c): their
 * machine-readable result lines, errno names and the clock. Included, not
 * linked: each client is a single translation unit. */
#ifndef CLIENT_H
#define CLIENT_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Hides where a pointer comes from, so __builtin_object_size() gives up and
 * the fortified headers call the plain read/recv/recvfrom. */
static void *opaque(void *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static const char *ename(int e)
{
    static char num[32];
    const char *n;
    if (e == 0)
        return "0";
    n = strerrorname_np(e);
    if (n)
        return n;
    snprintf(num, sizeof num, "E%d", e);
    return num;
}

/* One result line: op=OP ret=RET errno=NAME elapsed_ms=MS [extra...] */
static void report(const char *op, long ret, int err, double ms, const char *fmt, ...)
{
    printf("op=%s ret=%ld errno=%s elapsed_ms=%.0f", op, ret, ename(err), ms);
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        putchar(' ');
        vprintf(fmt, ap);
        va_end(ap);
    }
    putchar('\n');
}

static void waiting(const char *op)
{
    printf("waiting op=%s\n", op);
}

static void die(const char *what)
{
    int e = errno;
    printf("setup_error=%s errno=%s\n", what, ename(e));
    exit(2);
}

#endif

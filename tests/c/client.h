/* Helpers shared by the C test clients (tsclient.c, waitclient.c,
 * adverse.c): their machine-readable result lines, errno names, the clock
 * and loopback addresses. Included, not linked: each client is a single
 * translation unit. Thread-safe (adverse.c calls them from several
 * threads); unused ones draw no warning. */
#ifndef CLIENT_H
#define CLIENT_H

#define UNUSED __attribute__((unused))

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Hides where a pointer comes from, so __builtin_object_size() gives up and
 * the fortified headers call the plain read/recv/recvfrom. */
static UNUSED void *opaque(void *p)
{
    __asm__ volatile("" : "+r"(p));
    return p;
}

static UNUSED double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static UNUSED const char *ename(int e)
{
    static __thread char num[32]; /* per thread */
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
static UNUSED void report(const char *op, long ret, int err, double ms, const char *fmt, ...)
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

static UNUSED void waiting(const char *op)
{
    printf("waiting op=%s\n", op);
}

static UNUSED void die(const char *what)
{
    int e = errno;
    printf("setup_error=%s errno=%s\n", what, ename(e));
    exit(2);
}

/* HOST (IPv4, or IPv6 when it has a ':') and PORT into SS; its length. */
static UNUSED socklen_t make_addr(const char *host, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (strchr(host, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            die("inet_pton");
        return sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            die("inet_pton");
        return sizeof *a4;
    }
}

#endif

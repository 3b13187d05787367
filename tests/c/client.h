/* Helpers shared by all C test programs (tsclient.c, waitclient.c,
 * adverse.c, and the stress programs through stress_common.h): their
 * machine-readable result lines, errno names, the clock, the checksum,
 * loopback addresses and connections. Written once, here. Included, not
 * linked: each program is a single translation unit. Thread-safe
 * (adverse.c and the stress programs call them from several threads) and
 * usable after fork; unused ones draw no warning. */
#ifndef CLIENT_H
#define CLIENT_H

#define UNUSED __attribute__((unused))

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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
#ifdef __GLIBC__
    n = strerrorname_np(e);
#else
    n = NULL; /* musl has no strerrorname_np (muslclient.c) */
#endif
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

/* A failed setup step: one line, exit status 2. _exit, not exit: safe in
 * a forked child and while other threads run. */
static UNUSED void die(const char *what)
{
    int e = errno;
    printf("setup_error=%s errno=%s\n", what, ename(e));
    fflush(stdout);
    _exit(2);
}

/* FNV-1a 64, the same as tests/common/data.rs */
#define FNV_INIT 0xcbf29ce484222325ULL
static UNUSED uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
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

/* A blocking TCP connection to host:port; -1 with errno on failure. */
static UNUSED int tcp_connect(const char *host, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = make_addr(host, port, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* A connected blocking TCP socket to HOST and the port written in PORT; a
 * failed socket or connect is a setup error. */
static UNUSED int dial(const char *host, const char *port)
{
    int fd = tcp_connect(host, atoi(port));
    if (fd < 0)
        die("connect");
    return fd;
}

/* SCM_RIGHTS over the Unix socket VIA: N (at most 4) descriptors, with one
 * data byte; 0, or -1 on failure (or when the message is not N fds). */
static UNUSED int send_fds(int via, int *fds, int n)
{
    char data = 'F';
    struct iovec iov = {&data, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    return sendmsg(via, &m, 0) == 1 ? 0 : -1;
}

static UNUSED int recv_fds(int via, int *fds, int n, int flags)
{
    char data;
    struct iovec iov = {&data, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                       .msg_controllen = sizeof u.buf};
    if (recvmsg(via, &m, flags) != 1)
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int) * n))
        return -1;
    memcpy(fds, CMSG_DATA(c), sizeof(int) * n);
    return 0;
}

#endif

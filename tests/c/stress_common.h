/*
 * Helpers shared by the stress and fault programs (tests/c/stress*.c).
 * Built by tests/stress_support/mod.rs with
 *     gcc -O2 -pthread -D_FORTIFY_SOURCE=2 -Wall
 * on top of client.h (the clock, errno names, die, fnv, addresses and
 * connections, shared with the other C test programs).
 *
 * Output convention (as tsclient.c): one line per result, space-separated
 * key=value pairs; stdout is line-buffered so lines from threads and
 * forked processes stay whole. All traffic stays on 127.0.0.1 / ::1 or in
 * Unix sockets and pipes.
 */
#ifndef STRESS_COMMON_H
#define STRESS_COMMON_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"

static UNUSED void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* xorshift64*: deterministic pseudo-random numbers from a seed. */
static UNUSED uint64_t rnd_next(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static UNUSED uint64_t rnd_below(uint64_t *s, uint64_t n)
{
    return n ? rnd_next(s) % n : 0;
}

static UNUSED void fill_rnd(uint64_t *s, unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(rnd_next(s) >> 33);
}

/* ---- addresses and sockets ------------------------------------------- */

/* A TCP listener on host:0 with the given backlog; *port gets its port. */
static UNUSED int tcp_listen(const char *host, int backlog, int *port)
{
    struct sockaddr_storage ss;
    socklen_t len = make_addr(host, 0, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket(listen)");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0)
        die("bind");
    if (listen(fd, backlog) != 0)
        die("listen");
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        die("getsockname");
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* Sends all of buf (blocking), retrying after EINTR and partial counts. */
static UNUSED int send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= r;
    }
    return 0;
}

/* Receives exactly n bytes (blocking); -1 on error or early EOF. */
static UNUSED int recv_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EPIPE;
            return -1;
        }
        p += r;
        n -= r;
    }
    return 0;
}

/* Open descriptors of this process (entries of /proc/self/fd, minus the
 * one opendir uses). */
static UNUSED int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/* Kills the whole process after `secs` if it is still running: the last
 * line of defence against a hang that the harness would otherwise meet
 * at its own limit. SIGALRM with the default action ends the process. */
static UNUSED void watchdog(unsigned secs)
{
    signal(SIGALRM, SIG_DFL);
    alarm(secs);
}

/* In a forked child: SIGKILL when the parent dies (the harness kills the
 * parent by PID; this takes its children with it). */
static UNUSED void die_with_parent(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* Line-buffered stdout shared with forked children: flush before fork. */
static UNUSED void stdout_lines(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
}

/* ---- checks: a blocking read that must block, or must time out --------- */

enum { EXPECT_BLOCK, EXPECT_TIMEOUT };

/* One blocking read on `fd` in its own thread. EXPECT_BLOCK: still blocked
 * after HANG_MS, then released by one byte written to `wfd` (or by
 * `release()`), and the read returns 1. EXPECT_TIMEOUT: the read fails with
 * ETIMEDOUT within [0.8 T, T + 1 s]. */
#define HANG_MS 1000.0

typedef struct check {
    char name[64];
    int fd, wfd, expect;
    int use_recv;
    atomic_int done;
    ssize_t ret;
    int err;
    double start, ms;
    pthread_t tid;
} check_t;

static void *check_thread(void *arg)
{
    check_t *c = arg;
    char b[16];
    ssize_t r;
    c->start = now_ms();
    if (c->use_recv)
        r = recv(c->fd, b, 1, 0);
    else
        r = read(c->fd, b, 1);
    c->err = r < 0 ? errno : 0;
    c->ret = r;
    c->ms = now_ms() - c->start;
    atomic_store(&c->done, 1);
    return NULL;
}

static UNUSED void check_start(check_t *c, const char *name, int fd, int wfd, int expect)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->fd = fd;
    c->wfd = wfd;
    c->expect = expect;
    c->start = now_ms();
    if (pthread_create(&c->tid, NULL, check_thread, c) != 0)
        die("pthread_create(check)");
}

/* Waits until `c` is done or `until_ms` (absolute, now_ms clock). */
static UNUSED int check_wait(check_t *c, double until_ms)
{
    while (!atomic_load(&c->done) && now_ms() < until_ms)
        sleep_ms(5);
    return atomic_load(&c->done);
}

/* Judges checks started together; prints one line each; returns the number
 * of failures. A check that does not end is unblocked (byte written or
 * socket shut down) and reported. */
static UNUSED int check_finish(check_t *cs, int n, double t_secs)
{
    int failures = 0;
    double begin = now_ms();
    for (int i = 0; i < n; i++)
        if (cs[i].start < begin)
            begin = cs[i].start;
    /* The blocking ones must still be blocked at HANG_MS. */
    while (now_ms() < begin + HANG_MS)
        sleep_ms(5);
    int still[256] = {0};
    for (int i = 0; i < n && i < 256; i++)
        still[i] = !atomic_load(&cs[i].done);
    for (int i = 0; i < n; i++) {
        check_t *c = &cs[i];
        int ok;
        if (c->expect == EXPECT_BLOCK) {
            int was_blocked = i < 256 ? still[i] : 0;
            if (!atomic_load(&c->done) && c->wfd >= 0) {
                ssize_t w = write(c->wfd, "r", 1);
                (void)w;
            }
            if (!check_wait(c, now_ms() + 3000.0))
                shutdown(c->fd, SHUT_RDWR);
            check_wait(c, now_ms() + 2000.0);
            ok = was_blocked && atomic_load(&c->done) && c->ret == 1;
            printf("check name=%s expect=block ok=%d blocked_at_%.0fms=%d ret=%zd errno=%s "
                   "elapsed_ms=%.0f\n",
                   c->name, ok, HANG_MS, was_blocked, c->ret, ename(c->err), c->ms);
        } else {
            double lo = 0.8 * t_secs * 1000.0, hi = t_secs * 1000.0 + 1000.0;
            if (!check_wait(c, c->start + hi + 2000.0)) {
                shutdown(c->fd, SHUT_RDWR);
                check_wait(c, now_ms() + 2000.0);
                ok = 0;
            } else {
                ok = c->ret == -1 && c->err == ETIMEDOUT && c->ms >= lo && c->ms <= hi;
            }
            printf("check name=%s expect=timeout ok=%d ret=%zd errno=%s elapsed_ms=%.0f\n",
                   c->name, ok, c->ret, ename(c->err), c->ms);
        }
        if (atomic_load(&c->done))
            pthread_join(c->tid, NULL);
        else
            pthread_detach(c->tid);
        failures += !ok;
    }
    return failures;
}

#endif

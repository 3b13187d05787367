/*
 * tsclient: the test client of libtimeoutsock's integration tests.
 *
 * Built by the test harness (tests/common/mod.rs) with
 *     gcc -O2 -D_FORTIFY_SOURCE=2 -Wall -o tsclient tsclient.c
 * so that the "_chk" read modes below go through glibc's fortified entry
 * points (__read_chk, __recv_chk, __recvfrom_chk) while the plain modes call
 * read/recv/recvfrom themselves.
 *
 * Every subcommand prints machine-readable lines of space-separated key=value
 * pairs, one per operation, for example
 *     op=recv ret=-1 errno=ETIMEDOUT elapsed_ms=1003 total=0
 * and, before each call that may block, a line "waiting op=NAME" so that the
 * harness can tell a hang in that call from a hang anywhere else.
 *
 * Exit codes: 0 the operation under test succeeded (or ended at EOF),
 * 1 it failed (its result line says how), 2 usage or setup error.
 * All traffic goes to the loopback address given on the command line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ 65536

/* A global array: its size is known to the compiler, so with a length that
 * is not a compile-time constant the fortified headers route read/recv/
 * recvfrom into it through __read_chk/__recv_chk/__recvfrom_chk. */
static char chkbuf[BUFSZ];

#include "client.h"

static void usage(void)
{
    fputs("usage: tsclient SUBCOMMAND ...\n"
          "  echo CODE WORDS...                     print WORDS, exit CODE\n"
          "  connect HOST PORT block|append|nonblock\n"
          "  read HOST PORT MODE [LEN]              MODE: read read_chk recv recv_chk\n"
          "                                         recvfrom recvfrom_chk readv recvmsg waitall\n"
          "  write HOST PORT NBYTES MODE [SNDBUF]   MODE: write send writev sendmsg sendto\n"
          "  accept HOST PORT accept|accept4\n"
          "  nonblock HOST PORT fcntl|fionbio|dontwait|sock_nonblock\n"
          "  sigalrm HOST PORT restart|norestart MS [INTERVAL_MS]\n"
          "  rcvtimeo HOST PORT MS\n"
          "  errno HOST PORT\n"
          "  hang unix|unixpair|pipe|udp\n"
          "  dup HOST PORT dup|dup2|dup3|dupfd\n"
          "  reuse HOST PORT sock2pipe|sock2pipe_fclose|pipe2sock\n",
          stderr);
    exit(2);
}

/* ---- addresses ---------------------------------------------------------- */

static int tcp_socket(const struct sockaddr_storage *ss, int extra_type)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | extra_type, 0);
    if (fd < 0)
        die("socket");
    return fd;
}

/* A connected blocking TCP socket; a failed connect is a setup error. */
static int dial(const char *host, const char *port)
{
    struct sockaddr_storage ss;
    socklen_t len = make_addr(host, atoi(port), &ss);
    int fd = tcp_socket(&ss, 0);
    if (connect(fd, (struct sockaddr *)&ss, len) != 0)
        die("connect");
    return fd;
}

/* ---- checksums and test data --------------------------------------------- */

/* FNV-1a 64, the same as tests/common/mod.rs */
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

/* xorshift64 stream, the same as tests/common/mod.rs */
static void fill_pattern(unsigned char *p, size_t n)
{
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (unsigned char)(x >> 24);
    }
}

/* ---- echo ----------------------------------------------------------------- */

static int cmd_echo(int argc, char **argv)
{
    if (argc < 1)
        usage();
    for (int i = 1; i < argc; i++)
        printf("%s%s", argv[i], i + 1 < argc ? " " : "\n");
    return atoi(argv[0]);
}

/* ---- connect -------------------------------------------------------------- */

static int cmd_connect(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *mode = argv[2];
    struct sockaddr_storage ss;
    socklen_t len = make_addr(argv[0], atoi(argv[1]), &ss);
    int fd = tcp_socket(&ss, strcmp(mode, "nonblock") == 0 ? SOCK_NONBLOCK : 0);
    if (strcmp(mode, "append") == 0) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_APPEND) != 0)
            die("fcntl");
    } else if (strcmp(mode, "block") != 0 && strcmp(mode, "nonblock") != 0) {
        usage();
    }
    int before = fcntl(fd, F_GETFL);
    waiting("connect");
    double t0 = now_ms();
    int r = connect(fd, (struct sockaddr *)&ss, len);
    int e = errno;
    double t1 = now_ms();
    int after = fcntl(fd, F_GETFL);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    report("connect", r, r == 0 ? 0 : e, t1 - t0, "flags_before=0x%x flags_after=0x%x so_error=%s",
           before, after, ename(soerr));
    return r == 0 ? 0 : 1;
}

/* ---- read ----------------------------------------------------------------- */

static ssize_t do_read(int fd, const char *mode, size_t len)
{
    char *plain = opaque(chkbuf);
    if (strcmp(mode, "read") == 0)
        return read(fd, plain, len);
    if (strcmp(mode, "read_chk") == 0)
        return read(fd, chkbuf, len);
    if (strcmp(mode, "recv") == 0)
        return recv(fd, plain, len, 0);
    if (strcmp(mode, "recv_chk") == 0)
        return recv(fd, chkbuf, len, 0);
    if (strcmp(mode, "recvfrom") == 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        return recvfrom(fd, plain, len, 0, (struct sockaddr *)&ss, &sl);
    }
    if (strcmp(mode, "recvfrom_chk") == 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        return recvfrom(fd, chkbuf, len, 0, (struct sockaddr *)&ss, &sl);
    }
    if (strcmp(mode, "readv") == 0) {
        struct iovec iov[2] = {{plain, len / 2}, {plain + len / 2, len - len / 2}};
        return readv(fd, iov, 2);
    }
    if (strcmp(mode, "recvmsg") == 0) {
        struct iovec iov = {plain, len};
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        return recvmsg(fd, &mh, 0);
    }
    if (strcmp(mode, "waitall") == 0)
        return recv(fd, plain, len, MSG_WAITALL);
    usage();
    return -1;
}

static int cmd_read(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *mode = argv[2];
    size_t len = argc > 3 ? (size_t)atol(argv[3]) : BUFSZ;
    if (len == 0 || len > BUFSZ)
        usage();
    int fd = dial(argv[0], argv[1]);
    uint64_t h = FNV_INIT;
    long total = 0, calls = 0;
    ssize_t r = 0;
    int e = 0;
    waiting(mode);
    double t0 = now_ms();
    /* bounded: at most 10 million calls (the harness also kills at its limit) */
    while (calls < 10000000) {
        double c0 = now_ms();
        errno = 0;
        r = do_read(fd, mode, len);
        e = errno;
        double c1 = now_ms();
        calls++;
        if (calls <= 20 || r <= 0 || c1 - c0 >= 50)
            printf("call n=%ld op=%s ret=%ld errno=%s ms=%.0f\n", calls, mode, (long)r,
                   ename(r < 0 ? e : 0), c1 - c0);
        if (r <= 0)
            break;
        h = fnv(h, (unsigned char *)chkbuf, (size_t)r);
        total += r;
    }
    double t1 = now_ms();
    report(mode, (long)r, r < 0 ? e : 0, t1 - t0, "total=%ld calls=%ld cksum=%016llx", total,
           calls, (unsigned long long)h);
    return r == 0 ? 0 : 1;
}

/* ---- write ---------------------------------------------------------------- */

static ssize_t do_write(int fd, const char *mode, const char *p, size_t n)
{
    if (strcmp(mode, "write") == 0)
        return write(fd, p, n);
    if (strcmp(mode, "send") == 0)
        return send(fd, p, n, 0);
    if (strcmp(mode, "sendto") == 0)
        return sendto(fd, p, n, 0, NULL, 0);
    if (strcmp(mode, "writev") == 0) {
        struct iovec iov[2] = {{(void *)p, n / 2}, {(void *)(p + n / 2), n - n / 2}};
        return writev(fd, iov, 2);
    }
    if (strcmp(mode, "sendmsg") == 0) {
        struct iovec iov = {(void *)p, n};
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        return sendmsg(fd, &mh, 0);
    }
    usage();
    return -1;
}

static int cmd_write(int argc, char **argv)
{
    if (argc < 4)
        usage();
    size_t n = (size_t)atol(argv[2]);
    const char *mode = argv[3];
    int fd = dial(argv[0], argv[1]);
    if (argc > 4) {
        int sb = atoi(argv[4]);
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb) != 0)
            die("setsockopt");
    }
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf)
        die("malloc");
    fill_pattern(buf, n);
    uint64_t h = fnv(FNV_INIT, buf, n);
    waiting(mode);
    double t0 = now_ms();
    ssize_t r = do_write(fd, mode, (char *)buf, n);
    int e = errno;
    double t1 = now_ms();
    report(mode, (long)r, r < 0 ? e : 0, t1 - t0, "nbytes=%zu cksum=%016llx", n,
           (unsigned long long)h);
    /* retry with the remainder, as a program that checks for short writes
     * does; at most 3 retries, each reported as op=MODE_retry, MODE_retry2.. */
    size_t done = r > 0 ? (size_t)r : 0;
    for (int k = 1; k <= 3 && r > 0 && done < n; k++) {
        char op[64];
        if (k == 1)
            snprintf(op, sizeof op, "%s_retry", mode);
        else
            snprintf(op, sizeof op, "%s_retry%d", mode, k);
        waiting(op);
        double t2 = now_ms();
        r = do_write(fd, mode, (char *)buf + done, n - done);
        int e2 = errno;
        double t3 = now_ms();
        report(op, (long)r, r < 0 ? e2 : 0, t3 - t2, "total_ms=%.0f", t3 - t0);
        if (r > 0)
            done += (size_t)r;
    }
    if (r > 0)
        r = (ssize_t)done;
    if (r == (ssize_t)n) {
        /* orderly close so that the peer sees every byte and then EOF */
        shutdown(fd, SHUT_WR);
        close(fd);
        return 0;
    }
    return 1;
}

/* ---- accept --------------------------------------------------------------- */

static int cmd_accept(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *mode = argv[2];
    struct sockaddr_storage ss;
    socklen_t len = make_addr(argv[0], atoi(argv[1]), &ss);
    int lfd = tcp_socket(&ss, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&ss, len) != 0)
        die("bind");
    if (listen(lfd, 16) != 0)
        die("listen");
    struct sockaddr_storage me;
    socklen_t ml = sizeof me;
    if (getsockname(lfd, (struct sockaddr *)&me, &ml) != 0)
        die("getsockname");
    int port = me.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&me)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&me)->sin_port);
    printf("listening port=%d\n", port);
    waiting(mode);
    double t0 = now_ms();
    int c;
    if (strcmp(mode, "accept") == 0)
        c = accept(lfd, NULL, NULL);
    else if (strcmp(mode, "accept4") == 0)
        c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    else
        usage();
    int e = errno;
    double t1 = now_ms();
    report(mode, c, c < 0 ? e : 0, t1 - t0, "");
    if (c < 0)
        return 1;
    /* the accepted socket is a blocking TCP socket too: wait on it */
    waiting("recv");
    double t2 = now_ms();
    ssize_t r = recv(c, opaque(chkbuf), BUFSZ, 0);
    int e2 = errno;
    double t3 = now_ms();
    report("recv", (long)r, r < 0 ? e2 : 0, t3 - t2, "");
    return r >= 0 ? 0 : 1;
}

/* ---- non-blocking sockets ------------------------------------------------- */

static int cmd_nonblock(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *mode = argv[2];
    struct sockaddr_storage ss;
    socklen_t len = make_addr(argv[0], atoi(argv[1]), &ss);
    int fd;
    int flags = 0;
    if (strcmp(mode, "sock_nonblock") == 0) {
        /* connect blocking, then read a SOCK_NONBLOCK socket: use accept4's
         * counterpart for sockets, socket(SOCK_NONBLOCK) + poll for connect */
        fd = tcp_socket(&ss, SOCK_NONBLOCK);
        int r = connect(fd, (struct sockaddr *)&ss, len);
        if (r != 0 && errno != EINPROGRESS)
            die("connect");
        /* wait (bounded) for the connection to be established */
        for (int i = 0; i < 500; i++) {
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            struct sockaddr_storage peer;
            socklen_t pl = sizeof peer;
            if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0)
                break;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            if (soerr)
                die("connect_nonblock");
            usleep(2000);
        }
    } else {
        fd = tcp_socket(&ss, 0);
        if (connect(fd, (struct sockaddr *)&ss, len) != 0)
            die("connect");
        if (strcmp(mode, "fcntl") == 0) {
            int fl = fcntl(fd, F_GETFL);
            if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
                die("fcntl");
        } else if (strcmp(mode, "fionbio") == 0) {
            int on = 1;
            if (ioctl(fd, FIONBIO, &on) != 0)
                die("ioctl");
        } else if (strcmp(mode, "dontwait") == 0) {
            flags = MSG_DONTWAIT;
        } else {
            usage();
        }
    }
    /* 1: the non-blocking read must return EAGAIN at once, several times */
    waiting("recv_nb");
    double t0 = now_ms();
    ssize_t r = -1;
    int e = 0;
    for (int i = 0; i < 5; i++) {
        r = recv(fd, opaque(chkbuf), BUFSZ, flags);
        e = errno;
        if (r >= 0)
            break;
    }
    double t1 = now_ms();
    report("recv_nb", (long)r, r < 0 ? e : 0, t1 - t0, "flags=0x%x", fcntl(fd, F_GETFL));
    /* 1b: a non-blocking read through the fortified entry point too */
    double t2 = now_ms();
    r = recv(fd, chkbuf, (size_t)atoi("4096"), flags);
    e = errno;
    report("recv_chk_nb", (long)r, r < 0 ? e : 0, now_ms() - t2, "");
    /* 2: back to blocking (sock_nonblock: via fcntl), then a blocking read */
    if (strcmp(mode, "fionbio") == 0) {
        int off = 0;
        if (ioctl(fd, FIONBIO, &off) != 0)
            die("ioctl");
    } else if (strcmp(mode, "dontwait") != 0) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
            die("fcntl");
    }
    waiting("recv");
    double t3 = now_ms();
    r = recv(fd, opaque(chkbuf), BUFSZ, 0);
    e = errno;
    report("recv", (long)r, r < 0 ? e : 0, now_ms() - t3, "flags=0x%x", fcntl(fd, F_GETFL));
    return r >= 0 ? 0 : 1;
}

/* ---- signals -------------------------------------------------------------- */

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static int cmd_sigalrm(int argc, char **argv)
{
    if (argc < 4)
        usage();
    int restart = strcmp(argv[2], "restart") == 0;
    if (!restart && strcmp(argv[2], "norestart") != 0)
        usage();
    long ms = atol(argv[3]);
    long interval = argc > 4 ? atol(argv[4]) : 0;
    int fd = dial(argv[0], argv[1]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart ? SA_RESTART : 0;
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        die("sigaction");
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = ms / 1000;
    it.it_value.tv_usec = (ms % 1000) * 1000;
    it.it_interval.tv_sec = interval / 1000;
    it.it_interval.tv_usec = (interval % 1000) * 1000;
    waiting("recv");
    double t0 = now_ms();
    if (setitimer(ITIMER_REAL, &it, NULL) != 0)
        die("setitimer");
    ssize_t r = recv(fd, opaque(chkbuf), BUFSZ, 0);
    int e = errno;
    double t1 = now_ms();
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_REAL, &it, NULL);
    report("recv", (long)r, r < 0 ? e : 0, t1 - t0, "alarms=%d", (int)alarms);
    return r >= 0 ? 0 : 1;
}

/* ---- SO_RCVTIMEO ---------------------------------------------------------- */

static int cmd_rcvtimeo(int argc, char **argv)
{
    if (argc < 3)
        usage();
    long ms = atol(argv[2]);
    int fd = dial(argv[0], argv[1]);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        die("setsockopt");
    waiting("recv");
    double t0 = now_ms();
    ssize_t r = recv(fd, opaque(chkbuf), BUFSZ, 0);
    int e = errno;
    double t1 = now_ms();
    report("recv", (long)r, r < 0 ? e : 0, t1 - t0, "");
    return r >= 0 ? 0 : 1;
}

/* ---- errno preservation ---------------------------------------------------- */

/* Against a server that sends its first byte only after a while: errno is set
 * to EDOM before each successful call and must still be EDOM after it. */
static int cmd_errno(int argc, char **argv)
{
    if (argc < 2)
        usage();
    struct sockaddr_storage ss;
    socklen_t len = make_addr(argv[0], atoi(argv[1]), &ss);
    int fd = tcp_socket(&ss, 0);
    int ok = 1;

    errno = EDOM;
    double t0 = now_ms();
    int c = connect(fd, (struct sockaddr *)&ss, len);
    int e = errno;
    report("connect", c, e, now_ms() - t0, "");
    ok &= c == 0 && e == EDOM;

    errno = EDOM;
    t0 = now_ms();
    ssize_t r = recv(fd, opaque(chkbuf), 1, 0);
    e = errno;
    report("recv", (long)r, e, now_ms() - t0, "");
    ok &= r == 1 && e == EDOM;

    errno = EDOM;
    t0 = now_ms();
    r = read(fd, chkbuf, (size_t)atoi("1"));
    e = errno;
    report("read_chk", (long)r, e, now_ms() - t0, "");
    ok &= r == 1 && e == EDOM;

    errno = EDOM;
    t0 = now_ms();
    r = send(fd, "x", 1, 0);
    e = errno;
    report("send", (long)r, e, now_ms() - t0, "");
    ok &= r == 1 && e == EDOM;
    return ok ? 0 : 1;
}

/* ---- things that are not TCP sockets and must hang as before ------------- */

static int cmd_hang(int argc, char **argv)
{
    if (argc < 1)
        usage();
    const char *kind = argv[0];
    int fd;
    int keep[2] = {-1, -1};
    if (strcmp(kind, "unixpair") == 0) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, keep) != 0)
            die("socketpair");
        fd = keep[0];
    } else if (strcmp(kind, "unix") == 0) {
        /* a listener in the abstract namespace, connect() and accept() on it */
        struct sockaddr_un sun;
        memset(&sun, 0, sizeof sun);
        sun.sun_family = AF_UNIX;
        int n = snprintf(sun.sun_path + 1, sizeof sun.sun_path - 1, "tsclient-%d", (int)getpid());
        socklen_t sl = offsetof(struct sockaddr_un, sun_path) + 1 + n;
        int l = socket(AF_UNIX, SOCK_STREAM, 0);
        if (l < 0 || bind(l, (struct sockaddr *)&sun, sl) != 0 || listen(l, 4) != 0)
            die("unix_listen");
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sl) != 0)
            die("unix_connect");
        keep[0] = accept(l, NULL, NULL);
        if (keep[0] < 0)
            die("unix_accept");
    } else if (strcmp(kind, "pipe") == 0) {
        if (pipe(keep) != 0)
            die("pipe");
        fd = keep[0];
    } else if (strcmp(kind, "udp") == 0) {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
            die("udp");
    } else {
        usage();
        return 2;
    }
    waiting("read");
    double t0 = now_ms();
    ssize_t r;
    if (strcmp(kind, "pipe") == 0)
        r = read(fd, chkbuf, (size_t)atoi("100"));
    else if (strcmp(kind, "udp") == 0)
        r = recvfrom(fd, opaque(chkbuf), BUFSZ, 0, NULL, NULL);
    else
        r = recv(fd, opaque(chkbuf), BUFSZ, 0);
    int e = errno;
    report("read", (long)r, r < 0 ? e : 0, now_ms() - t0, "kind=%s", kind);
    return r >= 0 ? 0 : 1;
}

/* ---- descriptors that move ----------------------------------------------- */

static int cmd_dup(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *mode = argv[2];
    int fd = dial(argv[0], argv[1]);
    int d;
    if (strcmp(mode, "dup") == 0)
        d = dup(fd);
    else if (strcmp(mode, "dup2") == 0)
        d = dup2(fd, 100);
    else if (strcmp(mode, "dup3") == 0)
        d = dup3(fd, 101, O_CLOEXEC);
    else if (strcmp(mode, "dupfd") == 0)
        d = fcntl(fd, F_DUPFD_CLOEXEC, 200);
    else
        usage();
    if (d < 0)
        die("dup");
    close(fd);
    waiting("recv");
    double t0 = now_ms();
    ssize_t r = recv(d, opaque(chkbuf), BUFSZ, 0);
    int e = errno;
    report("recv", (long)r, r < 0 ? e : 0, now_ms() - t0, "fd=%d", d);
    return r >= 0 ? 0 : 1;
}

static int cmd_reuse(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *mode = argv[2];
    int p[2];
    if (strcmp(mode, "sock2pipe") == 0 || strcmp(mode, "sock2pipe_fclose") == 0) {
        int s = dial(argv[0], argv[1]);
        if (strcmp(mode, "sock2pipe") == 0) {
            close(s);
        } else {
            /* fclose() closes the descriptor inside glibc: no close() hook */
            FILE *f = fdopen(s, "r+");
            if (!f)
                die("fdopen");
            fclose(f);
        }
        if (pipe(p) != 0)
            die("pipe");
        printf("reused=%d\n", p[0] == s);
        waiting("read");
        double t0 = now_ms();
        ssize_t r = read(p[0], opaque(chkbuf), 100);
        int e = errno;
        report("read", (long)r, r < 0 ? e : 0, now_ms() - t0, "fd=%d", p[0]);
        return r >= 0 ? 0 : 1;
    }
    if (strcmp(mode, "pipe2sock") == 0) {
        if (pipe(p) != 0)
            die("pipe");
        /* make the pipe's read end known as "not a socket" first */
        char c;
        ssize_t nb = recv(p[0], &c, 1, MSG_DONTWAIT);
        (void)nb;
        int old = p[0];
        close(p[0]);
        int s = dial(argv[0], argv[1]);
        printf("reused=%d\n", s == old);
        waiting("read");
        double t0 = now_ms();
        ssize_t r = read(s, opaque(chkbuf), 100);
        int e = errno;
        report("read", (long)r, r < 0 ? e : 0, now_ms() - t0, "fd=%d", s);
        return r >= 0 ? 0 : 1;
    }
    usage();
    return 2;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2)
        usage();
    const char *cmd = argv[1];
    argc -= 2;
    argv += 2;
    if (strcmp(cmd, "echo") == 0)
        return cmd_echo(argc, argv);
    if (strcmp(cmd, "connect") == 0)
        return cmd_connect(argc, argv);
    if (strcmp(cmd, "read") == 0)
        return cmd_read(argc, argv);
    if (strcmp(cmd, "write") == 0)
        return cmd_write(argc, argv);
    if (strcmp(cmd, "accept") == 0)
        return cmd_accept(argc, argv);
    if (strcmp(cmd, "nonblock") == 0)
        return cmd_nonblock(argc, argv);
    if (strcmp(cmd, "sigalrm") == 0)
        return cmd_sigalrm(argc, argv);
    if (strcmp(cmd, "rcvtimeo") == 0)
        return cmd_rcvtimeo(argc, argv);
    if (strcmp(cmd, "errno") == 0)
        return cmd_errno(argc, argv);
    if (strcmp(cmd, "hang") == 0)
        return cmd_hang(argc, argv);
    if (strcmp(cmd, "dup") == 0)
        return cmd_dup(argc, argv);
    if (strcmp(cmd, "reuse") == 0)
        return cmd_reuse(argc, argv);
    usage();
    return 2;
}

/*
 * waitclient: the test client for the waiting calls (poll, ppoll, select,
 * pselect, epoll_wait, epoll_pwait, epoll_pwait2, __poll_chk, __ppoll_chk)
 * and for stdio streams on sockets.
 *
 * Built by the test harness (tests/common/mod.rs) with
 *     gcc -O2 -D_FORTIFY_SOURCE=2 -Wall -o waitclient waitclient.c
 * The "poll_chk"/"ppoll_chk" kinds pass a global array of known size with a
 * count that is not a compile-time constant, so the fortified headers turn
 * them into __poll_chk/__ppoll_chk; the plain kinds hide the array's origin
 * and call poll/ppoll.
 *
 * Every subcommand prints machine-readable lines of space-separated
 * key=value pairs, for example
 *     op=poll ret=1 errno=0 elapsed_ms=1003 revents=0x19 rnames=IN|ERR|HUP
 * and, before each call that may block, "waiting op=NAME", so that the
 * harness can tell a hang in that call from a hang anywhere else.
 * revents is in poll(2) bits for every kind of wait: select reports IN/OUT
 * for the read/write set, epoll's EPOLLIN/OUT/ERR/HUP/RDHUP have the same
 * values as POLLIN/OUT/ERR/HUP/RDHUP.
 *
 * SIGPIPE keeps its default action: a write that raised it kills the
 * program, which the harness sees as death by signal.
 *
 * Exit codes: 0 the operation under test succeeded, 1 it failed (its result
 * line says how), 2 usage or setup error. All traffic goes to the loopback
 * address given on the command line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ 65536
#define REQUEST "GET / HTTP/1.0\r\nHost: test\r\n\r\n"

/* A global array whose size the compiler knows: poll/ppoll on it with a
 * non-constant count become __poll_chk/__ppoll_chk. */
#include "client.h"

static struct pollfd gpfds[8];
static char buf[BUFSZ];

/* A count the compiler cannot see through. */
static nfds_t count(int n)
{
    volatile int v = n;
    return (nfds_t)v;
}

static const char *rnames(int rev)
{
    static char s[96];
    static const struct {
        int bit;
        const char *name;
    } names[] = {{POLLIN, "IN"},   {POLLPRI, "PRI"}, {POLLOUT, "OUT"},    {POLLERR, "ERR"},
                 {POLLHUP, "HUP"}, {POLLNVAL, "NVAL"}, {POLLRDHUP, "RDHUP"}};
    s[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (rev & names[i].bit) {
            if (s[0])
                strcat(s, "|");
            strcat(s, names[i].name);
        }
    }
    if (!s[0])
        strcpy(s, "-");
    return s;
}

static void usage(void)
{
    fputs("usage: waitclient MODE ...\n"
          "  KIND HOST PORT                  non-blocking connect, send a request, wait for\n"
          "                                  input without a timeout, then recv and write\n"
          "      KIND: poll poll_chk ppoll ppoll_chk select pselect\n"
          "            epoll_lt epoll_et epoll_pwait epoll_pwait2\n"
          "  (below, [KIND] defaults to poll)\n"
          "  poll_loop [KIND] HOST PORT MS N   the same, waiting with own timeout MS, N times\n"
          "  ppoll_sigmask [KIND] HOST PORT MS KIND: ppoll ppoll_chk pselect epoll_pwait\n"
          "                                  epoll_pwait2; SIGUSR1 blocked but unblocked in\n"
          "                                  the wait's mask, sent by a thread after MS\n"
          "  nbconnect_soerror [KIND] HOST PORT  wait for a connect, then SO_ERROR\n"
          "  nbconnect_again [KIND] HOST PORT    wait for a connect, then connect again\n"
          "  write_stall [KIND] HOST PORT    fill the send buffer, wait for output, write\n"
          "  pool_probe [KIND] HOST PORT MS GAP  zero-timeout probes for MS, one wait of\n"
          "                                  300 ms, then an echo\n"
          "  upload [KIND] HOST PORT NBYTES single|split  upload to a slow reader,\n"
          "                                  waiting for input and output at once\n"
          "  listen_poll HOST MS N [exec]    wait on a listening socket, N times (exec:\n"
          "                                  on one inherited across an exec)\n"
          "  pipe_poll pipe|unixpair|udp     wait for input that never comes\n"
          "  mixed_poll HOST PORT            a pipe and a silent socket in one poll set\n"
          "  bystander HOST SILENT_PORT ECHO_PORT  wait on one socket, then use another\n"
          "  drain [KIND] HOST PORT          wait and read until EOF\n"
          "  fdopen_fgets HOST PORT [OWN_MS] fgets until NULL\n"
          "  fclose_reuse HOST PORT poll|read|timedout  fclose a waited-on (or timed\n"
          "                                  out) socket, reuse the fd for a pipe, use it\n",
          stderr);
    exit(2);
}

/* ---- addresses and connections --------------------------------------------- */

static struct sockaddr_storage peer_ss;
static socklen_t peer_len;

/* socket(SOCK_NONBLOCK) + connect: returns the fd, connecting or connected. */
static int nb_connect(const char *host, const char *port)
{
    peer_len = make_addr(host, atoi(port), &peer_ss);
    int fd = socket(peer_ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        die("socket");
    int r = connect(fd, (struct sockaddr *)&peer_ss, peer_len);
    if (r != 0 && errno != EINPROGRESS)
        die("connect");
    return fd;
}

/* A connected blocking TCP socket. */
static int dial(const char *host, const char *port)
{
    peer_len = make_addr(host, atoi(port), &peer_ss);
    int fd = socket(peer_ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, (struct sockaddr *)&peer_ss, peer_len) != 0)
        die("connect");
    return fd;
}

/* ---- one wait, of any kind --------------------------------------------------- */

static int epfd = -1;
static int ep_registered = -1; /* the fd registered in epfd, -1: none */

static int is_kind(const char *k)
{
    static const char *kinds[] = {"poll",    "poll_chk", "ppoll",       "ppoll_chk",
                                  "select",  "pselect",  "epoll_lt",    "epoll_et",
                                  "epoll_pwait", "epoll_pwait2", NULL};
    for (int i = 0; kinds[i]; i++)
        if (strcmp(k, kinds[i]) == 0)
            return 1;
    return 0;
}

static void ms_to_ts(int ms, struct timespec *ts)
{
    ts->tv_sec = ms / 1000;
    ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

/*
 * Waits on fd for `events` (POLLIN and/or POLLOUT) with the program's own
 * timeout `ms` (-1: none) using the wait call `kind`; `sigmask`, if not NULL,
 * is passed to the kinds that take one. Returns the call's result; *rev gets
 * what was reported for fd in poll(2) bits.
 */
static int wait_fd(const char *kind, int fd, int events, int ms, const sigset_t *sigmask, int *rev)
{
    *rev = 0;
    if (strcmp(kind, "poll") == 0 || strcmp(kind, "ppoll") == 0) {
        struct pollfd *p = opaque(gpfds);
        p[0].fd = fd;
        p[0].events = events;
        p[0].revents = 0;
        int r;
        if (kind[0] == 'p' && kind[1] == 'p') {
            struct timespec ts;
            ms_to_ts(ms, &ts);
            r = ppoll(p, 1, ms < 0 ? NULL : &ts, sigmask);
        } else {
            r = poll(p, 1, ms);
        }
        *rev = p[0].revents;
        return r;
    }
    if (strcmp(kind, "poll_chk") == 0 || strcmp(kind, "ppoll_chk") == 0) {
        gpfds[0].fd = fd;
        gpfds[0].events = events;
        gpfds[0].revents = 0;
        int r;
        if (kind[1] == 'p') {
            struct timespec ts;
            ms_to_ts(ms, &ts);
            r = ppoll(gpfds, count(1), ms < 0 ? NULL : &ts, sigmask);
        } else {
            r = poll(gpfds, count(1), ms);
        }
        *rev = gpfds[0].revents;
        return r;
    }
    if (strcmp(kind, "select") == 0 || strcmp(kind, "pselect") == 0) {
        fd_set rs, ws;
        FD_ZERO(&rs);
        FD_ZERO(&ws);
        if (events & POLLIN)
            FD_SET(fd, &rs);
        if (events & POLLOUT)
            FD_SET(fd, &ws);
        int r;
        if (kind[0] == 'p') {
            struct timespec ts;
            ms_to_ts(ms, &ts);
            r = pselect(fd + 1, &rs, &ws, NULL, ms < 0 ? NULL : &ts, sigmask);
        } else {
            struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
            r = select(fd + 1, &rs, &ws, NULL, ms < 0 ? NULL : &tv);
        }
        if (r > 0) {
            if (FD_ISSET(fd, &rs))
                *rev |= POLLIN;
            if (FD_ISSET(fd, &ws))
                *rev |= POLLOUT;
        }
        return r;
    }
    if (strncmp(kind, "epoll_", 6) == 0) {
        if (epfd < 0) {
            epfd = epoll_create1(EPOLL_CLOEXEC);
            if (epfd < 0)
                die("epoll_create1");
        }
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.events = (uint32_t)events;
        if (strcmp(kind, "epoll_et") == 0)
            ev.events |= EPOLLET;
        ev.data.fd = fd;
        if (ep_registered != fd) {
            if (ep_registered >= 0)
                epoll_ctl(epfd, EPOLL_CTL_DEL, ep_registered, NULL);
            if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
                die("epoll_ctl_add");
            ep_registered = fd;
        } else if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) != 0) {
            die("epoll_ctl_mod");
        }
        struct epoll_event out[4];
        int r;
        if (strcmp(kind, "epoll_pwait") == 0) {
            r = epoll_pwait(epfd, out, 4, ms, sigmask);
        } else if (strcmp(kind, "epoll_pwait2") == 0) {
            struct timespec ts;
            ms_to_ts(ms, &ts);
            r = epoll_pwait2(epfd, out, 4, ms < 0 ? NULL : &ts, sigmask);
        } else {
            r = epoll_wait(epfd, out, 4, ms);
        }
        for (int i = 0; i < r; i++)
            if (out[i].data.fd == fd)
                *rev |= (int)out[i].events;
        return r;
    }
    usage();
    return -1;
}

/* Waits (with the same kind) until a non-blocking connect to a live server
 * has completed; a failure is a setup error. */
static void wait_connected(const char *kind, int fd)
{
    int rev;
    int r = wait_fd(kind, fd, POLLOUT, 3000, NULL, &rev);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (r != 1 || !(rev & POLLOUT) || soerr != 0) {
        errno = soerr;
        die("connect_wait");
    }
}

static void send_request(int fd)
{
    if (send(fd, REQUEST, strlen(REQUEST), MSG_NOSIGNAL) != (ssize_t)strlen(REQUEST))
        die("send_request");
}

/* recv then write on a socket whose wait reported an event: both must fail
 * with ETIMEDOUT after a timeout (write without MSG_NOSIGNAL: no SIGPIPE).
 * Returns the recv result. */
static long recv_then_write(int fd)
{
    double t0 = now_ms();
    ssize_t r = recv(fd, opaque(buf), BUFSZ, 0);
    int e = errno;
    report("recv", (long)r, r < 0 ? e : 0, now_ms() - t0, "");
    t0 = now_ms();
    ssize_t w = write(fd, "x", 1);
    e = errno;
    report("write", (long)w, w < 0 ? e : 0, now_ms() - t0, "");
    t0 = now_ms();
    w = send(fd, "x", 1, 0);
    e = errno;
    report("send", (long)w, w < 0 ? e : 0, now_ms() - t0, "");
    return (long)r;
}

/* ---- KIND HOST PORT: wait for input without a timeout ------------------------ */

static int cmd_wait(const char *kind, int argc, char **argv)
{
    if (argc < 2)
        usage();
    int fd = nb_connect(argv[0], argv[1]);
    wait_connected(kind, fd);
    send_request(fd);
    waiting(kind);
    double t0 = now_ms();
    int rev;
    int r = wait_fd(kind, fd, POLLIN, -1, NULL, &rev);
    int e = errno;
    report(kind, r, r < 0 ? e : 0, now_ms() - t0, "revents=0x%x rnames=%s", rev, rnames(rev));
    long rr = recv_then_write(fd);
    return rr > 0 ? 0 : 1;
}

/* ---- wait_loop: own timeout MS, N times --------------------------------------- */

static int cmd_wait_loop(const char *kind, int argc, char **argv)
{
    if (argc < 4)
        usage();
    int ms = atoi(argv[2]);
    int n = atoi(argv[3]);
    int fd = nb_connect(argv[0], argv[1]);
    wait_connected(kind, fd);
    send_request(fd);
    waiting(kind);
    double first = now_ms();
    int r = 0, rev = 0, e = 0, zeros = 0;
    for (int i = 1; i <= n; i++) {
        double t0 = now_ms();
        r = wait_fd(kind, fd, POLLIN, ms, NULL, &rev);
        e = errno;
        double t1 = now_ms();
        printf("op=iter n=%d ret=%d errno=%s elapsed_ms=%.0f since_ms=%.0f revents=0x%x "
               "rnames=%s\n",
               i, r, ename(r < 0 ? e : 0), t1 - t0, t1 - first, rev, rnames(rev));
        if (r != 0)
            break;
        zeros++;
    }
    report("wait_loop", r, r < 0 ? e : 0, now_ms() - first, "zeros=%d revents=0x%x rnames=%s",
           zeros, rev, rnames(rev));
    if (r <= 0)
        return 1;
    long rr = recv_then_write(fd);
    return rr > 0 ? 0 : 1;
}

/* ---- sigmask: the wait's own signal mask and EINTR ---------------------------- */

static volatile sig_atomic_t usr1_count;

static void on_usr1(int sig)
{
    (void)sig;
    usr1_count++;
}

static long signal_after_ms;

static void *signaller(void *arg)
{
    (void)arg;
    struct timespec ts;
    ms_to_ts((int)signal_after_ms, &ts);
    nanosleep(&ts, NULL);
    /* SIGUSR1 is blocked in this thread and in main, except inside main's
     * wait call: it can only be delivered there. */
    kill(getpid(), SIGUSR1);
    return NULL;
}

static int cmd_sigmask(const char *kind, int argc, char **argv)
{
    if (argc < 3)
        usage();
    signal_after_ms = atol(argv[2]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART, and a wait with a mask never restarts */
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        die("sigaction");
    sigset_t block, during;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &block, NULL) != 0)
        die("sigprocmask");
    if (sigprocmask(SIG_BLOCK, NULL, &during) != 0)
        die("sigprocmask");
    sigdelset(&during, SIGUSR1);

    int fd = nb_connect(argv[0], argv[1]);
    wait_connected(kind, fd);
    send_request(fd);

    pthread_t th;
    if (pthread_create(&th, NULL, signaller, NULL) != 0)
        die("pthread_create");
    waiting(kind);
    double first = now_ms();
    int rev;
    int r = wait_fd(kind, fd, POLLIN, -1, &during, &rev);
    int e = errno;
    double t1 = now_ms();
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    report(kind, r, r < 0 ? e : 0, t1 - first, "revents=0x%x rnames=%s handled=%d blocked_after=%d",
           rev, rnames(rev), (int)usr1_count, sigismember(&now, SIGUSR1));
    pthread_join(th, NULL);

    /* the program waits again: the socket's idle time goes on counting */
    char op2[64];
    snprintf(op2, sizeof op2, "%s_again", kind);
    waiting(op2);
    double t2 = now_ms();
    r = wait_fd(kind, fd, POLLIN, -1, &during, &rev);
    e = errno;
    double t3 = now_ms();
    report(op2, r, r < 0 ? e : 0, t3 - t2, "since_ms=%.0f revents=0x%x rnames=%s handled=%d", t3 - first,
           rev, rnames(rev), (int)usr1_count);
    long rr = recv_then_write(fd);
    return rr > 0 ? 0 : 1;
}

/* ---- non-blocking connect: SO_ERROR, or connect again ------------------------- */

static int cmd_nbconnect(const char *what, const char *kind, int argc, char **argv)
{
    if (argc < 2)
        usage();
    int fd = nb_connect(argv[0], argv[1]);
    waiting(kind);
    double t0 = now_ms();
    int rev;
    int r = wait_fd(kind, fd, POLLOUT, -1, NULL, &rev);
    int e = errno;
    report(kind, r, r < 0 ? e : 0, now_ms() - t0, "revents=0x%x rnames=%s", rev, rnames(rev));
    if (strcmp(what, "soerror") == 0) {
        int soerr = -1;
        socklen_t sl = sizeof soerr;
        double t1 = now_ms();
        int g = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        e = errno;
        report("so_error", g, g < 0 ? e : 0, now_ms() - t1, "so_error=%s", ename(soerr));
        return g == 0 && soerr == 0 ? 0 : 1;
    }
    double t1 = now_ms();
    int c = connect(fd, (struct sockaddr *)&peer_ss, peer_len);
    e = errno;
    report("connect_again", c, c < 0 ? e : 0, now_ms() - t1, "");
    return c == 0 || (c < 0 && e == EISCONN) ? 0 : 1;
}

/* ---- write_stall: a peer that never reads ------------------------------------- */

static int cmd_write_stall(const char *kind, int argc, char **argv)
{
    if (argc < 2)
        usage();
    int fd = nb_connect(argv[0], argv[1]);
    wait_connected(kind, fd);
    static char chunk[16384];
    memset(chunk, 'w', sizeof chunk);
    long total = 0;
    ssize_t s = 0;
    double t0 = now_ms();
    /* bounded: at most 64 MiB */
    while (total < (64L << 20)) {
        s = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (s < 0)
            break;
        total += s;
    }
    int e = errno;
    report("fill", (long)s, s < 0 ? e : 0, now_ms() - t0, "total=%ld", total);
    if (s >= 0 || (e != EAGAIN && e != EWOULDBLOCK))
        die("fill");
    waiting(kind);
    t0 = now_ms();
    int rev;
    int r = wait_fd(kind, fd, POLLOUT, -1, NULL, &rev);
    e = errno;
    report(kind, r, r < 0 ? e : 0, now_ms() - t0, "revents=0x%x rnames=%s", rev, rnames(rev));
    /* write and send without MSG_NOSIGNAL: a SIGPIPE would kill us */
    t0 = now_ms();
    ssize_t w = write(fd, chunk, sizeof chunk);
    e = errno;
    report("write", (long)w, w < 0 ? e : 0, now_ms() - t0, "");
    t0 = now_ms();
    ssize_t w2 = send(fd, chunk, sizeof chunk, 0);
    e = errno;
    report("send", (long)w2, w2 < 0 ? e : 0, now_ms() - t0, "");
    return w > 0 ? 0 : 1;
}

/* ---- pool_probe: zero-timeout probes keep an idle connection ------------------ */

static int cmd_pool_probe(const char *kind, int argc, char **argv)
{
    if (argc < 4)
        usage();
    long total_ms = atol(argv[2]);
    long gap_ms = atol(argv[3]);
    int fd = dial(argv[0], argv[1]);
    double t0 = now_ms();
    int probes = 0, nonzero = 0, last = 0, lastrev = 0;
    /* bounded: by time, and at most 100000 probes */
    while (now_ms() - t0 < total_ms && probes < 100000) {
        int rev;
        int r = wait_fd(kind, fd, POLLIN, 0, NULL, &rev);
        probes++;
        if (r != 0) {
            nonzero++;
            last = r;
            lastrev = rev;
        }
        struct timespec ts;
        ms_to_ts((int)gap_ms, &ts);
        nanosleep(&ts, NULL);
    }
    report("probe", nonzero ? last : 0, 0, now_ms() - t0, "probes=%d nonzero=%d revents=0x%x rnames=%s",
           probes, nonzero, lastrev, rnames(lastrev));
    /* then a real wait (own timeout 300 ms < T): the probes were no waits,
     * so the socket's idle time starts only now and the wait returns 0 at
     * its own time */
    waiting("after_probe");
    double ta = now_ms();
    int arev;
    int ar = wait_fd(kind, fd, POLLIN, 300, NULL, &arev);
    int ae = errno;
    report("after_probe", ar, ar < 0 ? ae : 0, now_ms() - ta, "revents=0x%x rnames=%s", arev,
           rnames(arev));
    /* the connection must still work: one echo round trip */
    const char *msg = "ping-from-pool\n";
    size_t n = strlen(msg);
    double t1 = now_ms();
    ssize_t s = send(fd, msg, n, 0);
    int e = errno;
    report("echo_send", (long)s, s < 0 ? e : 0, now_ms() - t1, "");
    if (s != (ssize_t)n)
        return 1;
    size_t got = 0;
    ssize_t r = 0;
    waiting("echo_recv");
    t1 = now_ms();
    /* bounded: at most n reads of at least one byte */
    for (size_t i = 0; i < n && got < n; i++) {
        r = recv(fd, buf + got, n - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    e = errno;
    int match = got == n && memcmp(buf, msg, n) == 0;
    report("echo_recv", r < 0 ? -1 : (long)got, r < 0 ? e : 0, now_ms() - t1, "match=%d", match);
    return match && nonzero == 0 && ar == 0 ? 0 : 1;
}

/* ---- listen_poll: a listening socket is never timed out ----------------------- */

static int listen_poll_fd(int lfd, int ms, int n)
{
    waiting("poll");
    double first = now_ms();
    int r = 0, e = 0, rev = 0, zeros = 0;
    for (int i = 1; i <= n; i++) {
        double t0 = now_ms();
        r = wait_fd("poll", lfd, POLLIN, ms, NULL, &rev);
        e = errno;
        double t1 = now_ms();
        printf("op=iter n=%d ret=%d errno=%s elapsed_ms=%.0f since_ms=%.0f revents=0x%x "
               "rnames=%s\n",
               i, r, ename(r < 0 ? e : 0), t1 - t0, t1 - first, rev, rnames(rev));
        if (r != 0)
            break;
        zeros++;
    }
    report("listen_poll", r, r < 0 ? e : 0, now_ms() - first, "zeros=%d", zeros);
    return r == 0 ? 0 : 1;
}

/* listen_poll HOST MS N [exec]: with "exec", the listening socket is
 * inherited across an exec of this program (as with systemd socket
 * activation): the new image's library never saw its listen(). */
static int cmd_listen_poll(int argc, char **argv)
{
    if (argc < 3)
        usage();
    int ms = atoi(argv[1]);
    int n = atoi(argv[2]);
    struct sockaddr_storage ss;
    socklen_t len = make_addr(argv[0], 0, &ss);
    int lfd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&ss, len) != 0 || listen(lfd, 16) != 0)
        die("listen");
    if (argc > 3 && strcmp(argv[3], "exec") == 0) {
        char fdarg[16];
        snprintf(fdarg, sizeof fdarg, "%d", lfd);
        char *args[] = {"waitclient", "listen_poll_fd", fdarg, argv[1], argv[2], NULL};
        execv("/proc/self/exe", args);
        die("execv");
    }
    return listen_poll_fd(lfd, ms, n);
}

/* ---- pipe_poll: non-TCP descriptors wait as before ----------------------------- */

static int cmd_pipe_poll(int argc, char **argv)
{
    const char *kind = argc > 0 ? argv[0] : "pipe";
    int fds[2];
    int fd;
    if (strcmp(kind, "pipe") == 0) {
        if (pipe(fds) != 0)
            die("pipe");
        fd = fds[0];
    } else if (strcmp(kind, "unixpair") == 0) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
            die("socketpair");
        fd = fds[0];
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
    waiting("poll");
    double t0 = now_ms();
    int rev;
    int r = wait_fd("poll", fd, POLLIN, -1, NULL, &rev);
    int e = errno;
    report("poll", r, r < 0 ? e : 0, now_ms() - t0, "kind=%s revents=0x%x rnames=%s", kind, rev,
           rnames(rev));
    return 1;
}

/* ---- mixed_poll: a pipe and a silent socket in one set ------------------------- */

static int cmd_mixed_poll(int argc, char **argv)
{
    if (argc < 2)
        usage();
    int p[2];
    if (pipe(p) != 0)
        die("pipe");
    int fd = nb_connect(argv[0], argv[1]);
    wait_connected("poll", fd);
    send_request(fd);
    struct pollfd *pf = opaque(gpfds);
    pf[0].fd = p[0];
    pf[0].events = POLLIN;
    pf[0].revents = 0;
    pf[1].fd = fd;
    pf[1].events = POLLIN;
    pf[1].revents = 0;
    waiting("poll");
    double t0 = now_ms();
    int r = poll(pf, 2, -1);
    int e = errno;
    report("poll", r, r < 0 ? e : 0, now_ms() - t0,
           "pipe_revents=0x%x revents=0x%x rnames=%s", pf[0].revents, pf[1].revents,
           rnames(pf[1].revents));
    long rr = recv_then_write(fd);
    return rr > 0 ? 0 : 1;
}

/* ---- bystander: a socket nobody waits on is left alone ------------------------ */

static int cmd_bystander(int argc, char **argv)
{
    if (argc < 3)
        usage();
    int b = dial(argv[0], argv[2]); /* the echo server: idle, never waited on */
    int fd = nb_connect(argv[0], argv[1]);
    wait_connected("poll", fd);
    send_request(fd);
    waiting("poll");
    double t0 = now_ms();
    int rev;
    int r = wait_fd("poll", fd, POLLIN, -1, NULL, &rev);
    int e = errno;
    report("poll", r, r < 0 ? e : 0, now_ms() - t0, "revents=0x%x rnames=%s", rev, rnames(rev));
    recv_then_write(fd);
    /* now the bystander: an echo round trip must work */
    const char *msg = "still-here\n";
    size_t n = strlen(msg);
    double t1 = now_ms();
    ssize_t s = send(b, msg, n, 0);
    e = errno;
    report("echo_send", (long)s, s < 0 ? e : 0, now_ms() - t1, "");
    if (s != (ssize_t)n)
        return 1;
    size_t got = 0;
    ssize_t rr = 0;
    waiting("echo_recv");
    t1 = now_ms();
    for (size_t i = 0; i < n && got < n; i++) {
        rr = recv(b, buf + got, n - got, 0);
        if (rr <= 0)
            break;
        got += (size_t)rr;
    }
    e = errno;
    int match = got == n && memcmp(buf, msg, n) == 0;
    report("echo_recv", rr < 0 ? -1 : (long)got, rr < 0 ? e : 0, now_ms() - t1, "match=%d", match);
    return match ? 0 : 1;
}

/* ---- drain: wait and read until EOF -------------------------------------------- */

/* FNV-1a 64, the same as tests/common/mod.rs */
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int cmd_drain(const char *kind, int argc, char **argv)
{
    if (argc < 2)
        usage();
    int fd = nb_connect(argv[0], argv[1]);
    wait_connected(kind, fd);
    long total = 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    ssize_t r = 0;
    int e = 0, waits = 0;
    waiting(kind);
    double t0 = now_ms();
    /* bounded: at most 1000000 waits */
    while (waits < 1000000) {
        int rev;
        int w = wait_fd(kind, fd, POLLIN, -1, NULL, &rev);
        waits++;
        if (w < 0) {
            r = -1;
            e = errno;
            break;
        }
        r = recv(fd, buf, BUFSZ, 0);
        e = errno;
        if (r < 0 && (e == EAGAIN || e == EWOULDBLOCK))
            continue;
        if (r <= 0)
            break;
        h = fnv(h, (unsigned char *)buf, (size_t)r);
        total += r;
    }
    report("drain", (long)r, r < 0 ? e : 0, now_ms() - t0, "total=%ld waits=%d cksum=%016llx",
           total, waits, (unsigned long long)h);
    return r == 0 ? 0 : 1;
}

/* ---- upload: send a body while waiting for input and output ------------------ */

/*
 * An HTTP-style upload of NBYTES to a server that reads slowly, the way
 * curl does it: each wait asks for input and output on the socket at once
 * (LAYOUT "single": one entry with POLLIN|POLLOUT, or the fd in both select
 * sets, or EPOLLIN|EPOLLOUT; "split": poll with two entries for the same fd,
 * one POLLIN, one POLLOUT, as curl 7.88 does), with an own timeout of
 * 1000 ms; then waits for the response and reads it to EOF.
 */
static int cmd_upload(const char *kind, int argc, char **argv)
{
    if (argc < 4)
        usage();
    long n = atol(argv[2]);
    int split = strcmp(argv[3], "split") == 0;
    if (!split && strcmp(argv[3], "single") != 0)
        usage();
    if (split && strcmp(kind, "poll") != 0)
        usage();
    int fd = nb_connect(argv[0], argv[1]);
    wait_connected(kind, fd);
    char head[128];
    int hl = snprintf(head, sizeof head, "PUT / HTTP/1.1\r\nHost: test\r\nContent-Length: %ld\r\n\r\n", n);
    if (send(fd, head, (size_t)hl, MSG_NOSIGNAL) != hl)
        die("send_head");
    static char chunk[65536];
    memset(chunk, 'u', sizeof chunk);
    long sent = 0;
    int e = 0, waits = 0, r = 0;
    waiting("upload");
    double t0 = now_ms();
    /* bounded: at most 100000 waits */
    while (sent < n && waits < 100000) {
        int rev = 0;
        if (split) {
            struct pollfd *p = opaque(gpfds);
            p[0].fd = fd;
            p[0].events = POLLIN;
            p[0].revents = 0;
            p[1].fd = fd;
            p[1].events = POLLOUT;
            p[1].revents = 0;
            r = poll(p, 2, 1000);
            rev = p[0].revents | p[1].revents;
        } else {
            r = wait_fd(kind, fd, POLLIN | POLLOUT, 1000, NULL, &rev);
        }
        e = errno;
        waits++;
        if (r < 0)
            break;
        if (rev & (POLLERR | POLLHUP | POLLIN)) {
            /* an early answer or an error: stop sending */
            r = -1;
            e = 0;
            break;
        }
        if (!(rev & POLLOUT))
            continue;
        size_t k = sizeof chunk;
        if ((long)k > n - sent)
            k = (size_t)(n - sent);
        ssize_t s = send(fd, chunk, k, MSG_NOSIGNAL);
        if (s < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            r = -1;
            e = errno;
            break;
        }
        if (s > 0)
            sent += s;
    }
    report("upload", sent == n ? 0 : -1, sent == n ? 0 : e, now_ms() - t0,
           "sent=%ld waits=%d revents_stop=%s", sent, waits, r < 0 ? "yes" : "no");
    if (sent != n) {
        recv_then_write(fd);
        return 1;
    }
    /* the response: wait for input and read to EOF */
    char resp[4096];
    size_t got = 0;
    ssize_t rr = 0;
    waiting("response");
    double t1 = now_ms();
    /* bounded: at most 10000 waits */
    for (int i = 0; i < 10000 && got < sizeof resp - 1; i++) {
        int rev;
        int w = wait_fd(kind, fd, POLLIN, -1, NULL, &rev);
        if (w < 0) {
            rr = -1;
            e = errno;
            break;
        }
        rr = recv(fd, resp + got, sizeof resp - 1 - got, 0);
        e = errno;
        if (rr < 0 && (e == EAGAIN || e == EWOULDBLOCK))
            continue;
        if (rr <= 0)
            break;
        got += (size_t)rr;
    }
    resp[got] = 0;
    const char *body = strstr(resp, "\r\n\r\n");
    char bodyline[128] = "-";
    if (body) {
        snprintf(bodyline, sizeof bodyline, "%s", body + 4);
        bodyline[strcspn(bodyline, "\r\n")] = 0;
        /* one key=value token: spaces become commas */
        for (char *c = bodyline; *c; c++)
            if (*c == ' ')
                *c = ',';
    }
    report("response", (long)rr, rr < 0 ? e : 0, now_ms() - t1, "bytes=%zu body=%s", got,
           bodyline);
    return rr == 0 && body ? 0 : 1;
}

/* ---- stdio on a socket ---------------------------------------------------------- */

static int cmd_fdopen_fgets(int argc, char **argv)
{
    if (argc < 2)
        usage();
    int fd = dial(argv[0], argv[1]);
    if (argc > 2) {
        long ms = atol(argv[2]);
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
            die("setsockopt");
    }
    FILE *fp = fdopen(fd, "r");
    if (!fp)
        die("fdopen");
    char line[256];
    char *got = NULL;
    int e = 0;
    waiting("fgets");
    double first = now_ms();
    /* bounded: at most 10 lines */
    for (int i = 1; i <= 10; i++) {
        double t0 = now_ms();
        errno = 0;
        got = fgets(line, sizeof line, fp);
        e = errno;
        double t1 = now_ms();
        report("fgets", got ? (long)strlen(line) : -1, got ? 0 : e, t1 - t0,
               "n=%d since_ms=%.0f ferror=%d feof=%d", i, t1 - first, ferror(fp), feof(fp));
        if (!got)
            break;
    }
    double t2 = now_ms();
    int c = fclose(fp);
    e = errno;
    report("fclose", c, c ? e : 0, now_ms() - t2, "");
    return got ? 0 : 1;
}

/*
 * fclose_reuse HOST PORT poll|read|timedout
 * poll, read: the program waits on the socket (own timeout 300 ms < T),
 * fdopen()s and fclose()s it (the descriptor is closed inside glibc, no
 * close() hook runs), and a pipe gets the same number: a wait and a read on
 * the empty pipe must block as without the library.
 * timedout: the socket is timed out in a wait first, then fclose()d; the
 * pipe that gets its number has data: poll reports it, read returns it.
 */
static int cmd_fclose_reuse(int argc, char **argv)
{
    if (argc < 3)
        usage();
    const char *how = argv[2];
    int timedout = strcmp(how, "timedout") == 0;
    if (!timedout && strcmp(how, "poll") != 0 && strcmp(how, "read") != 0)
        usage();
    int s = dial(argv[0], argv[1]);
    FILE *fp = fdopen(s, "r+");
    if (!fp)
        die("fdopen");
    int rev;
    waiting("poll_sock");
    double t0 = now_ms();
    int r = wait_fd("poll", fileno(fp), POLLIN, timedout ? -1 : 300, NULL, &rev);
    report("poll_sock", r, r < 0 ? errno : 0, now_ms() - t0, "revents=0x%x rnames=%s", rev,
           rnames(rev));
    fclose(fp);
    int p[2];
    if (pipe(p) != 0)
        die("pipe");
    printf("reused=%d\n", p[0] == s);
    if (timedout) {
        if (write(p[1], "hello", 5) != 5)
            die("write_pipe");
        waiting("poll");
        t0 = now_ms();
        r = wait_fd("poll", p[0], POLLIN, -1, NULL, &rev);
        int e = errno;
        report("poll", r, r < 0 ? e : 0, now_ms() - t0, "revents=0x%x rnames=%s", rev, rnames(rev));
        waiting("read");
        t0 = now_ms();
        ssize_t n = read(p[0], opaque(buf), 100);
        e = errno;
        report("read", (long)n, n < 0 ? e : 0, now_ms() - t0, "fd=%d", p[0]);
        return r == 1 && n == 5 ? 0 : 1;
    }
    waiting(how);
    t0 = now_ms();
    long ret;
    int e;
    if (strcmp(how, "poll") == 0) {
        r = wait_fd("poll", p[0], POLLIN, -1, NULL, &rev);
        e = errno;
        ret = r;
    } else {
        ssize_t n = read(p[0], opaque(buf), 100);
        e = errno;
        ret = (long)n;
    }
    report(how, ret, ret < 0 ? e : 0, now_ms() - t0, "fd=%d", p[0]);
    return 1;
}

/* The optional KIND argument of a mode: taken if it names a kind, else poll. */
static const char *kind_arg(int *argc, char ***argv)
{
    if (*argc > 0 && is_kind((*argv)[0])) {
        const char *k = (*argv)[0];
        (*argc)--;
        (*argv)++;
        return k;
    }
    return "poll";
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        usage();
    const char *cmd = argv[1];
    argc -= 2;
    argv += 2;
    if (is_kind(cmd))
        return cmd_wait(cmd, argc, argv);
    if (strcmp(cmd, "wait_loop") == 0 || strcmp(cmd, "poll_loop") == 0) {
        const char *k = kind_arg(&argc, &argv);
        return cmd_wait_loop(k, argc, argv);
    }
    if (strcmp(cmd, "sigmask") == 0 || strcmp(cmd, "ppoll_sigmask") == 0) {
        const char *k = kind_arg(&argc, &argv);
        if (strcmp(k, "poll") == 0)
            k = "ppoll";
        if (strcmp(k, "ppoll") != 0 && strcmp(k, "ppoll_chk") != 0 && strcmp(k, "pselect") != 0 &&
            strcmp(k, "epoll_pwait") != 0 && strcmp(k, "epoll_pwait2") != 0)
            usage();
        return cmd_sigmask(k, argc, argv);
    }
    if (strcmp(cmd, "nbconnect_soerror") == 0) {
        const char *k = kind_arg(&argc, &argv);
        return cmd_nbconnect("soerror", k, argc, argv);
    }
    if (strcmp(cmd, "nbconnect_again") == 0) {
        const char *k = kind_arg(&argc, &argv);
        return cmd_nbconnect("again", k, argc, argv);
    }
    if (strcmp(cmd, "write_stall") == 0) {
        const char *k = kind_arg(&argc, &argv);
        return cmd_write_stall(k, argc, argv);
    }
    if (strcmp(cmd, "pool_probe") == 0) {
        const char *k = kind_arg(&argc, &argv);
        return cmd_pool_probe(k, argc, argv);
    }
    if (strcmp(cmd, "drain") == 0) {
        const char *k = kind_arg(&argc, &argv);
        return cmd_drain(k, argc, argv);
    }
    if (strcmp(cmd, "upload") == 0) {
        const char *k = kind_arg(&argc, &argv);
        return cmd_upload(k, argc, argv);
    }
    if (strcmp(cmd, "listen_poll") == 0)
        return cmd_listen_poll(argc, argv);
    if (strcmp(cmd, "listen_poll_fd") == 0 && argc >= 3)
        return listen_poll_fd(atoi(argv[0]), atoi(argv[1]), atoi(argv[2]));
    if (strcmp(cmd, "pipe_poll") == 0)
        return cmd_pipe_poll(argc, argv);
    if (strcmp(cmd, "mixed_poll") == 0)
        return cmd_mixed_poll(argc, argv);
    if (strcmp(cmd, "bystander") == 0)
        return cmd_bystander(argc, argv);
    if (strcmp(cmd, "fdopen_fgets") == 0)
        return cmd_fdopen_fgets(argc, argv);
    if (strcmp(cmd, "fclose_reuse") == 0)
        return cmd_fclose_reuse(argc, argv);
    usage();
    return 2;
}

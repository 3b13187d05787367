/* adverse: one C program per adversarial case of issue 10, each a mode
 *   adverse MODE [T]
 * Every case builds its own loopback peers in-process (listeners on
 * 127.0.0.1 / ::1, accepted ends driven only with non-blocking calls or
 * with plain sends that have buffer room), runs the program behaviour the
 * issue describes, and prints key=value facts on stdout that the Rust test
 * asserts on. Every wait is bounded; the program ends with _exit so that a
 * thread left blocked (as it would be without the library) cannot hold it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static double T = 1.0; /* the TIMEOUTSOCK_SECS the test set */
static double t0;

static double since(void) { return now_ms() - t0; }

static void msleep(double ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms - 1000.0 * (long)(ms / 1000)) * 1e6)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A listener on HOST:0 with backlog and optional SO_RCVBUF; *port gets the port. */
static int listener(const char *host, int backlog, int rcvbuf, int *port)
{
    int v6 = strchr(host, ':') != NULL;
    struct sockaddr_storage ss;
    socklen_t len = make_addr(host, 0, &ss);
    int l = socket(ss.ss_family, SOCK_STREAM, 0);
    if (l < 0)
        die("socket");
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (rcvbuf > 0)
        setsockopt(l, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (bind(l, (struct sockaddr *)&ss, len) != 0)
        die("bind");
    if (listen(l, backlog) != 0)
        die("listen");
    len = sizeof ss;
    getsockname(l, (struct sockaddr *)&ss, &len);
    *port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    return l;
}

/* A socket of PROTO connected (blocking) to HOST:PORT. */
static int dial_proto(const char *host, int port, int proto)
{
    struct sockaddr_storage ss;
    socklen_t len = make_addr(host, port, &ss);
    int s = socket(ss.ss_family, SOCK_STREAM, proto);
    if (s < 0)
        return -1;
    if (connect(s, (struct sockaddr *)&ss, len) != 0)
        die("connect");
    return s;
}

static int dial4(int port) { return dial_proto("127.0.0.1", port, 0); }

static int accept1(int l)
{
    int a = accept(l, NULL, NULL);
    if (a < 0)
        die("accept");
    return a;
}

/* A listener whose accept queue is full: any later connect hangs in SYN_SENT. */
static int full_queue(int *port)
{
    int l = listener("127.0.0.1", 0, 0, port);
    struct sockaddr_storage ss;
    socklen_t len = make_addr("127.0.0.1", *port, &ss);
    for (int i = 0; i < 3; i++) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(s, (struct sockaddr *)&ss, len);
        msleep(20);
    }
    return l;
}

/* Non-blocking drain of S: bytes that were queued (the first CAP of them
 * copied to BUF); -1 when the first attempt failed with an error. */
static long drain(int s, char *buf, size_t cap)
{
    static char scratch[1 << 16];
    long tot = 0;
    for (int i = 0; i < 100000; i++) { /* bounded */
        ssize_t r = recv(s, scratch, sizeof scratch, MSG_DONTWAIT);
        if (r <= 0)
            return (r < 0 && errno != EAGAIN && tot == 0) ? -1 : tot;
        if ((size_t)tot < cap)
            memcpy(buf + tot, scratch, (size_t)r < cap - tot ? (size_t)r : cap - tot);
        tot += r;
    }
    return tot;
}

/* Is S a healthy connection: no pending error, not at EOF, not reset? */
static int alive(int s)
{
    int err = 0;
    socklen_t el = sizeof err;
    char c;
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0)
        return 0;
    ssize_t r = recv(s, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    if (r == 0)
        return 0;
    if (r < 0 && errno != EAGAIN)
        return 0;
    return 1;
}

/* ---- 1: select with fd_sets sized for nfds only ---------------------- */

static int mode_select_edge(int edge)
{
    int p, l = listener("127.0.0.1", 8, 0, &p);
    int s = dial4(p);
    int peer = accept1(l);
    (void)peer;
    if (s >= 64)
        die("fd>=64");
    long pg = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(m + pg, pg, PROT_NONE) != 0)
        die("mmap");
    /* one 8-byte word per set, each ending exactly at the page edge */
    fd_set *rs = edge ? (fd_set *)(m + pg - 8) : malloc(8);
    memset(rs, 0, 8);
    ((unsigned long *)rs)[0] |= 1UL << s;
    struct timeval tv = {0, 200000};
    double st = now_ms();
    int r = select(s + 1, rs, NULL, NULL, &tv);
    report("select", r, r < 0 ? errno : 0, now_ms() - st, "");
    /* pselect with three minimal sets on the heap (valgrind sees overruns) */
    unsigned long *w = malloc(8), *rr = malloc(8), *e = malloc(8);
    *rr = 1UL << s;
    *w = 0;
    *e = 1UL << s;
    struct timespec ts = {0, 200000000};
    st = now_ms();
    r = pselect(s + 1, (fd_set *)rr, (fd_set *)w, (fd_set *)e, &ts, NULL);
    report("pselect", r, r < 0 ? errno : 0, now_ms() - st, "");
    /* a neighbour word right after an 8-byte set must keep its value */
    unsigned long *pair = malloc(16);
    pair[0] = 1UL << s;
    pair[1] = 0x5a5a5a5a5a5a5a5aUL;
    tv.tv_sec = 0;
    tv.tv_usec = 200000;
    r = select(s + 1, (fd_set *)pair, NULL, NULL, &tv);
    printf("neighbour_intact=%d\n", pair[1] == 0x5a5a5a5a5a5a5a5aUL);
    free(w), free(rr), free(e), free(pair);
    /* A poll array past the probe's 64 entries (checked by granule), on the
     * heap at 4 mod 8, revents never written by the program: a check that
     * read a granule's first word would read an uninitialised revents
     * (valgrind: "points to uninitialised byte(s)"). */
    char *raw = malloc(4 + 600 * sizeof(struct pollfd));
    struct pollfd *pa = (struct pollfd *)(raw + 4);
    for (int k = 0; k < 600; k++) {
        pa[k].fd = k == 0 ? s : -1;
        pa[k].events = POLLIN;
    }
    st = now_ms();
    r = poll(pa, 600, 200);
    report("poll_long", r, r < 0 ? errno : 0, now_ms() - st, "");
    free(raw);
    return 0;
}

/* ---- 2: a blocked call and a reused descriptor number ----------------- */

struct blocked {
    int fd;
    const char *op;
    struct sockaddr_storage to;
    socklen_t tolen;
    volatile int done;
    long ret;
    int err;
    double ms;
    char data[64];
};

static void *blocked_thread(void *arg)
{
    struct blocked *b = arg;
    double st = now_ms();
    if (!strcmp(b->op, "recv")) {
        b->ret = recv(b->fd, b->data, sizeof b->data - 1, 0);
    } else if (!strcmp(b->op, "send")) {
        size_t n = 16 << 20;
        char *buf = malloc(n);
        memset(buf, 'A', n);
        b->ret = send(b->fd, buf, n, 0);
    } else if (!strcmp(b->op, "connect")) {
        b->ret = connect(b->fd, (struct sockaddr *)&b->to, b->tolen);
    } else if (!strcmp(b->op, "poll")) {
        struct pollfd pf = {b->fd, POLLIN, 0};
        b->ret = poll(&pf, 1, -1);
        if (b->ret > 0)
            b->ret = pf.revents;
    }
    b->err = b->ret < 0 ? errno : 0;
    b->ms = now_ms() - st;
    b->done = 1;
    return NULL;
}

static int mode_reuse(const char *op)
{
    static struct blocked b;
    int px, py;
    int lx;
    memset(&b, 0, sizeof b);
    b.op = op;
    if (!strcmp(op, "connect")) {
        lx = full_queue(&px);
        b.fd = socket(AF_INET, SOCK_STREAM, 0);
        b.tolen = make_addr("127.0.0.1", px, &b.to);
    } else {
        lx = listener("127.0.0.1", 8, !strcmp(op, "send") ? 4096 : 0, &px);
        b.fd = dial4(px);
        accept1(lx); /* held, never read, never written */
    }
    int ly = listener("127.0.0.1", 8, 0, &py);
    pthread_t th;
    pthread_create(&th, NULL, blocked_thread, &b);
    msleep(!strcmp(op, "send") ? 700 : 300);
    int old = b.fd;
    close(old);
    /* the newcomer: lowest free number, which is the one just closed */
    int nb = dial4(py);
    int ny = accept1(ly);
    /* the newcomer is silent under a blocked poll (its wait must not be
     * satisfied, nor the newcomer aborted, by the old wait) */
    int quiet = !strcmp(op, "poll");
    if (!quiet && send(ny, "NEWCOMER", 8, 0) != 8)
        die("send newcomer");
    printf("reused=%d\n", nb == old);
    msleep(T * 1000 + 1000);
    char got[64] = {0};
    long nbg = drain(nb, got, 8);
    struct sockaddr_storage pa;
    socklen_t pl = sizeof pa;
    int peer_port = getpeername(nb, (struct sockaddr *)&pa, &pl) == 0 ? ntohs(((struct sockaddr_in *)&pa)->sin_port) : -1;
    printf("a_done=%d a_ret=%ld a_errno=%s a_ms=%.0f a_stole=%d\n", b.done, b.ret, ename(b.err), b.ms,
           b.done && b.ret > 0 && !strcmp(op, "recv") && memmem(b.data, sizeof b.data, "NEW", 3) != NULL);
    int na = alive(nb);
    long hs = send(nb, "HELLO", 5, MSG_DONTWAIT | MSG_NOSIGNAL);
    msleep(50);
    char *ybuf = malloc(32 << 20);
    long yg = drain(ny, ybuf, 32 << 20);
    printf("new_got=%ld new_data=%.8s new_send=%ld server_got=%ld new_peer_ok=%d new_alive=%d server_alive=%d\n",
           nbg, got, hs, yg, peer_port == py, na, alive(ny));
    fflush(stdout);
    _exit(0);
}

/* ---- 4, 5: EPOLLET ---------------------------------------------------- */

static int mode_epollet_partial(void)
{
    int p, l = listener("127.0.0.1", 8, 0, &p);
    int s = dial4(p);
    int peer = accept1(l);
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    if (send(peer, buf, 1000, 0) != 1000)
        die("send");
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = s}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    int r = epoll_wait(ep, &out, 1, 2000);
    long first = recv(s, buf, 100, 0);
    double st = now_ms();
    r = epoll_wait(ep, &out, 1, (int)(T * 2500));
    report("epoll_wait", r, r < 0 ? errno : 0, now_ms() - st, "first=%ld", first);
    long rest = recv(s, buf, sizeof buf, MSG_DONTWAIT);
    printf("rest=%ld rest_errno=%s\n", rest, ename(rest < 0 ? errno : 0));
    return 0;
}

static int mode_epollet_idle(void)
{
    int p, l = listener("127.0.0.1", 8, 0, &p);
    int s = dial4(p);
    accept1(l);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.fd = s}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    int r = epoll_wait(ep, &out, 1, 2000);
    printf("first=%d events=%#x\n", r, r > 0 ? out.events : 0);
    double st = now_ms();
    r = epoll_wait(ep, &out, 1, (int)(T * 2500));
    report("epoll_wait", r, r < 0 ? errno : 0, now_ms() - st, "events=%#x", r > 0 ? out.events : 0);
    printf("alive=%d\n", alive(s));
    return 0;
}

/* ---- 6: a busy socket next to an idle one ----------------------------- */

static int mode_busy_idle(const char *kind)
{
    int p, l = listener("127.0.0.1", 8, 0, &p);
    int busy = dial4(p);
    int bpeer = accept1(l);
    int idle = dial4(p);
    accept1(l);
    static char flood[1 << 16];
    memset(flood, 'f', sizeof flood);
    if (send(bpeer, flood, sizeof flood, 0) != (ssize_t)sizeof flood)
        die("flood");
    int ep = -1;
    if (!strcmp(kind, "epoll")) {
        ep = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = busy};
        epoll_ctl(ep, EPOLL_CTL_ADD, busy, &ev);
        ev.data.fd = idle;
        epoll_ctl(ep, EPOLL_CTL_ADD, idle, &ev);
    }
    double st = now_ms(), idle_ms = -1;
    int reads = 0, how_err = 0;
    /* bounded: 3T + 1 s */
    while (now_ms() - st < 3000 * T + 1000) {
        int br = 0, ir = 0, r;
        if (!strcmp(kind, "poll")) {
            struct pollfd pf[2] = {{busy, POLLIN, 0}, {idle, POLLIN, 0}};
            r = poll(pf, 2, -1);
            br = pf[0].revents != 0;
            ir = pf[1].revents != 0;
        } else if (!strcmp(kind, "select")) {
            fd_set rs;
            FD_ZERO(&rs);
            FD_SET(busy, &rs);
            FD_SET(idle, &rs);
            r = select((busy > idle ? busy : idle) + 1, &rs, NULL, NULL, NULL);
            if (r > 0) {
                br = FD_ISSET(busy, &rs);
                ir = FD_ISSET(idle, &rs);
            }
        } else {
            struct epoll_event out[2];
            r = epoll_wait(ep, out, 2, -1);
            for (int i = 0; i < r; i++) {
                if (out[i].data.fd == busy)
                    br = 1;
                else
                    ir = 1;
            }
        }
        if (r < 0) {
            how_err = errno;
            idle_ms = now_ms() - st;
            break;
        }
        if (ir) {
            idle_ms = now_ms() - st;
            break;
        }
        if (br) {
            char c;
            recv(busy, &c, 1, 0);
            reads++;
        }
        msleep(5);
    }
    printf("kind=%s idle_ms=%.0f reads=%d wait_errno=%s idle_alive=%d\n", kind, idle_ms, reads, ename(how_err),
           alive(idle));
    return 0;
}

/* ---- 7: send to a peer that stops reading ----------------------------- */

static int mode_send_stall(void)
{
    int p, l = listener("127.0.0.1", 8, 4096, &p);
    int s = dial4(p);
    accept1(l);
    size_t n = 64 << 20;
    char *buf = malloc(n);
    memset(buf, 's', n);
    double st = now_ms();
    long r = send(s, buf, n, 0);
    report("send", r, r < 0 ? errno : 0, now_ms() - st, "");
    return 0;
}

/* ---- 8: several waiters on one socket --------------------------------- */

struct waiter {
    int fd;
    int accept;
    long ret;
    int err;
    double ms;
};

static void *waiter_thread(void *arg)
{
    struct waiter *w = arg;
    char c;
    double st = now_ms();
    w->ret = w->accept ? accept(w->fd, NULL, NULL) : recv(w->fd, &c, 1, 0);
    w->err = w->ret < 0 ? errno : 0;
    w->ms = now_ms() - st;
    return NULL;
}

static int mode_waiters(int is_accept, int n)
{
    int p, l = listener("127.0.0.1", 8, 0, &p);
    int fd = l;
    if (!is_accept) {
        fd = dial4(p);
        accept1(l);
    }
    struct waiter w[8];
    pthread_t th[8];
    for (int i = 0; i < n; i++) {
        w[i] = (struct waiter){fd, is_accept, 0, 0, -1};
        pthread_create(&th[i], NULL, waiter_thread, &w[i]);
    }
    double st = now_ms();
    /* bounded: (n + 1) T + 1 s */
    while (now_ms() - st < 1000 * T * (n + 1) + 1000) {
        int left = 0;
        for (int i = 0; i < n; i++)
            left += w[i].ms < 0;
        if (!left)
            break;
        msleep(20);
    }
    double max = 0;
    int unfinished = 0;
    for (int i = 0; i < n; i++) {
        printf("waiter=%d ret=%ld errno=%s elapsed_ms=%.0f\n", i, w[i].ret, ename(w[i].err), w[i].ms);
        if (w[i].ms < 0)
            unfinished++;
        else if (w[i].ms > max)
            max = w[i].ms;
    }
    printf("max_ms=%.0f unfinished=%d\n", max, unfinished);
    fflush(stdout);
    _exit(0);
}

/* ---- 9: MSG_PEEK|MSG_WAITALL, SO_RCVLOWAT ----------------------------- */

static void *two_halves(void *arg)
{
    int peer = *(int *)arg;
    send(peer, "12345", 5, 0);
    msleep(400);
    /* one segment that alone reaches the mark: the kernel's wake-up rule */
    send(peer, "6789012345", 10, 0);
    return NULL;
}

static int mode_fullcount(int lowat)
{
    int p, l = listener("127.0.0.1", 8, 0, &p);
    int s = dial4(p);
    static int peer;
    peer = accept1(l);
    if (lowat) {
        int ten = 10;
        setsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &ten, sizeof ten);
    }
    pthread_t th;
    pthread_create(&th, NULL, two_halves, &peer);
    msleep(100); /* the first half is queued when the call starts */
    char buf[100];
    double st = now_ms();
    long r = lowat ? recv(s, buf, sizeof buf, 0) : recv(s, buf, 10, MSG_PEEK | MSG_WAITALL);
    report(lowat ? "recv_lowat" : "recv_peek_waitall", r, r < 0 ? errno : 0, now_ms() - st, "");
    pthread_join(th, NULL);
    return 0;
}

/* ---- 10: siglongjmp out of a blocking connect ------------------------- */

static sigjmp_buf jb;
static void on_alarm(int sig)
{
    (void)sig;
    siglongjmp(jb, 1);
}

static int mode_longjmp_connect(void)
{
    int p;
    full_queue(&p);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_storage ss;
    socklen_t len = make_addr("127.0.0.1", p, &ss);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 300000}};
    double st = now_ms();
    int jumped = 0;
    if (sigsetjmp(jb, 1) == 0) {
        setitimer(ITIMER_REAL, &it, NULL);
        int r = connect(s, (struct sockaddr *)&ss, len);
        printf("connect_returned=%d errno=%s\n", r, ename(r < 0 ? errno : 0));
    } else {
        jumped = 1;
    }
    int fl = fcntl(s, F_GETFL);
    printf("jumped=%d elapsed_ms=%.0f nonblock=%d\n", jumped, now_ms() - st, (fl & O_NONBLOCK) != 0);
    return 0;
}

/* pthread_cancel of a thread blocked in connect (the wait is a
 * cancellation point); the main thread then looks at the flags. */
struct cancel_arg {
    int s;
    struct sockaddr_storage ss;
    socklen_t len;
};

static void *connect_thread(void *p)
{
    struct cancel_arg *a = p;
    connect(a->s, (struct sockaddr *)&a->ss, a->len);
    return NULL;
}

static int mode_cancel_connect(void)
{
    int p;
    full_queue(&p);
    static struct cancel_arg a;
    a.s = socket(AF_INET, SOCK_STREAM, 0);
    a.len = make_addr("127.0.0.1", p, &a.ss);
    pthread_t th;
    pthread_create(&th, NULL, connect_thread, &a);
    msleep(300);
    pthread_cancel(th);
    void *res;
    pthread_join(th, &res);
    int fl = fcntl(a.s, F_GETFL);
    printf("cancelled=%d nonblock=%d\n", res == PTHREAD_CANCELED, (fl & O_NONBLOCK) != 0);
    return 0;
}

/* ---- 11: vfork, then fork --------------------------------------------- */

static void *late_writer(void *arg)
{
    int fd = *(int *)arg;
    msleep(T * 1500);
    if (write(fd, "u", 1) != 1)
        return NULL;
    return NULL;
}

static int mode_vfork_fork(void)
{
    int p, l = listener("127.0.0.1", 8, 0, &p);
    int s = dial4(p);
    accept1(l);
    char c;
    recv(s, &c, 1, MSG_DONTWAIT); /* s is known as TCP */
    pid_t v = vfork();
    if (v == 0)
        _exit(0);
    waitpid(v, NULL, 0);
    pid_t f = fork();
    if (f == 0) {
        close(s);
        static int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
            die("socketpair");
        pthread_t th;
        pthread_create(&th, NULL, late_writer, &sv[1]);
        double st = now_ms();
        long r = read(sv[0], &c, 1);
        report("child_read", r, r < 0 ? errno : 0, now_ms() - st, "same_number=%d", sv[0] == s);
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(f, &status, 0);
    return 0;
}

/* ---- 12: the log and a TCP connection at fd 2 ------------------------- */

static int mode_log_fd2(const char *sink_port)
{
    int s = dial4(atoi(sink_port));
    if (dup2(s, 2) != 2)
        die("dup2");
    close(s);
    int p, l = listener("::1", 8, 0, &p);
    int a = dial_proto("::1", p, 0);
    accept1(l);
    char c;
    double st = now_ms();
    long r = recv(a, &c, 1, 0);
    report("recv", r, r < 0 ? errno : 0, now_ms() - st, "");
    return 0;
}

/* ---- 13: bad pointers and bad timespecs ------------------------------- */

/* A pollfd / an fd_set word ending at the last bytes of a readable page
 * followed by a PROT_NONE one (`edge`: the first byte of the bad page), and
 * a read-only page holding a valid pollfd and set (`ro`). */
static char *edge, *ro;

/* One call's line (its errno read first), then the end of the child. */
static void report_exit(const char *name, long r, double st)
{
    int e = r < 0 ? errno : 0;
    printf("call=%s ret=%ld errno=%s elapsed_ms=%.0f\n", name, r, ename(e), now_ms() - st);
    fflush(stdout);
    _exit(0);
}

static void one_call(const char *name, int s, void *bad)
{
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        alarm(3);
        struct pollfd pf = {s, POLLIN, 0};
        struct timespec inval = {0, 1000000000L};
        struct timespec neg = {0, -1};
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(s, &rs);
        long r = 0;
        double st = now_ms();
        struct timespec half = {0, 500000000L};
        struct timeval tvhalf = {0, 500000};
        struct pollfd *straddle = (struct pollfd *)(edge - sizeof(struct pollfd));
        fd_set *wstraddle = (fd_set *)(edge - 8);
        if (!strcmp(name, "poll"))
            r = poll(bad, 1, 0);
        /* timed: the library's own path (it reads the array or sets) */
        else if (!strcmp(name, "poll_timed"))
            r = poll(bad, 1, 500);
        else if (!strcmp(name, "ppoll_timed"))
            r = ppoll(bad, 1, &half, NULL);
        else if (!strcmp(name, "poll_straddle")) {
            *straddle = pf; /* entry 0 readable (a TCP socket), entry 1 not */
            r = poll(straddle, 2, 500);
        } else if (!strcmp(name, "poll_big_timed"))
            r = poll(bad, 100, 500); /* past the probe's 64 entries: checked by granule */
        else if (!strcmp(name, "poll_big_straddle")) {
            /* 100 entries, the first 50 readable (entry 0 a TCP socket) */
            struct pollfd *big = (struct pollfd *)(edge - 50 * sizeof(struct pollfd));
            for (int k = 0; k < 50; k++)
                big[k] = (struct pollfd){k == 0 ? s : -1, POLLIN, 0};
            r = poll(big, 100, 500);
        } else if (!strcmp(name, "poll_readonly"))
            r = poll((struct pollfd *)ro, 1, 500);
        else if (!strcmp(name, "select_timed"))
            r = select(s + 1, bad, NULL, NULL, &tvhalf);
        else if (!strcmp(name, "select_timed_wset"))
            r = select(s + 1, &rs, bad, NULL, &tvhalf);
        else if (!strcmp(name, "select_straddle")) {
            /* nfds 128: two words, the first readable (holding s), the second
             * not. The kernel reads min(nfds, its fd table's size) bits, and
             * a forked child's table is sized by the parent's highest open
             * fd (64 when all are below 64): grow it to 256 so that the
             * kernel reads both words. */
            close(dup2(s, 200));
            memset(wstraddle, 0, 8);
            FD_SET(s, wstraddle);
            r = select(128, wstraddle, NULL, NULL, &tvhalf);
        } else if (!strcmp(name, "select_past_table")) {
            /* The same sets with a table of 64 (a grandchild forked with no
             * fd >= 64): the kernel reads one word, and times out */
            close_range(64, ~0U, 0);
            pid_t g = fork();
            if (g == 0) {
                memset(wstraddle, 0, 8);
                FD_SET(s, wstraddle);
                report_exit(name, select(128, wstraddle, NULL, NULL, &tvhalf), st);
            }
            int gst;
            waitpid(g, &gst, 0);
            if (WIFSIGNALED(gst))
                printf("call=%s signal=%d\n", name, WTERMSIG(gst));
            fflush(stdout);
            _exit(0);
        } else if (!strcmp(name, "select_readonly"))
            r = select(s + 1, (fd_set *)(ro + 64), NULL, NULL, &tvhalf);
        else if (!strcmp(name, "pselect_timed"))
            r = pselect(s + 1, bad, NULL, NULL, &half, NULL);
        else if (!strcmp(name, "epoll_pwait2_badts")) {
            int ep = epoll_create1(0);
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = s}, out;
            epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
            r = epoll_pwait2(ep, &out, 1, bad, NULL);
        } else if (!strcmp(name, "epoll_wait_badev")) {
            /* writable at once: the kernel has an event to copy out */
            int ep = epoll_create1(0);
            struct epoll_event ev = {.events = EPOLLOUT, .data.fd = s};
            epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
            r = epoll_wait(ep, bad, 1, 500);
        }
        /* timeouts libc itself reads (glibc and musl): as libc, whatever it does */
        else if (!strcmp(name, "select_badtv"))
            r = select(s + 1, &rs, NULL, NULL, bad);
        else if (!strcmp(name, "ppoll_badts"))
            r = ppoll(&pf, 1, bad, NULL);
        else if (!strcmp(name, "pselect_badts"))
            r = pselect(s + 1, &rs, NULL, NULL, bad, NULL);
        else if (!strcmp(name, "select")) {
            struct timeval tv = {0, 0};
            r = select(s + 1, bad, NULL, NULL, &tv);
        }
        else if (!strcmp(name, "readv"))
            r = readv(s, bad, 1);
        else if (!strcmp(name, "writev"))
            r = writev(s, bad, 1);
        else if (!strcmp(name, "sendmsg"))
            r = sendmsg(s, bad, 0);
        else if (!strcmp(name, "recvmsg"))
            r = recvmsg(s, bad, 0);
        else if (!strcmp(name, "connect")) {
            int n = socket(AF_INET, SOCK_STREAM, 0);
            r = connect(n, bad, sizeof(struct sockaddr_in));
        } else if (!strcmp(name, "ppoll_nsec"))
            r = ppoll(&pf, 1, &inval, NULL);
        else if (!strcmp(name, "ppoll_neg"))
            r = ppoll(&pf, 1, &neg, NULL);
        else if (!strcmp(name, "pselect_nsec"))
            r = pselect(s + 1, &rs, NULL, NULL, &inval, NULL);
        else if (!strcmp(name, "pselect_neg"))
            r = pselect(s + 1, &rs, NULL, NULL, &neg, NULL);
        else if (!strcmp(name, "epoll_pwait2_nsec") || !strcmp(name, "epoll_pwait2_neg")) {
            int ep = epoll_create1(0);
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = s}, out;
            epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
            r = epoll_pwait2(ep, &out, 1, strstr(name, "neg") ? &neg : &inval, NULL);
        }
        report_exit(name, r, st);
    }
    int st;
    waitpid(c, &st, 0);
    if (WIFSIGNALED(st))
        printf("call=%s signal=%d\n", name, WTERMSIG(st));
}

static int mode_badptr(void)
{
    int p, l = listener("127.0.0.1", 8, 0, &p);
    int s = dial4(p);
    accept1(l);
    long pg = sysconf(_SC_PAGESIZE);
    void *bad = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(two + pg, pg, PROT_NONE);
    edge = two + pg;
    ro = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct pollfd rpf = {s, POLLIN, 0};
    memcpy(ro, &rpf, sizeof rpf);
    FD_ZERO((fd_set *)(ro + 64));
    FD_SET(s, (fd_set *)(ro + 64));
    mprotect(ro, pg, PROT_READ);
    const char *calls[] = {"poll", "select", "readv", "writev", "sendmsg", "recvmsg", "connect",
                           "ppoll_nsec", "ppoll_neg", "pselect_nsec", "pselect_neg", "epoll_pwait2_nsec",
                           "epoll_pwait2_neg", "poll_timed", "ppoll_timed", "poll_straddle",
                           "poll_readonly", "poll_big_timed", "poll_big_straddle", "select_timed", "select_timed_wset", "select_straddle", "select_past_table",
                           "select_readonly", "pselect_timed", "epoll_pwait2_badts", "epoll_wait_badev",
                           "select_badtv", "ppoll_badts", "pselect_badts"};
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++)
        one_call(calls[i], s, bad);
    return 0;
}

/* ---- 14: connect errno details ---------------------------------------- */

static int mode_connect_soerror(void)
{
    int p;
    full_queue(&p);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_storage ss;
    socklen_t len = make_addr("127.0.0.1", p, &ss);
    double st = now_ms();
    int r = connect(s, (struct sockaddr *)&ss, len);
    int e = r < 0 ? errno : 0;
    int so = 0;
    socklen_t sl = sizeof so;
    getsockopt(s, SOL_SOCKET, SO_ERROR, &so, &sl);
    report("connect", r, e, now_ms() - st, "so_error=%s", ename(so));
    return 0;
}

static int mode_connect_again(void)
{
    int p;
    full_queue(&p);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {0, 300000};
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_storage ss;
    socklen_t len = make_addr("127.0.0.1", p, &ss);
    for (int i = 1; i <= 2; i++) {
        double st = now_ms();
        int r = connect(s, (struct sockaddr *)&ss, len);
        printf("attempt=%d ret=%d errno=%s elapsed_ms=%.0f\n", i, r, ename(r < 0 ? errno : 0), now_ms() - st);
    }
    return 0;
}

/* ---- 15: MPTCP, and a socket()-rewriting preload ---------------------- */

static void on_alarm_noop(int sig) { (void)sig; }

static int mode_recv_proto(int proto)
{
    /* bounded without the library too: SIGALRM at 3T interrupts the recv */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm_noop;
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)(3 * T) + 1);
    int p, l = listener("127.0.0.1", 8, 0, &p);
    int s = dial_proto("127.0.0.1", p, proto);
    if (s < 0) {
        printf("skip=1 errno=%s\n", ename(errno));
        return 0;
    }
    accept1(l);
    int got = -1;
    socklen_t gl = sizeof got;
    getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &got, &gl);
    char c;
    double st = now_ms();
    long r = recv(s, &c, 1, 0);
    report("recv", r, r < 0 ? errno : 0, now_ms() - st, "protocol=%d", got);
    return 0;
}

/* ---- 16: nested epoll ------------------------------------------------- */

static int mode_nested(const char *outer)
{
    int p, l = listener("127.0.0.1", 8, 0, &p);
    int s = dial4(p);
    accept1(l);
    int inner = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = s}, out;
    epoll_ctl(inner, EPOLL_CTL_ADD, s, &ev);
    int limit = (int)(T * 3000);
    double st = now_ms();
    int r;
    if (!strcmp(outer, "epoll")) {
        int ep = epoll_create1(0);
        ev.data.fd = inner;
        epoll_ctl(ep, EPOLL_CTL_ADD, inner, &ev);
        r = epoll_wait(ep, &out, 1, limit);
    } else {
        struct pollfd pf = {inner, POLLIN, 0};
        r = poll(&pf, 1, limit);
    }
    report(outer, r, r < 0 ? errno : 0, now_ms() - st, "member_alive=%d", alive(s));
    return 0;
}

/* ---- 18: what a disabled library left in the process ------------------ */

static int mode_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int big = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        char path[256] = "";
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %255s", &a, &b, path) >= 2 && path[0] == 0) {
            unsigned long kib = (b - a) / 1024;
            if (kib >= 900 && kib <= 1100) {
                big++;
                printf("anon_mapping_kib=%lu\n", kib);
            }
        }
    }
    printf("big_anon=%d\n", big);
    return 0;
}

/* accept with a sockaddr_in-sized buffer on an IPv6 listener, the buffer
 * ending at a page edge: the kernel writes 16 bytes (cut short) and sets
 * len to 28; nothing may read past the 16 bytes. (An accept hook that
 * decoded the program's buffer by the returned length crashed here.) */
static int mode_accept_short(void)
{
    int l = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    socklen_t al = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4) ||
        getsockname(l, (struct sockaddr *)&a, &al))
        die("listen");
    int c = socket(AF_INET6, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof a))
        die("connect");
    long pg = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(m + pg, pg, PROT_NONE))
        die("mmap");
    struct sockaddr *buf = (struct sockaddr *)(m + pg - sizeof(struct sockaddr_in));
    socklen_t len = sizeof(struct sockaddr_in);
    int s = accept(l, buf, &len);
    printf("accept_ok=%d len=%u family=%d\n", s >= 0, (unsigned)len, buf->sa_family);
    return s >= 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    t0 = now_ms();
    if (argc < 2) {
        fprintf(stderr, "usage: adverse MODE [T] [ARG]\n");
        return 2;
    }
    const char *m = argv[1];
    if (argc > 2)
        T = atof(argv[2]);
    const char *arg = argc > 3 ? argv[3] : "";
    (void)since;
    if (!strcmp(m, "select_edge"))
        return mode_select_edge(1);
    if (!strcmp(m, "select_heap"))
        return mode_select_edge(0);
    if (!strncmp(m, "reuse_", 6))
        return mode_reuse(m + 6);
    if (!strcmp(m, "epollet_partial"))
        return mode_epollet_partial();
    if (!strcmp(m, "epollet_idle"))
        return mode_epollet_idle();
    if (!strcmp(m, "busy_idle"))
        return mode_busy_idle(arg);
    if (!strcmp(m, "send_stall"))
        return mode_send_stall();
    if (!strcmp(m, "accept_pool"))
        return mode_waiters(1, 4);
    if (!strcmp(m, "readers"))
        return mode_waiters(0, 4);
    if (!strcmp(m, "peek_waitall"))
        return mode_fullcount(0);
    if (!strcmp(m, "rcvlowat"))
        return mode_fullcount(1);
    if (!strcmp(m, "longjmp_connect"))
        return mode_longjmp_connect();
    if (!strcmp(m, "cancel_connect"))
        return mode_cancel_connect();
    if (!strcmp(m, "vfork_fork"))
        return mode_vfork_fork();
    if (!strcmp(m, "log_fd2"))
        return mode_log_fd2(arg);
    if (!strcmp(m, "badptr"))
        return mode_badptr();
    if (!strcmp(m, "connect_soerror"))
        return mode_connect_soerror();
    if (!strcmp(m, "connect_again"))
        return mode_connect_again();
    if (!strcmp(m, "mptcp"))
        return mode_recv_proto(IPPROTO_MPTCP);
    if (!strcmp(m, "plain_recv"))
        return mode_recv_proto(0);
    if (!strcmp(m, "accept_short"))
        return mode_accept_short();
    if (!strcmp(m, "nested"))
        return mode_nested(arg);
    if (!strcmp(m, "maps"))
        return mode_maps();
    fprintf(stderr, "unknown mode %s\n", m);
    return 2;
}

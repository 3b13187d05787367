/*
 * stress_diff: a seeded random sequence of socket operations, printed as a
 * transcript, to be run with and without the library (with a large T, so
 * that no timeout can fire) and compared byte for byte.
 *
 *   stress_diff SEED STEPS
 *   stress_diff case NAME
 *
 * One thread drives both ends of up to four loopback TCP connections: the
 * program's side (socket/connect, send/write/writev/sendmsg/sendto with
 * flags, recv/read/readv/recvmsg/recvfrom with MSG_DONTWAIT, MSG_PEEK,
 * MSG_WAITALL, shutdown, close, dup/dup2/dup3/F_DUPFD(_CLOEXEC) copies,
 * O_NONBLOCK toggles by fcntl and ioctl, getsockopt(SO_ERROR), FIONREAD,
 * the program's own 30 ms SO_RCVTIMEO (then blocking reads may wait),
 * poll/select with a zero timeout, connects to a closed port, a second
 * connect, calls on descriptors that are not open) and the peer's side
 * (accept, non-blocking send and drain, shutdown, close). Every result is
 * printed with its errno (errno is set to a sentinel before each call, so
 * a call that succeeds must leave it alone). A call that could block
 * (blocking socket, no data or room, no EOF) is skipped, and the skip is
 * printed: the decision only depends on the kernel's state. Calls the
 * kernel never blocks in (MSG_ERRQUEUE, MSG_OOB) are always made. A guard
 * timer (SIGALRM every 0.2 s, handler without SA_RESTART) interrupts any
 * call that blocks anyway: it shows as EINTR in the transcript instead of
 * a hang; a step still running after 2 s ends the run (exit 3).
 *
 * The `case` mode runs one short fixed sequence instead, each aimed at one
 * kind of call (the same transcript format, compared the same way):
 *   connect_twice          a second connect() on a connected blocking socket
 *   connect_refused_retry  a refused blocking connect, then recv, poll and
 *                          a new connect on the same socket
 *   waitall_partial_reset  MSG_WAITALL gets part of its bytes, then the peer
 *                          resets: the partial count, then ECONNRESET
 *   waitall_reset_poll, waitall_reset_so_error, waitall_reset_dontwait,
 *   waitall_reset_dup      the same partial count, then the error as poll,
 *                          getsockopt(SO_ERROR), recv(MSG_DONTWAIT) and a
 *                          send on a dup'd descriptor see it
 *   errqueue               recv/recvmsg(MSG_ERRQUEUE) on a blocking socket,
 *                          without and with data pending
 *   read_zero              read()/readv() of 0 bytes on a blocking socket,
 *                          without data and with a pending reset
 */
#include "stress_common.h"
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/select.h>

#define NSLOT 4
#define NFD 3
#define BUDGET 32768
#define SENTINEL 9999

struct slot {
    int fd[NFD]; /* the program's descriptors for the client socket */
    int peer;    /* the accepted end, -1 when none */
    long to_peer;   /* bytes sent by the client, not yet drained by the peer */
    long to_client; /* bytes sent by the peer, not yet consumed by the client */
    int rcvtimeo;   /* the client socket has a 30 ms SO_RCVTIMEO */
};

static struct slot g_s[NSLOT];
static int g_listener, g_port, g_closed_port;
static uint64_t g_rnd;
static unsigned char g_buf[65536], g_pat[65536];

static volatile sig_atomic_t g_ticks;
static long g_step;

/* Every 0.2 s while a step runs. A call that sleeps is interrupted (EINTR,
 * no SA_RESTART). A step still running after 2 s (a call spinning without
 * sleeping) ends the run: one line, exit 3. */
static void on_guard(int sig)
{
    (void)sig;
    if (++g_ticks >= 10) {
        char line[96];
        int n = snprintf(line, sizeof line, "%ld guard: step still running after 2 s\n", g_step);
        ssize_t w = write(1, line, n);
        (void)w;
        _exit(3);
    }
}

static void guard(int on)
{
    g_ticks = 0;
    struct itimerval it = {{0, on ? 200000 : 0}, {0, on ? 200000 : 0}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static const char *en(long ret, int e)
{
    if (e == SENTINEL)
        return "unchanged";
    return ret < 0 ? ename(e) : (e == 0 ? "0" : ename(e));
}

#define OUT(...)                                                                              \
    do {                                                                                      \
        printf("%ld ", g_step);                                                               \
        printf(__VA_ARGS__);                                                                  \
        putchar('\n');                                                                        \
    } while (0)

static int any_fd(struct slot *s)
{
    int live[NFD], n = 0;
    for (int i = 0; i < NFD; i++)
        if (s->fd[i] >= 0)
            live[n++] = i;
    return n ? live[rnd_below(&g_rnd, n)] : -1;
}

static int fd_in_use(int fd)
{
    if (fd == g_listener)
        return 1;
    for (int k = 0; k < NSLOT; k++) {
        if (g_s[k].peer == fd)
            return 1;
        for (int i = 0; i < NFD; i++)
            if (g_s[k].fd[i] == fd)
                return 1;
    }
    return 0;
}

static int has_client(struct slot *s)
{
    for (int i = 0; i < NFD; i++)
        if (s->fd[i] >= 0)
            return 1;
    return 0;
}

static int is_blocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && !(fl & O_NONBLOCK);
}

static short revents0(int fd, short ev)
{
    struct pollfd p = {fd, ev, 0};
    return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

static int inq(int fd)
{
    int n = 0;
    if (ioctl(fd, FIONREAD, &n) != 0)
        return -1;
    return n;
}

static void nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ---- the program's side ------------------------------------------------- */

static void op_open(struct slot *s, int k)
{
    if (has_client(s) || s->peer >= 0) {
        OUT("open slot=%d skip", k);
        return;
    }
    int nb = rnd_below(&g_rnd, 3) == 0;
    int six = 0;
    int refused = rnd_below(&g_rnd, 6) == 0;
    struct sockaddr_storage ss;
    socklen_t len = make_addr(six ? "::1" : "127.0.0.1", refused ? g_closed_port : g_port, &ss);
    errno = SENTINEL;
    int fd = socket(AF_INET, SOCK_STREAM | (nb ? SOCK_NONBLOCK : 0), 0);
    int e = errno;
    if (fd < 0) {
        OUT("open slot=%d socket=-1 errno=%s", k, ename(e));
        return;
    }
    nodelay(fd);
    if (refused && nb) {
        /* a refused non-blocking connect: the error may come later */
        OUT("open slot=%d nb=1 refused=1 skip_connect", k);
        close(fd);
        return;
    }
    errno = SENTINEL;
    int r = connect(fd, (struct sockaddr *)&ss, len);
    e = errno;
    s->fd[0] = fd;
    int acc = -1;
    if (!refused) {
        struct pollfd p = {g_listener, POLLIN, 0};
        if (poll(&p, 1, 2000) == 1)
            acc = accept(g_listener, NULL, NULL);
        s->peer = acc;
        if (acc >= 0)
            nodelay(acc);
    }
    s->to_peer = s->to_client = 0;
    s->rcvtimeo = 0;
    OUT("open slot=%d nb=%d refused=%d fd=%d connect=%d errno=%s peer=%d", k, nb, refused, fd, r,
        en(r, e), acc);
}

static void op_send(struct slot *s, int k)
{
    int i = any_fd(s);
    if (i < 0)
        return;
    int fd = s->fd[i];
    size_t n = 1 + rnd_below(&g_rnd, 8192);
    int how = (int)rnd_below(&g_rnd, 6);
    int dontwait = how == 0 || rnd_below(&g_rnd, 4) == 0;
    if (!dontwait && is_blocking(fd)) {
        short rv = revents0(fd, POLLOUT);
        if (s->to_peer + (long)n > BUDGET || !(rv & (POLLOUT | POLLERR | POLLHUP))) {
            OUT("send slot=%d fd=%d skip", k, fd);
            return;
        }
    }
    if (s->peer >= 0 && s->to_peer + (long)n > BUDGET && !dontwait) {
        OUT("send slot=%d fd=%d skip_budget", k, fd);
        return;
    }
    int fl = MSG_NOSIGNAL | (dontwait ? MSG_DONTWAIT : 0);
    const char *name;
    ssize_t r;
    errno = SENTINEL;
    if (how == 1 && !dontwait) {
        name = "write";
        r = write(fd, g_pat, n);
    } else if (how == 2 && !dontwait) {
        name = "writev";
        struct iovec iv[2] = {{g_pat, n / 2}, {g_pat + n / 2, n - n / 2}};
        r = writev(fd, iv, 2);
    } else if (how == 3) {
        name = "sendmsg";
        struct iovec iv[3] = {{g_pat, n / 3}, {g_pat + n / 3, n / 3}, {g_pat + 2 * (n / 3), n - 2 * (n / 3)}};
        struct msghdr m = {.msg_iov = iv, .msg_iovlen = 3};
        r = sendmsg(fd, &m, fl);
    } else if (how == 4) {
        name = "sendto";
        r = sendto(fd, g_pat, n, fl, NULL, 0);
    } else {
        name = "send";
        r = send(fd, g_pat, n, fl);
    }
    int e = errno;
    if (r > 0)
        s->to_peer += r;
    OUT("%s slot=%d fd=%d n=%zu dontwait=%d ret=%zd errno=%s", name, k, fd, n, dontwait, r,
        en(r, e));
}

static void op_recv(struct slot *s, int k)
{
    int i = any_fd(s);
    if (i < 0)
        return;
    int fd = s->fd[i];
    size_t n = 1 + rnd_below(&g_rnd, 8192);
    static const int flagsets[] = {0,
                                   MSG_DONTWAIT,
                                   MSG_PEEK,
                                   MSG_WAITALL,
                                   MSG_PEEK | MSG_DONTWAIT,
                                   MSG_WAITALL | MSG_DONTWAIT,
                                   MSG_PEEK | MSG_WAITALL,
                                   0,
                                   MSG_WAITALL,
                                   MSG_TRUNC,
                                   MSG_ERRQUEUE,
                                   MSG_OOB};
    int fl = flagsets[rnd_below(&g_rnd, 12)];
    int how = (int)rnd_below(&g_rnd, 5);
    if ((how == 1 || how == 2) && fl != 0)
        how = 0; /* read and readv take no flags */
    /* read/readv of 0 bytes return 0 at once in the kernel (sock_read_iter);
     * a 0-byte recv would block, so the recv family always asks for some */
    if ((how == 1 || how == 2) && rnd_below(&g_rnd, 8) == 0)
        n = 0;
    /* with its own SO_RCVTIMEO, a blocking read ends by itself (EAGAIN or
     * a partial count after 30 ms) */
    int never_blocks = fl & (MSG_DONTWAIT | MSG_ERRQUEUE | MSG_OOB) || n == 0 || s->rcvtimeo;
    if (!never_blocks && is_blocking(fd)) {
        short rv = revents0(fd, POLLIN | POLLRDHUP);
        int end = rv & (POLLHUP | POLLERR | POLLRDHUP);
        int avail = inq(fd);
        int would_block = (fl & MSG_WAITALL) ? !(end || avail >= (int)n)
                                             : !(end || (rv & POLLIN) || avail > 0);
        if (would_block) {
            OUT("recv slot=%d fd=%d skip", k, fd);
            return;
        }
    }
    const char *name;
    ssize_t r;
    memset(g_buf, 0, n);
    if (fl & MSG_ERRQUEUE)
        how = rnd_below(&g_rnd, 2) ? 3 : 0; /* recvmsg or recv */
    errno = SENTINEL;
    if (how == 1) {
        name = "read";
        r = read(fd, g_buf, n);
    } else if (how == 2) {
        name = "readv";
        struct iovec iv[2] = {{g_buf, n / 2}, {g_buf + n / 2, n - n / 2}};
        r = readv(fd, iv, 2);
    } else if (how == 3) {
        name = "recvmsg";
        struct iovec iv[2] = {{g_buf, n - n / 3}, {g_buf + n - n / 3, n / 3}};
        struct msghdr m = {.msg_iov = iv, .msg_iovlen = 2};
        r = recvmsg(fd, &m, fl);
    } else if (how == 4) {
        name = "recvfrom";
        struct sockaddr_storage from;
        socklen_t fl2 = sizeof from;
        r = recvfrom(fd, g_buf, n, fl, (struct sockaddr *)&from, &fl2);
    } else {
        name = "recv";
        r = recv(fd, g_buf, n, fl);
    }
    int e = errno;
    if (r > 0 && !(fl & (MSG_PEEK | MSG_ERRQUEUE | MSG_OOB)))
        s->to_client -= r;
    OUT("%s slot=%d fd=%d n=%zu flags=0x%x ret=%zd errno=%s sum=%016llx", name, k, fd, n, fl, r,
        en(r, e), (unsigned long long)(r > 0 ? fnv(FNV_INIT, g_buf, r) : 0));
}

static void op_shutdown(struct slot *s, int k, int peer_side)
{
    int fd = peer_side ? s->peer : (any_fd(s) >= 0 ? s->fd[any_fd(s)] : -1);
    if (fd < 0)
        return;
    int how = (int)rnd_below(&g_rnd, 3);
    errno = SENTINEL;
    int r = shutdown(fd, how);
    int e = errno;
    OUT("shutdown slot=%d side=%s fd=%d how=%d ret=%d errno=%s", k, peer_side ? "peer" : "client",
        fd, how, r, en(r, e));
}

static void op_close(struct slot *s, int k, int peer_side)
{
    int fd;
    if (peer_side) {
        fd = s->peer;
        s->peer = -1;
        s->to_peer = 0;
    } else {
        int i = any_fd(s);
        if (i < 0)
            return;
        fd = s->fd[i];
        s->fd[i] = -1;
    }
    if (fd < 0)
        return;
    errno = SENTINEL;
    int r = close(fd);
    int e = errno;
    OUT("close slot=%d side=%s fd=%d ret=%d errno=%s", k, peer_side ? "peer" : "client", fd, r,
        en(r, e));
}

static void op_dup(struct slot *s, int k)
{
    int i = any_fd(s), free_i = -1;
    for (int j = 0; j < NFD; j++)
        if (s->fd[j] < 0)
            free_i = j;
    if (i < 0 || free_i < 0)
        return;
    int fd = s->fd[i];
    int kind = (int)rnd_below(&g_rnd, 5);
    int target = 200 + (int)rnd_below(&g_rnd, 20);
    if ((kind == 1 || kind == 2) && fd_in_use(target)) {
        OUT("dup slot=%d kind=%d skip", k, kind);
        return;
    }
    errno = SENTINEL;
    int r;
    switch (kind) {
    case 0:
        r = dup(fd);
        break;
    case 1:
        r = dup2(fd, target);
        break;
    case 2:
        r = dup3(fd, target, O_CLOEXEC);
        break;
    case 3:
        r = fcntl(fd, F_DUPFD, 100);
        break;
    default:
        r = fcntl(fd, F_DUPFD_CLOEXEC, 100);
    }
    int e = errno;
    if (r >= 0)
        s->fd[free_i] = r;
    OUT("dup slot=%d kind=%d fd=%d ret=%d errno=%s", k, kind, fd, r, en(r, e));
}

static void op_nonblock(struct slot *s, int k)
{
    int i = any_fd(s);
    if (i < 0)
        return;
    int fd = s->fd[i];
    int r;
    errno = SENTINEL;
    int by_ioctl = rnd_below(&g_rnd, 2);
    int fl = fcntl(fd, F_GETFL);
    int on = !(fl & O_NONBLOCK);
    if (by_ioctl)
        r = ioctl(fd, FIONBIO, &on);
    else
        r = fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
    int e = errno;
    OUT("nonblock slot=%d fd=%d ioctl=%d on=%d ret=%d errno=%s flags=0x%x", k, fd, by_ioctl, on, r,
        en(r, e), fcntl(fd, F_GETFL));
}

/* The program's own receive timeout: 30 ms, or off. */
static void op_timeo(struct slot *s, int k)
{
    int i = any_fd(s);
    if (i < 0)
        return;
    int fd = s->fd[i];
    int on = !s->rcvtimeo;
    struct timeval tv = {0, on ? 30000 : 0};
    errno = SENTINEL;
    int r = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int e = errno;
    if (r == 0)
        s->rcvtimeo = on;
    OUT("rcvtimeo slot=%d fd=%d on=%d ret=%d errno=%s", k, fd, on, r, en(r, e));
}

static void op_sockerr(struct slot *s, int k)
{
    int i = any_fd(s);
    if (i < 0)
        return;
    int fd = s->fd[i];
    int v = -1;
    socklen_t len = sizeof v;
    errno = SENTINEL;
    int r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &len);
    int e = errno;
    OUT("so_error slot=%d fd=%d ret=%d errno=%s value=%s fionread=%d", k, fd, r, en(r, e),
        ename(v), inq(fd));
}

static void op_poll(struct slot *s, int k)
{
    struct pollfd p[NFD + 1];
    int n = 0;
    for (int i = 0; i < NFD; i++)
        if (s->fd[i] >= 0)
            p[n++] = (struct pollfd){s->fd[i], POLLIN | POLLOUT | POLLRDHUP, 0};
    if (s->peer >= 0)
        p[n++] = (struct pollfd){s->peer, POLLIN | POLLOUT | POLLRDHUP, 0};
    if (!n)
        return;
    errno = SENTINEL;
    int r;
    int use_select = rnd_below(&g_rnd, 3) == 0;
    if (use_select) {
        fd_set rd, wr;
        FD_ZERO(&rd);
        FD_ZERO(&wr);
        int mx = -1;
        for (int i = 0; i < n; i++) {
            FD_SET(p[i].fd, &rd);
            FD_SET(p[i].fd, &wr);
            if (p[i].fd > mx)
                mx = p[i].fd;
        }
        struct timeval tv = {0, 0};
        r = select(mx + 1, &rd, &wr, NULL, &tv);
        int e = errno;
        char bits[64] = "";
        for (int i = 0; i < n; i++) {
            size_t l = strlen(bits);
            snprintf(bits + l, sizeof bits - l, "%d%d", FD_ISSET(p[i].fd, &rd) != 0,
                     FD_ISSET(p[i].fd, &wr) != 0);
        }
        OUT("select0 slot=%d n=%d ret=%d errno=%s bits=%s", k, n, r, en(r, e), bits);
        return;
    }
    r = poll(p, n, 0);
    int e = errno;
    char rv[96] = "";
    for (int i = 0; i < n; i++) {
        size_t l = strlen(rv);
        snprintf(rv + l, sizeof rv - l, "%x,", p[i].revents);
    }
    OUT("poll0 slot=%d n=%d ret=%d errno=%s revents=%s", k, n, r, en(r, e), rv);
}

static void op_reconnect(struct slot *s, int k)
{
    int i = any_fd(s);
    if (i < 0)
        return;
    int fd = s->fd[i];
    if (s->peer >= 0 ? 0 : !is_blocking(fd)) {
        OUT("reconnect slot=%d skip", k);
        return;
    }
    struct sockaddr_storage ss;
    socklen_t len = make_addr("127.0.0.1", g_port, &ss);
    errno = SENTINEL;
    int r = connect(fd, (struct sockaddr *)&ss, len);
    int e = errno;
    int acc = -1;
    if (r == 0 && s->peer < 0) {
        struct pollfd p = {g_listener, POLLIN, 0};
        if (poll(&p, 1, 2000) == 1)
            acc = accept(g_listener, NULL, NULL);
        s->peer = acc;
        s->to_peer = s->to_client = 0;
        if (acc >= 0)
            nodelay(acc);
    }
    OUT("connect_again slot=%d fd=%d ret=%d errno=%s peer=%d", k, fd, r, en(r, e), acc);
}

static void op_badfd(void)
{
    int fd = rnd_below(&g_rnd, 8) == 0 ? -1 : 900 + (int)rnd_below(&g_rnd, 50);
    int what = (int)rnd_below(&g_rnd, 8);
    char b[16];
    long r;
    errno = SENTINEL;
    switch (what) {
    case 0:
        r = read(fd, b, sizeof b);
        break;
    case 1:
        r = recv(fd, b, sizeof b, 0);
        break;
    case 2:
        r = send(fd, b, sizeof b, MSG_NOSIGNAL);
        break;
    case 3:
        r = write(fd, b, sizeof b);
        break;
    case 4:
        r = close(fd);
        break;
    case 5:
        r = dup(fd);
        break;
    case 6: {
        int v;
        socklen_t l = sizeof v;
        r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &l);
        break;
    }
    default: {
        struct pollfd p = {fd, POLLIN, 0};
        r = poll(&p, 1, 0);
        if (r == 1)
            r = 1000 + p.revents;
    }
    }
    int e = errno;
    OUT("badfd fd=%d call=%d ret=%ld errno=%s", fd, what, r, en(r, e));
}

/* ---- the peer's side ----------------------------------------------------- */

static void op_peer_send(struct slot *s, int k)
{
    if (s->peer < 0)
        return;
    size_t n = 1 + rnd_below(&g_rnd, 16384);
    if (s->to_client + (long)n > BUDGET) {
        OUT("peer_send slot=%d skip_budget", k);
        return;
    }
    errno = SENTINEL;
    ssize_t r = send(s->peer, g_pat + rnd_below(&g_rnd, 1000), n, MSG_DONTWAIT | MSG_NOSIGNAL);
    int e = errno;
    if (r > 0)
        s->to_client += r;
    OUT("peer_send slot=%d n=%zu ret=%zd errno=%s", k, n, r, en(r, e));
}

static void op_peer_drain(struct slot *s, int k)
{
    if (s->peer < 0)
        return;
    long total = 0;
    uint64_t h = FNV_INIT;
    ssize_t r;
    int e;
    for (int guard = 0; guard < 64; guard++) {
        errno = SENTINEL;
        r = recv(s->peer, g_buf, sizeof g_buf, MSG_DONTWAIT);
        e = errno;
        if (r <= 0)
            break;
        total += r;
        h = fnv(h, g_buf, r);
    }
    s->to_peer -= total;
    if (s->to_peer < 0)
        s->to_peer = 0;
    OUT("peer_drain slot=%d total=%ld sum=%016llx last=%zd errno=%s", k, total,
        (unsigned long long)h, r, en(r, e));
}

/* ---- fixed cases ----------------------------------------------------------- */

/* A connected pair on the listener: *c the program's blocking socket. */
static void pair(int *c, int *p)
{
    struct sockaddr_storage ss;
    socklen_t len = make_addr("127.0.0.1", g_port, &ss);
    *c = socket(AF_INET, SOCK_STREAM, 0);
    if (*c < 0 || connect(*c, (struct sockaddr *)&ss, len) != 0)
        die("connect");
    *p = accept(g_listener, NULL, NULL);
    if (*p < 0)
        die("accept");
    nodelay(*c);
    nodelay(*p);
}

#define CALL(label, expr)                                                                     \
    do {                                                                                      \
        guard(1);                                                                             \
        errno = SENTINEL;                                                                     \
        long r_ = (long)(expr);                                                               \
        int e_ = errno;                                                                       \
        guard(0);                                                                             \
        OUT("%s ret=%ld errno=%s", label, r_, en(r_, e_));                                   \
        g_step++;                                                                             \
    } while (0)

/* The peer closes with unread data: our side gets a reset. */
static void peer_reset(int p)
{
    char b[16];
    struct linger lg = {1, 0};
    (void)b;
    setsockopt(p, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(p);
}

static int run_case(const char *name)
{
    int c, p;
    struct sockaddr_storage ss;
    socklen_t len;
    char b[4096];
    g_step = 0;
    if (!strcmp(name, "connect_twice")) {
        pair(&c, &p);
        len = make_addr("127.0.0.1", g_port, &ss);
        CALL("connect_again", connect(c, (struct sockaddr *)&ss, len));
        CALL("connect_again", connect(c, (struct sockaddr *)&ss, len));
        CALL("send", send(c, "x", 1, MSG_NOSIGNAL));
        CALL("peer_recv", recv(p, b, sizeof b, MSG_DONTWAIT));
    } else if (!strcmp(name, "connect_refused_retry")) {
        c = socket(AF_INET, SOCK_STREAM, 0);
        len = make_addr("127.0.0.1", g_closed_port, &ss);
        CALL("connect_refused", connect(c, (struct sockaddr *)&ss, len));
        CALL("recv", recv(c, b, 1, 0));
        struct pollfd pf = {c, POLLIN | POLLOUT | POLLRDHUP, 0};
        CALL("poll0", poll(&pf, 1, 0));
        OUT("revents=0x%x", pf.revents);
        int v = -1;
        socklen_t vl = sizeof v;
        CALL("so_error", getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &vl));
        OUT("so_error_value=%s", ename(v));
        len = make_addr("127.0.0.1", g_port, &ss);
        CALL("connect_listener", connect(c, (struct sockaddr *)&ss, len));
        CALL("send", send(c, "y", 1, MSG_NOSIGNAL));
    } else if (!strcmp(name, "waitall_partial_reset")) {
        pair(&c, &p);
        send_all(p, g_pat, 100);
        CALL("peer_send_1", send(p, "z", 1, 0)); /* 101 bytes queued for us */
        CALL("send_to_peer", send(c, g_pat, 10, MSG_NOSIGNAL)); /* unread by the peer */
        sleep_ms(20);
        peer_reset(p);
        sleep_ms(20);
        CALL("recv_waitall_1000", recv(c, b, 1000, MSG_WAITALL));
        CALL("recv_after", recv(c, b, 1000, 0));
        CALL("recv_again", recv(c, b, 1000, 0));
    } else if (!strncmp(name, "waitall_reset_", 14)) {
        const char *then = name + 14;
        pair(&c, &p);
        int dupped = dup(c);
        send_all(p, g_pat, 101);
        CALL("send_to_peer", send(c, g_pat, 10, MSG_NOSIGNAL)); /* unread by the peer */
        sleep_ms(20);
        peer_reset(p);
        sleep_ms(20);
        CALL("recv_waitall_1000", recv(c, b, 1000, MSG_WAITALL));
        if (!strcmp(then, "poll")) {
            struct pollfd pf = {c, POLLIN | POLLOUT | POLLRDHUP, 0};
            CALL("poll0", poll(&pf, 1, 0));
            OUT("revents=0x%x", pf.revents);
        } else if (!strcmp(then, "so_error")) {
            int v = -1;
            socklen_t vl = sizeof v;
            CALL("so_error", getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &vl));
            OUT("so_error_value=%s", ename(v));
        } else if (!strcmp(then, "dontwait")) {
            CALL("recv_dontwait", recv(c, b, 1000, MSG_DONTWAIT));
        } else if (!strcmp(then, "dup")) {
            CALL("send_on_dup", send(dupped, "q", 1, MSG_NOSIGNAL));
        } else {
            fputs("unknown case\n", stderr);
            return 2;
        }
        CALL("recv_after", recv(c, b, 1000, 0));
        CALL("recv_again", recv(c, b, 1000, 0));
    } else if (!strcmp(name, "errqueue")) {
        pair(&c, &p);
        char ctl[256];
        struct iovec iv = {b, sizeof b};
        struct msghdr m = {.msg_iov = &iv, .msg_iovlen = 1, .msg_control = ctl,
                           .msg_controllen = sizeof ctl};
        CALL("recvmsg_errqueue_empty", recvmsg(c, &m, MSG_ERRQUEUE));
        CALL("recv_errqueue_empty", recv(c, b, sizeof b, MSG_ERRQUEUE));
        send_all(p, "data", 4);
        sleep_ms(20);
        CALL("recv_errqueue_data_pending", recv(c, b, sizeof b, MSG_ERRQUEUE));
        CALL("recv_data", recv(c, b, sizeof b, 0));
    } else if (!strcmp(name, "read_zero")) {
        pair(&c, &p);
        struct iovec iv[2] = {{b, 0}, {b, 0}};
        CALL("read_0_no_data", read(c, b, 0));
        CALL("readv_0_no_data", readv(c, iv, 2));
        CALL("peer_send", send(p, "abc", 3, 0));
        CALL("send_to_peer", send(c, g_pat, 10, MSG_NOSIGNAL));
        sleep_ms(20);
        CALL("read_1", read(c, b, 1));
        peer_reset(p);
        sleep_ms(20);
        CALL("read_0_reset_pending", read(c, b, 0));
        CALL("readv_0_reset_pending", readv(c, iv, 2));
        CALL("read_rest", read(c, b, sizeof b));
        CALL("read_after", read(c, b, sizeof b));
    } else {
        fputs("unknown case\n", stderr);
        return 2;
    }
    printf("end case=%s\n", name);
    return 0;
}

int main(int argc, char **argv)
{
    stdout_lines();
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {0};
    sa.sa_handler = on_guard; /* no SA_RESTART: a blocked call returns EINTR */
    sigaction(SIGALRM, &sa, NULL);
    if (argc < 3) {
        fputs("usage: stress_diff SEED STEPS | stress_diff case NAME\n", stderr);
        return 2;
    }
    uint64_t ps = 99;
    fill_rnd(&ps, g_pat, sizeof g_pat);
    g_listener = tcp_listen("127.0.0.1", 64, &g_port);
    {
        int t = tcp_listen("127.0.0.1", 1, &g_closed_port);
        close(t); /* nothing listens there now */
    }
    if (!strcmp(argv[1], "case"))
        return run_case(argv[2]);
    g_rnd = strtoull(argv[1], NULL, 10) * 0x9E3779B97F4A7C15ULL + 1;
    long steps = atol(argv[2]);
    for (int k = 0; k < NSLOT; k++) {
        for (int i = 0; i < NFD; i++)
            g_s[k].fd[i] = -1;
        g_s[k].peer = -1;
    }
    long ops = 0;
    for (g_step = 0; g_step < steps; g_step++) {
        int k = (int)rnd_below(&g_rnd, NSLOT);
        struct slot *s = &g_s[k];
        if (!has_client(s) && s->peer < 0) {
            guard(1);
            op_open(s, k);
            guard(0);
            ops++;
            continue;
        }
        int w = (int)rnd_below(&g_rnd, 100);
        guard(1);
        if (w < 16)
            op_send(s, k);
        else if (w < 34)
            op_recv(s, k);
        else if (w < 44)
            op_peer_send(s, k);
        else if (w < 54)
            op_peer_drain(s, k);
        else if (w < 58)
            op_shutdown(s, k, (int)rnd_below(&g_rnd, 2));
        else if (w < 62)
            op_close(s, k, 0);
        else if (w < 65)
            op_close(s, k, 1);
        else if (w < 71)
            op_dup(s, k);
        else if (w < 77)
            op_nonblock(s, k);
        else if (w < 82)
            op_sockerr(s, k);
        else if (w < 90)
            op_poll(s, k);
        else if (w < 93)
            op_reconnect(s, k);
        else if (w < 95)
            op_badfd();
        else if (w < 97)
            op_timeo(s, k);
        else if (!has_client(s) || s->peer < 0) {
            /* a half-dead slot: finish it so that it can be reopened */
            op_close(s, k, 0);
            op_close(s, k, 1);
        } else {
            op_poll(s, k);
        }
        guard(0);
        ops++;
    }
    printf("end steps=%ld ops=%ld\n", steps, ops);
    return 0;
}

/*
 * stress_fds: descriptor classification under reuse, duplication, passing
 * and inheritance, at high numbers, and with fd 2 closed. Run under the
 * library with a short T (TIMEOUTSOCK_SECS=0.3); every mode prints
 * "check name=... ok=0|1 ..." lines (see stress_common.h) and a final
 * "result failures=N ..." line, and exits 0 only when all checks passed.
 *
 *   stress_fds churn T ROUNDS CHURNERS
 *       CHURNERS threads open and close files, pipes, socketpairs, Unix and
 *       TCP sockets and dup/dup2/dup3/F_DUPFD(_CLOEXEC)/close_range copies as
 *       fast as they can, reading and writing through them; meanwhile each
 *       round starts checks on freshly reused numbers: a pipe, socketpair or
 *       accepted Unix socket must still block at 1 s, a TCP socket on a
 *       silent peer must time out.
 *   stress_fds dupkinds T
 *       Each duplication kind: a TCP socket's copy times out; a pipe's copy
 *       onto a TCP number (or the lowest free number, last used by TCP)
 *       blocks.
 *   stress_fds stale T CLOSER
 *       A TCP socket times out in poll (the library marks it timed out), is
 *       closed by CLOSER (close, close_range, close_range_unshare, fclose,
 *       closefrom, dup2), and a pipe takes its number: the pipe must read
 *       its byte, and block when empty.
 *   stress_fds scm T
 *       A TCP socket and a pipe passed over a Unix socket (SCM_RIGHTS) to a
 *       forked receiver and to a thread of this process: the TCP socket
 *       times out there, the pipe blocks.
 *   stress_fds exec T
 *       A TCP socket and a pipe inherited by an exec'd child (this program,
 *       mode execchild): the socket times out in the child, the pipe blocks.
 *   stress_fds highfd T
 *       RLIMIT_NOFILE raised to 1048576 (or the hard limit): TCP sockets
 *       dup2'd to 70000, 1000000 and the highest number time out (read,
 *       poll, epoll), a pipe there blocks, an echo there passes data.
 *   stress_fds fd2 T reuse|closed
 *       fd 2 closed; a TCP socket times out with TIMEOUTSOCK_LOG=1 (reuse:
 *       the socket itself is fd 2): ETIMEDOUT, no crash, and the peer
 *       receives no byte.
 */
#include "stress_common.h"
#include <sys/epoll.h>
#include <sys/syscall.h>

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE 2
#endif

static double g_t = 0.3;
static int g_silent_port;  /* listener that never accepts: reads hang */
static int g_echo_port;    /* accepts, echoes one message, closes */
static char g_unix_name[108];

/* ---- in-process servers -------------------------------------------------- */

static void *echo_once_thread(void *arg)
{
    int l = (int)(intptr_t)arg;
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0) {
            sleep_ms(1);
            continue;
        }
        char b[256];
        ssize_t r = recv(c, b, sizeof b, 0);
        if (r > 0)
            send_all(c, b, r);
        close(c);
    }
    return NULL;
}

static socklen_t unix_addr(struct sockaddr_un *a)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    /* abstract namespace: no file to clean up */
    size_t n = strlen(g_unix_name + 1) + 1;
    memcpy(a->sun_path, g_unix_name, n);
    return offsetof(struct sockaddr_un, sun_path) + n;
}

static void start_servers(int echo_threads)
{
    int l = tcp_listen("127.0.0.1", 4096, &g_silent_port);
    (void)l; /* held open, never accepted */
    int e = tcp_listen("127.0.0.1", 4096, &g_echo_port);
    for (int i = 0; i < echo_threads; i++) {
        pthread_t t;
        pthread_create(&t, NULL, echo_once_thread, (void *)(intptr_t)e);
        pthread_detach(t);
    }
    g_unix_name[0] = 0;
    snprintf(g_unix_name + 1, sizeof g_unix_name - 1, "timeoutsock-stress-%d", getpid());
    int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    socklen_t al = unix_addr(&a);
    if (u < 0 || bind(u, (struct sockaddr *)&a, al) != 0 || listen(u, 4096) != 0)
        die("unix listener");
    for (int i = 0; i < echo_threads; i++) {
        pthread_t t;
        pthread_create(&t, NULL, echo_once_thread, (void *)(intptr_t)u);
        pthread_detach(t);
    }
}

static int unix_connect(void)
{
    struct sockaddr_un a;
    socklen_t al = unix_addr(&a);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, al) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* A TCP exchange with the echo-once server; the socket is returned open
 * (at EOF, classified TCP by the library). -1 on failure. */
static int tcp_used(void)
{
    int fd = tcp_connect("127.0.0.1", g_echo_port);
    if (fd < 0)
        return -1;
    char b[8] = "abcdefg";
    if (send_all(fd, b, 8) != 0 || recv_all(fd, b, 8) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A TCP socket connected to the silent listener: a read on it hangs. */
static int tcp_silent(void)
{
    int fd = tcp_connect("127.0.0.1", g_silent_port);
    if (fd < 0)
        die("connect(silent)");
    return fd;
}

/* A pipe, both ends classified (a byte written and read through them). */
static void pipe_used(int p[2])
{
    char x;
    if (pipe(p) != 0)
        die("pipe");
    if (write(p[1], "x", 1) != 1 || read(p[0], &x, 1) != 1)
        die("pipe use");
}

/* ---- churn ------------------------------------------------------------- */

static atomic_int g_stop;
static atomic_long g_ops, g_wrong; /* wrong: a non-TCP call failed with ETIMEDOUT */
static atomic_long g_tcp_etimedout, g_wrong_printed;

static void wrong(const char *what, int e)
{
    atomic_fetch_add(&g_wrong, 1);
    if (atomic_fetch_add(&g_wrong_printed, 1) < 10)
        printf("churn_error op=%s errno=%s\n", what, ename(e));
}

/* One pass of I/O through a pair of descriptors that must never time out. */
static void io_pair(const char *what, int rfd, int wfd)
{
    char b[8] = "0123456", c[8];
    if (write(wfd, b, 8) != 8) {
        wrong(what, errno);
        return;
    }
    ssize_t r = read(rfd, c, 8);
    if (r != 8 && r >= 0)
        r = read(rfd, c + r, 8 - r) + r;
    if (r != 8)
        wrong(what, r < 0 ? errno : EPROTO);
}

static void *churn_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t rnd = 0x1234567ULL + id * 7919ULL;
    int base = 400 + id * 32; /* this thread's own range for dup2/close_range */
    while (!atomic_load(&g_stop)) {
        int p[2], fd, d;
        switch (rnd_below(&rnd, 9)) {
        case 0:
            if (pipe2(p, rnd_below(&rnd, 2) ? O_CLOEXEC : 0) == 0) {
                io_pair("pipe", p[0], p[1]);
                close(p[0]);
                close(p[1]);
            }
            break;
        case 1:
            if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) == 0) {
                io_pair("socketpair", p[0], p[1]);
                io_pair("socketpair", p[1], p[0]);
                close(p[0]);
                close(p[1]);
            }
            break;
        case 2:
            fd = open("/dev/zero", O_RDONLY);
            if (fd >= 0) {
                char b[16];
                if (read(fd, b, sizeof b) != (ssize_t)sizeof b)
                    wrong("file", errno);
                close(fd);
            }
            break;
        case 3:
            fd = tcp_connect("127.0.0.1", g_echo_port);
            if (fd >= 0) {
                char b[8] = "tcp1234";
                if (send_all(fd, b, 8) != 0 || recv_all(fd, b, 8) != 0) {
                    if (errno == ETIMEDOUT)
                        atomic_fetch_add(&g_tcp_etimedout, 1);
                }
                close(fd);
            }
            break;
        case 4:
            fd = unix_connect();
            if (fd >= 0) {
                char b[8] = "unix123";
                if (send_all(fd, b, 8) != 0 || recv_all(fd, b, 8) != 0)
                    wrong("unix", errno);
                close(fd);
            }
            break;
        case 5: /* dup family on a pipe: I/O through the copies */
            if (pipe(p) == 0) {
                int k = (int)rnd_below(&rnd, 5);
                int target = base + (int)rnd_below(&rnd, 16);
                if (k == 0)
                    d = dup(p[0]);
                else if (k == 1)
                    d = dup2(p[0], target);
                else if (k == 2)
                    d = dup3(p[0], target, O_CLOEXEC);
                else if (k == 3)
                    d = fcntl(p[0], F_DUPFD, base);
                else
                    d = fcntl(p[0], F_DUPFD_CLOEXEC, base);
                if (d >= 0) {
                    io_pair("dup_pipe", d, p[1]);
                    close(d);
                }
                close(p[0]);
                close(p[1]);
            }
            break;
        case 6: /* dup family on a TCP socket */
            fd = tcp_connect("127.0.0.1", g_echo_port);
            if (fd >= 0) {
                int target = base + 16 + (int)rnd_below(&rnd, 16);
                d = rnd_below(&rnd, 2) ? dup2(fd, target) : fcntl(fd, F_DUPFD_CLOEXEC, base);
                if (d >= 0) {
                    char b[8] = "dup1234";
                    if (send_all(d, b, 8) != 0 || recv_all(d, b, 8) != 0)
                        if (errno == ETIMEDOUT)
                            atomic_fetch_add(&g_tcp_etimedout, 1);
                    close(d);
                }
                close(fd);
            }
            break;
        case 7: /* fill the own range with copies, close it with close_range */
            if (pipe(p) == 0) {
                int s = tcp_connect("127.0.0.1", g_echo_port);
                for (int i = 0; i < 32; i++)
                    dup2(i % 2 && s >= 0 ? s : p[0], base + i);
                close_range(base, base + 31, 0);
                if (s >= 0)
                    close(s);
                close(p[0]);
                close(p[1]);
            }
            break;
        default: /* an accepted Unix socket, I/O both ways */
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) == 0) {
                d = dup(p[1]);
                if (d >= 0) {
                    io_pair("socketpair_dup", p[0], d);
                    close(d);
                }
                close(p[0]);
                close(p[1]);
            }
        }
        atomic_fetch_add(&g_ops, 1);
    }
    return NULL;
}

/* Checks on numbers that were just something else. */
static int churn_round(int round)
{
    check_t cs[8];
    int n = 0, p[2], s, q[2];
    int keep[16], nk = 0;

    /* a pipe on a number TCP just left */
    s = tcp_used();
    if (s >= 0)
        close(s);
    if (pipe(p) != 0)
        die("pipe");
    check_start(&cs[n++], "pipe_after_tcp", p[0], p[1], EXPECT_BLOCK);
    keep[nk++] = p[0];
    keep[nk++] = p[1];

    /* a socketpair on a number TCP just left */
    s = tcp_used();
    if (s >= 0)
        close(s);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, q) != 0)
        die("socketpair");
    check_start(&cs[n++], "socketpair_after_tcp", q[0], q[1], EXPECT_BLOCK);
    keep[nk++] = q[0];
    keep[nk++] = q[1];

    /* an accepted Unix socket on a number TCP just left */
    {
        int l = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        int len = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "tsock-chk-%d-%d", getpid(),
                           round);
        socklen_t al = offsetof(struct sockaddr_un, sun_path) + 1 + len;
        if (l < 0 || bind(l, (struct sockaddr *)&a, al) != 0 || listen(l, 1) != 0)
            die("unix check listener");
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&a, al) != 0)
            die("unix check connect");
        s = tcp_used();
        if (s >= 0)
            close(s);
        int acc = accept(l, NULL, NULL);
        if (acc < 0)
            die("unix check accept");
        close(l);
        check_start(&cs[n++], "unix_accepted_after_tcp", acc, c, EXPECT_BLOCK);
        keep[nk++] = acc;
        keep[nk++] = c;
    }

    /* TCP on a number a pipe just left */
    pipe_used(p);
    close(p[0]);
    close(p[1]);
    s = tcp_silent();
    check_start(&cs[n++], "tcp_after_pipe", s, -1, EXPECT_TIMEOUT);
    keep[nk++] = s;

    /* TCP on a number a Unix socket just left */
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, q) != 0)
        die("socketpair");
    io_pair("check_socketpair", q[0], q[1]);
    close(q[0]);
    close(q[1]);
    s = tcp_silent();
    check_start(&cs[n++], "tcp_after_unix", s, -1, EXPECT_TIMEOUT);
    keep[nk++] = s;

    /* TCP dup2'd over a pipe */
    pipe_used(p);
    s = tcp_silent();
    if (dup2(s, p[0]) != p[0])
        die("dup2");
    close(s);
    close(p[1]);
    check_start(&cs[n++], "tcp_dup2_over_pipe", p[0], -1, EXPECT_TIMEOUT);
    keep[nk++] = p[0];

    /* a pipe dup2'd over a TCP socket */
    s = tcp_used();
    if (s < 0)
        s = tcp_silent();
    pipe_used(p);
    if (dup2(p[0], s) != s)
        die("dup2");
    close(p[0]);
    check_start(&cs[n++], "pipe_dup2_over_tcp", s, p[1], EXPECT_BLOCK);
    keep[nk++] = s;
    keep[nk++] = p[1];

    int f = check_finish(cs, n, g_t);
    for (int i = 0; i < nk; i++)
        close(keep[i]);
    return f;
}

static int cmd_churn(int rounds, int churners)
{
    watchdog(300);
    start_servers(4);
    pthread_t *t = calloc(churners, sizeof *t);
    for (int i = 0; i < churners; i++)
        pthread_create(&t[i], NULL, churn_thread, (void *)(intptr_t)i);
    int failures = 0;
    double t0 = now_ms();
    for (int r = 0; r < rounds; r++)
        failures += churn_round(r);
    atomic_store(&g_stop, 1);
    for (int i = 0; i < churners; i++)
        pthread_join(t[i], NULL);
    long w = atomic_load(&g_wrong);
    printf("result failures=%d churn_ops=%ld churn_non_tcp_errors=%ld churn_tcp_etimedout=%ld "
           "elapsed_ms=%.0f\n",
           failures, atomic_load(&g_ops), w, atomic_load(&g_tcp_etimedout), now_ms() - t0);
    return failures == 0 && w == 0 ? 0 : 1;
}

/* ---- dupkinds ---------------------------------------------------------- */

static int dup_kind(int kind, int old, int target)
{
    switch (kind) {
    case 0:
        return dup(old);
    case 1:
        return dup2(old, target);
    case 2:
        return dup3(old, target, O_CLOEXEC);
    case 3:
        return fcntl(old, F_DUPFD, 0);
    default:
        return fcntl(old, F_DUPFD_CLOEXEC, 0);
    }
}

static int cmd_dupkinds(void)
{
    watchdog(60);
    start_servers(2);
    static const char *names[] = {"dup", "dup2", "dup3", "F_DUPFD", "F_DUPFD_CLOEXEC"};
    check_t cs[16];
    int n = 0;
    for (int k = 0; k < 5; k++) {
        char name[64];
        int p[2];
        /* TCP copied (over a classified pipe for dup2/dup3) */
        pipe_used(p);
        int s = tcp_silent();
        int d = dup_kind(k, s, p[0]);
        if (d < 0)
            die("dup kind (tcp)");
        close(s);
        if (d != p[0])
            close(p[0]);
        close(p[1]);
        snprintf(name, sizeof name, "%s_of_tcp", names[k]);
        check_start(&cs[n++], name, d, -1, EXPECT_TIMEOUT);

        /* pipe copied over a classified TCP socket (dup2/dup3), or onto the
         * lowest free number, which a TCP socket just left */
        int t = tcp_used();
        if (t < 0)
            die("tcp_used");
        pipe_used(p);
        if (k != 1 && k != 2)
            close(t);
        d = dup_kind(k, p[0], t);
        if (d < 0)
            die("dup kind (pipe)");
        close(p[0]);
        snprintf(name, sizeof name, "%s_of_pipe_onto_tcp_number", names[k]);
        check_start(&cs[n++], name, d, p[1], EXPECT_BLOCK);
    }
    int f = check_finish(cs, n, g_t);
    printf("result failures=%d\n", f);
    return f ? 1 : 0;
}

/* ---- stale state after each way of closing ------------------------------- */

static int cmd_stale(const char *closer)
{
    watchdog(60);
    /* No server threads: a thread blocked in accept() holds a reserved
     * number, which would make the numbers below depend on timing. */
    start_servers(0);
    /* The socket takes the lowest free number, and so does the pipe after
     * it is closed. */
    int s = tcp_silent();
    struct pollfd pf = {s, POLLIN, 0};
    double t0 = now_ms();
    int r = poll(&pf, 1, (int)(g_t * 1000 * 10));
    printf("poll ret=%d revents=0x%x elapsed_ms=%.0f\n", r, pf.revents, now_ms() - t0);
    char x;
    errno = 0;
    ssize_t rr = read(s, &x, 1);
    printf("after_poll read ret=%zd errno=%s\n", rr, ename(rr < 0 ? errno : 0));
    int fail = !(r == 1 && rr == -1 && errno == ETIMEDOUT);
    FILE *f = NULL;
    if (!strcmp(closer, "close")) {
        close(s);
    } else if (!strcmp(closer, "close_range")) {
        close_range(s, s, 0);
    } else if (!strcmp(closer, "close_range_unshare")) {
        close_range(s, s, CLOSE_RANGE_UNSHARE);
    } else if (!strcmp(closer, "fclose")) {
        f = fdopen(s, "r+");
        if (!f)
            die("fdopen");
        fclose(f);
    } else if (!strcmp(closer, "closefrom")) {
        closefrom(s);
    } else if (!strcmp(closer, "dup2")) {
        int p[2];
        pipe_used(p);
        dup2(p[0], s);
        close(p[0]);
        close(p[1]);
        close(s); /* the number now holds the pipe copy; free it again */
    } else {
        die("unknown closer");
    }
    int p[2];
    if (pipe(p) != 0)
        die("pipe");
    printf("pipe fd=%d socket_was=%d\n", p[0], s);
    int same = p[0] == s;
    /* the pipe reads its byte */
    if (write(p[1], "y", 1) != 1)
        die("write");
    errno = 0;
    rr = read(p[0], &x, 1);
    int e = rr < 0 ? errno : 0;
    printf("check name=%s_pipe_reads_data expect=data ok=%d ret=%zd errno=%s\n", closer,
           rr == 1, rr, ename(e));
    fail += rr != 1;
    /* and blocks when empty */
    check_t c;
    check_start(&c, "pipe_blocks_when_empty", p[0], p[1], EXPECT_BLOCK);
    fail += check_finish(&c, 1, g_t);
    printf("result failures=%d same_number=%d\n", fail, same);
    return fail ? 1 : 0;
}

/* ---- SCM_RIGHTS -------------------------------------------------------- */

struct scm_rx {
    int via, flags, failures;
    int release_fd; /* write end of the passed pipe, for the in-process case */
    const char *who;
};

/* Receives {tcp, pipe} and checks them. The pipe is released by the
 * sender (other process) writing to it after HANG_MS, or by us. */
static int scm_receive_and_check(struct scm_rx *rx)
{
    int fds[2];
    /* make the likely numbers hot: a used TCP socket closed just before */
    int t = tcp_used();
    if (t >= 0)
        close(t);
    if (recv_fds(rx->via, fds, 2, rx->flags) != 0)
        die("recv_fds");
    check_t cs[2];
    char n1[64], n2[64];
    snprintf(n1, sizeof n1, "%s_received_tcp", rx->who);
    snprintf(n2, sizeof n2, "%s_received_pipe", rx->who);
    check_start(&cs[0], n1, fds[0], -1, EXPECT_TIMEOUT);
    check_start(&cs[1], n2, fds[1], rx->release_fd, EXPECT_BLOCK);
    return check_finish(cs, 2, g_t);
}

static void *scm_thread(void *arg)
{
    struct scm_rx *rx = arg;
    rx->failures = scm_receive_and_check(rx);
    return NULL;
}

static int cmd_scm(void)
{
    watchdog(60);
    start_servers(1);
    int failures = 0;
    /* 1: to a forked receiver (its own table) */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        die("socketpair");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        die_with_parent();
        close(sv[0]);
        struct scm_rx rx = {.via = sv[1], .flags = 0, .release_fd = -1, .who = "child"};
        int f = scm_receive_and_check(&rx);
        fflush(stdout);
        _exit(f ? 1 : 0);
    }
    close(sv[1]);
    int s = tcp_silent(), p[2];
    if (pipe(p) != 0)
        die("pipe");
    int fds[2] = {s, p[0]};
    if (send_fds(sv[0], fds, 2) != 0)
        die("send_fds");
    close(s);
    close(p[0]);
    /* the receiver's pipe check must still block at HANG_MS: release it
     * after that, from here */
    sleep_ms((long)HANG_MS + 300);
    if (write(p[1], "r", 1) != 1)
        die("write");
    int st = 0;
    double until = now_ms() + 10000;
    while (waitpid(pid, &st, WNOHANG) == 0 && now_ms() < until)
        sleep_ms(10);
    if (now_ms() >= until) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    int child_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    printf("check name=child_exit expect=0 ok=%d status=0x%x\n", child_ok, st);
    failures += !child_ok;
    close(p[1]);
    close(sv[0]);

    /* 2: to a thread of this process, with MSG_CMSG_CLOEXEC */
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        die("socketpair");
    s = tcp_silent();
    if (pipe(p) != 0)
        die("pipe");
    int fds2[2] = {s, p[0]};
    if (send_fds(sv[0], fds2, 2) != 0)
        die("send_fds");
    close(s);
    close(p[0]);
    struct scm_rx rx = {.via = sv[1], .flags = MSG_CMSG_CLOEXEC, .release_fd = p[1],
                        .who = "thread"};
    pthread_t t;
    pthread_create(&t, NULL, scm_thread, &rx);
    pthread_join(t, NULL);
    failures += rx.failures;
    printf("result failures=%d\n", failures);
    return failures ? 1 : 0;
}

/* ---- exec -------------------------------------------------------------- */

static int cmd_execchild(int tfd, int pfd)
{
    watchdog(30);
    check_t cs[2];
    check_start(&cs[0], "exec_inherited_tcp", tfd, -1, EXPECT_TIMEOUT);
    check_start(&cs[1], "exec_inherited_pipe", pfd, -1, EXPECT_BLOCK);
    int f = check_finish(cs, 2, g_t);
    printf("child_result failures=%d\n", f);
    return f ? 1 : 0;
}

static int cmd_exec(const char *self)
{
    watchdog(60);
    start_servers(1);
    int s = tcp_silent(), p[2];
    if (pipe(p) != 0)
        die("pipe");
    /* both inheritable: clear FD_CLOEXEC explicitly */
    fcntl(s, F_SETFD, 0);
    fcntl(p[0], F_SETFD, 0);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    char a1[16], a2[16], ts[32];
    snprintf(a1, sizeof a1, "%d", s);
    snprintf(a2, sizeof a2, "%d", p[0]);
    snprintf(ts, sizeof ts, "%g", g_t);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        die_with_parent();
        execl("/proc/self/exe", self, "execchild", ts, a1, a2, (char *)NULL);
        _exit(127);
    }
    close(s);
    close(p[0]);
    sleep_ms((long)HANG_MS + 300);
    if (write(p[1], "r", 1) != 1)
        die("write");
    int st = 0;
    double until = now_ms() + 10000;
    while (waitpid(pid, &st, WNOHANG) == 0 && now_ms() < until)
        sleep_ms(10);
    if (now_ms() >= until) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    printf("result failures=%d child_status=0x%x\n", !ok, st);
    return ok ? 0 : 1;
}

/* ---- high descriptor numbers ---------------------------------------------- */

struct waiter {
    int fd, kind; /* 0 poll, 1 epoll */
    int ret, err, rd_ret, rd_err;
    double ms;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    double t0 = now_ms();
    if (w->kind == 0) {
        struct pollfd pf = {w->fd, POLLIN, 0};
        w->ret = poll(&pf, 1, 10000);
    } else {
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = w->fd}, out;
        epoll_ctl(ep, EPOLL_CTL_ADD, w->fd, &ev);
        w->ret = epoll_wait(ep, &out, 1, 10000);
        close(ep);
    }
    w->err = w->ret < 0 ? errno : 0;
    w->ms = now_ms() - t0;
    char x;
    w->rd_ret = (int)read(w->fd, &x, 1);
    w->rd_err = w->rd_ret < 0 ? errno : 0;
    return NULL;
}

static void *echo_conn_thread(void *arg)
{
    int c = (int)(intptr_t)arg;
    char b[65536];
    for (;;) {
        ssize_t r = recv(c, b, sizeof b, 0);
        if (r <= 0)
            break;
        if (send_all(c, b, r) != 0)
            break;
    }
    close(c);
    return NULL;
}

static int cmd_highfd(void)
{
    watchdog(60);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    struct rlimit want = {1048576, 1048576};
    int raised = setrlimit(RLIMIT_NOFILE, &want) == 0;
    if (!raised) {
        want.rlim_cur = want.rlim_max = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &want);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    long top = (long)rl.rlim_cur - 1;
    printf("rlimit cur=%ld max=%ld raised=%d\n", (long)rl.rlim_cur, (long)rl.rlim_max, raised);
    start_servers(1);
    int failures = 0;
    check_t cs[8];
    int n = 0;
    /* wanted numbers, or the highest ones this limit allows */
#define AT(want, k) ((want) <= top - 8 ? (long)(want) : top - (k))
    long tcp_at[4] = {1024, AT(70000, 7), AT(1000000, 6), top};
    char name[64];
    for (int i = 0; i < 4; i++) {
        int s = tcp_silent();
        int d = dup2(s, (int)tcp_at[i]);
        if (d != tcp_at[i])
            die("dup2 high");
        close(s);
        snprintf(name, sizeof name, "tcp_at_%ld", tcp_at[i]);
        check_start(&cs[n++], name, d, -1, EXPECT_TIMEOUT);
    }
    {
        int p[2];
        pipe_used(p);
        long at = AT(999999, 1);
        int d = dup2(p[0], (int)at);
        close(p[0]);
        snprintf(name, sizeof name, "pipe_at_%ld", at);
        check_start(&cs[n++], name, d, p[1], EXPECT_BLOCK);
    }
    {
        int q[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, q) != 0)
            die("socketpair");
        long at = AT(1000003, 2);
        int d = dup2(q[0], (int)at);
        close(q[0]);
        snprintf(name, sizeof name, "unix_at_%ld", at);
        check_start(&cs[n++], name, d, q[1], EXPECT_BLOCK);
    }
    /* waits on high numbers */
    struct waiter w[2] = {{.fd = -1}, {.fd = -1}};
    pthread_t wt[2];
    long wat[2] = {AT(1000001, 3), AT(70001, 4)};
    for (int i = 0; i < 2; i++) {
        int s = tcp_silent();
        w[i].fd = dup2(s, (int)wat[i]);
        w[i].kind = i;
        close(s);
        pthread_create(&wt[i], NULL, wait_thread, &w[i]);
    }
    /* pass-through: an echo at a high number moves 1 MiB intact */
    {
        int port;
        int l = tcp_listen("127.0.0.1", 4, &port);
        int c = tcp_connect("127.0.0.1", port);
        int a = accept(l, NULL, NULL);
        close(l);
        pthread_t et;
        pthread_create(&et, NULL, echo_conn_thread, (void *)(intptr_t)a);
        long at = AT(1000002, 5);
        int d = dup2(c, (int)at);
        close(c);
        static unsigned char out[1 << 20], in[1 << 20];
        uint64_t seed = 42;
        fill_rnd(&seed, out, sizeof out);
        int ok = 1;
        for (size_t off = 0; off < sizeof out && ok; off += 65536) {
            ok = send_all(d, out + off, 65536) == 0 && recv_all(d, in + off, 65536) == 0;
        }
        ok = ok && memcmp(in, out, sizeof out) == 0;
        printf("check name=echo_at_%ld expect=data ok=%d\n", at, ok);
        failures += !ok;
        shutdown(d, SHUT_WR);
        pthread_join(et, NULL);
        close(d);
    }
    failures += check_finish(cs, n, g_t);
    for (int i = 0; i < 2; i++) {
        if (w[i].fd < 0)
            continue;
        pthread_join(wt[i], NULL);
        double hi = g_t * 1000 + 1000;
        int ok = w[i].ret == 1 && w[i].ms >= 0.8 * g_t * 1000 && w[i].ms <= hi &&
                 w[i].rd_ret == -1 && w[i].rd_err == ETIMEDOUT;
        printf("check name=%s_at_%ld expect=timeout ok=%d ret=%d elapsed_ms=%.0f read_ret=%d "
               "read_errno=%s\n",
               w[i].kind ? "epoll" : "poll", wat[i], ok, w[i].ret, w[i].ms, w[i].rd_ret,
               ename(w[i].rd_err));
        failures += !ok;
    }
    printf("result failures=%d top=%ld\n", failures, top);
    return failures ? 1 : 0;
}

/* ---- fd 2 closed ------------------------------------------------------- */

static int cmd_fd2(const char *how)
{
    watchdog(30);
    int port;
    int l = tcp_listen("127.0.0.1", 8, &port);
    int reuse = !strcmp(how, "reuse");
    if (reuse)
        close(2); /* the next socket takes fd 2 */
    int c = tcp_connect("127.0.0.1", port);
    if (c < 0)
        die("connect");
    int a = accept(l, NULL, NULL);
    if (a < 0)
        die("accept");
    int c2 = tcp_connect("127.0.0.1", port);
    int a2 = accept(l, NULL, NULL);
    if (c2 < 0 || a2 < 0)
        die("connect 2");
    if (!reuse)
        close(2);
    int fail = 0;
    char b[512];
    double t0 = now_ms();
    errno = 0;
    ssize_t r = recv(c, b, 1, 0);
    int e = errno;
    double ms = now_ms() - t0;
    int ok = r == -1 && e == ETIMEDOUT && ms >= 0.8 * g_t * 1000 && ms <= g_t * 1000 + 1000;
    printf("check name=recv_fd%d expect=timeout ok=%d ret=%zd errno=%s elapsed_ms=%.0f\n", c, ok,
           r, ename(e), ms);
    fail += !ok;
    /* a wait that times out: the library logs, then aborts the connection */
    struct pollfd pf = {c2, POLLIN, 0};
    t0 = now_ms();
    int pr = poll(&pf, 1, 10000);
    ms = now_ms() - t0;
    errno = 0;
    r = recv(c2, b, 1, 0);
    e = errno;
    ok = pr == 1 && r == -1 && e == ETIMEDOUT && ms <= g_t * 1000 + 1000;
    printf("check name=poll_fd%d expect=timeout ok=%d ret=%d recv_errno=%s elapsed_ms=%.0f\n", c2,
           ok, pr, ename(e), ms);
    fail += !ok;
    /* the peers must have received nothing: the log is not the program's
     * data */
    for (int i = 0; i < 2; i++) {
        int peer = i ? a2 : a;
        ssize_t got = recv(peer, b, sizeof b - 1, MSG_DONTWAIT);
        int pe = got < 0 ? errno : 0;
        ok = got <= 0 && (got == 0 || pe == EAGAIN || pe == ECONNRESET);
        if (got > 0) {
            b[got] = 0;
            for (ssize_t k = 0; k < got; k++)
                if (b[k] == '\n' || b[k] == ' ')
                    b[k] = '_';
        }
        printf("check name=peer%d_received_nothing expect=0 ok=%d got=%zd errno=%s data=%s\n", i,
               ok, got, ename(pe), got > 0 ? b : "");
        fail += !ok;
    }
    printf("result failures=%d\n", fail);
    return fail ? 1 : 0;
}

int main(int argc, char **argv)
{
    stdout_lines();
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 3)
        g_t = atof(argv[2]);
    if (argc >= 5 && !strcmp(argv[1], "churn"))
        return cmd_churn(atoi(argv[3]), atoi(argv[4]));
    if (argc >= 3 && !strcmp(argv[1], "dupkinds"))
        return cmd_dupkinds();
    if (argc >= 4 && !strcmp(argv[1], "stale"))
        return cmd_stale(argv[3]);
    if (argc >= 3 && !strcmp(argv[1], "scm"))
        return cmd_scm();
    if (argc >= 3 && !strcmp(argv[1], "exec"))
        return cmd_exec(argv[0]);
    if (argc >= 5 && !strcmp(argv[1], "execchild"))
        return cmd_execchild(atoi(argv[3]), atoi(argv[4]));
    if (argc >= 3 && !strcmp(argv[1], "highfd"))
        return cmd_highfd();
    if (argc >= 4 && !strcmp(argv[1], "fd2"))
        return cmd_fd2(argv[3]);
    fputs("usage: stress_fds churn T ROUNDS CHURNERS | dupkinds T | stale T CLOSER | scm T | "
          "exec T | highfd T | fd2 T reuse|closed\n",
          stderr);
    return 2;
}

/*
 * stress_fork: servers and clients that fork, vfork, posix_spawn and exec
 * under the library. Every mode prints "check name=... ok=0|1 ..." lines
 * and a final "result failures=N ..." line; exit 0 only when all passed.
 * T (seconds) is the TIMEOUTSOCK_SECS the harness runs us with.
 *
 *   stress_fork prefork T WORKERS ROUNDS
 *       WORKERS forked processes block in accept() on one shared listener
 *       and echo; this process is the client: ROUNDS rounds of 2·WORKERS
 *       concurrent connections, with 2.5·T of silence between rounds (the
 *       workers sit in accept longer than T). Workers print
 *       "accept_error pid=P errno=E" for any accept failure.
 *   stress_fork perconn T CLIENTS CONNS
 *       A fork-per-connection echo server (the main thread accepts, a child
 *       per connection echoes until EOF) and CLIENTS client threads of the
 *       same process, each making CONNS connections of three messages with
 *       pauses of 0.4·T; the first client comes after 1.5·T (accept idle
 *       longer than T). One extra client connects and stays silent: its
 *       server child's read must time out.
 *   stress_fork vfork T CASE
 *       CASE close_range: a vfork child runs close_range(3, ~0U, 0) and execs
 *            /bin/true; the parent's socket, registered in epoll, must still
 *            time out in epoll_wait.
 *       CASE dup2_stdin: the parent's TCP socket is fd 0 (inetd style); a
 *            vfork child dup2()s a pipe onto 0 and execs /bin/true; the
 *            parent's read on fd 0 must still time out.
 *       CASE exec: a vfork child execs this program (execchild) with the
 *            TCP socket and a pipe inherited: the socket times out there,
 *            the pipe blocks; the parent's own socket still times out.
 *       CASE spawn: posix_spawn with dup2/close/closefrom file actions, the
 *            same checks.
 *       CASE close_range_threads: as close_range, while another thread of
 *            the parent opens and closes sockets the whole time and the
 *            child waits 20 ms before its close_range (a multithreaded
 *            program's vfork: only the calling thread is suspended).
 *       CASE shared: vfork's own promises: the parent resumes only after the
 *            child's exec or _exit, and sees what the child wrote to memory
 *            (the idiom that reports a failed exec's errno that way).
 *   stress_fork mtfork T THREADS FORKS
 *       THREADS threads run echo exchanges through every kind of hook while
 *       the main thread forks FORKS children; each child does a TCP echo
 *       exchange (every tenth also a read that must time out) and exits 0.
 *   stress_fork execchild T TCPFD PIPEFD
 *       (internal) the checks on inherited descriptors.
 */
#include "stress_common.h"
#include <spawn.h>
#include <sys/epoll.h>

extern char **environ;

static double g_t = 1.0;

static int wait_child(pid_t pid, double limit_ms)
{
    int st = 0;
    double until = now_ms() + limit_ms;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0)
            return -1;
        if (now_ms() >= until) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -2;
        }
        sleep_ms(5);
    }
}

static int check_line(const char *name, int ok, const char *fmt, ...)
{
    char extra[256] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(extra, sizeof extra, fmt, ap);
        va_end(ap);
    }
    printf("check name=%s ok=%d %s\n", name, ok, extra);
    return !ok;
}

/* One echo exchange of n bytes on a fresh connection; 0 if intact. */
static int echo_exchange(int port, size_t n, uint64_t seed, int variant)
{
    unsigned char out[8192], in[8192];
    if (n > sizeof out)
        n = sizeof out;
    fill_rnd(&seed, out, n);
    int fd = tcp_connect("127.0.0.1", port);
    if (fd < 0)
        return -1;
    int ok = 0;
    if (variant % 3 == 0) {
        ok = send_all(fd, out, n) == 0 && recv_all(fd, in, n) == 0;
    } else if (variant % 3 == 1) {
        struct iovec iv[2] = {{out, n / 2}, {out + n / 2, n - n / 2}};
        ok = writev(fd, iv, 2) == (ssize_t)n;
        size_t got = 0;
        while (ok && got < n) {
            struct pollfd pf = {fd, POLLIN, 0};
            if (poll(&pf, 1, 10000) != 1) {
                ok = 0;
                break;
            }
            ssize_t r = read(fd, in + got, n - got);
            if (r <= 0)
                ok = 0;
            else
                got += r;
        }
    } else {
        ok = write(fd, out, n) == (ssize_t)n && recv(fd, in, n, MSG_WAITALL) == (ssize_t)n;
    }
    ok = ok && memcmp(in, out, n) == 0;
    close(fd);
    return ok ? 0 : -1;
}

/* ---- echo server pieces ------------------------------------------------ */

static void echo_until_eof(int c)
{
    char b[8192];
    for (;;) {
        ssize_t r = read(c, b, sizeof b);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (send_all(c, b, r) != 0)
            break;
    }
}

static void *echo_server_thread(void *arg)
{
    int l = (int)(intptr_t)arg;
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0) {
            if (errno == EINVAL)
                return NULL; /* listener shut down */
            sleep_ms(1);
            continue;
        }
        echo_until_eof(c);
        close(c);
    }
}

/* ---- prefork ----------------------------------------------------------- */

struct pclient {
    int port, id, ok;
};

static void *prefork_client(void *arg)
{
    struct pclient *c = arg;
    c->ok = echo_exchange(c->port, 1000 + c->id * 37, 1000 + c->id, c->id) == 0;
    return NULL;
}

static int cmd_prefork(int workers, int rounds)
{
    watchdog(120);
    int port;
    int l = tcp_listen("127.0.0.1", 128, &port);
    pid_t pids[64];
    if (workers > 64)
        workers = 64;
    fflush(stdout);
    for (int i = 0; i < workers; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            die("fork");
        if (pids[i] == 0) {
            die_with_parent();
            for (;;) {
                int c = accept(l, NULL, NULL);
                if (c < 0) {
                    printf("accept_error pid=%d errno=%s\n", getpid(), ename(errno));
                    sleep_ms(10);
                    continue;
                }
                echo_until_eof(c);
                close(c);
            }
        }
    }
    close(l); /* only the workers hold the listener now */
    int failures = 0, total = 0, good = 0;
    for (int r = 0; r < rounds; r++) {
        if (r > 0)
            sleep_ms((long)(2.5 * g_t * 1000)); /* workers idle in accept > T */
        int n = 2 * workers;
        struct pclient cs[128];
        pthread_t t[128];
        for (int i = 0; i < n; i++) {
            cs[i] = (struct pclient){port, r * 1000 + i, 0};
            pthread_create(&t[i], NULL, prefork_client, &cs[i]);
        }
        for (int i = 0; i < n; i++) {
            pthread_join(t[i], NULL);
            total++;
            good += cs[i].ok;
        }
    }
    failures += check_line("prefork_echoes", good == total, "good=%d total=%d", good, total);
    int alive = 0;
    for (int i = 0; i < workers; i++) {
        /* a worker that is gone crashed or exited on an accept error */
        alive += waitpid(pids[i], NULL, WNOHANG) == 0;
        kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
    }
    failures += check_line("prefork_workers_alive", alive == workers, "alive=%d workers=%d",
                           alive, workers);
    printf("result failures=%d connections=%d\n", failures, total);
    return failures ? 1 : 0;
}

/* ---- fork per connection ---------------------------------------------- */

static int g_port;
static atomic_int g_good, g_total;

static void *perconn_client(void *arg)
{
    int id = (int)(intptr_t)arg;
    int conns = id >> 8;
    id &= 0xff;
    for (int k = 0; k < conns; k++) {
        int fd = tcp_connect("127.0.0.1", g_port);
        atomic_fetch_add(&g_total, 1);
        if (fd < 0)
            continue;
        int ok = 1;
        for (int m = 0; m < 3 && ok; m++) {
            unsigned char out[3000], in[3000];
            uint64_t seed = id * 7777 + k * 31 + m + 1;
            size_t n = 1 + rnd_below(&seed, sizeof out);
            fill_rnd(&seed, out, n);
            ok = send_all(fd, out, n) == 0 && recv_all(fd, in, n) == 0 &&
                 memcmp(in, out, n) == 0;
            if (m < 2)
                sleep_ms((long)(0.4 * g_t * 1000));
        }
        close(fd);
        atomic_fetch_add(&g_good, ok);
    }
    return NULL;
}

/* The client side, in its own process (forked before any connection, so
 * that server children never hold copies of client sockets): after 1.5 T
 * (the server sits in accept meanwhile), CLIENTS threads make their
 * connections, plus one silent client that is held until its server child
 * timed out. Exit status: the number of failed connections (max 100). */
static int perconn_clients(int clients, int conns)
{
    sleep_ms((long)(1.5 * g_t * 1000));
    pthread_t t[64];
    for (int i = 0; i < clients; i++)
        pthread_create(&t[i], NULL, perconn_client, (void *)(intptr_t)(i | conns << 8));
    int silent = tcp_connect("127.0.0.1", g_port); /* never sends */
    for (int i = 0; i < clients; i++)
        pthread_join(t[i], NULL);
    char x;
    /* the server child cuts the silent connection after T: we see EOF */
    struct pollfd pf = {silent, POLLIN, 0};
    poll(&pf, 1, (int)(g_t * 1000) + 5000);
    ssize_t r = recv(silent, &x, 1, MSG_DONTWAIT);
    int bad = clients * conns - atomic_load(&g_good) + (r != 0);
    return bad > 100 ? 100 : bad;
}

static volatile sig_atomic_t g_sigchld;
static void on_sigchld(int sig)
{
    (void)sig;
    g_sigchld = 1;
}

static int cmd_perconn(int clients, int conns)
{
    watchdog(120);
    int l = tcp_listen("127.0.0.1", 128, &g_port);
    if (clients > 64)
        clients = 64;
    /* SIGCHLD without SA_RESTART: accept returns EINTR when a child ends,
     * as in classic fork-per-connection servers that reap there */
    struct sigaction sa = {0};
    sa.sa_handler = on_sigchld;
    sigaction(SIGCHLD, &sa, NULL);
    fflush(stdout);
    pid_t cpid = fork();
    if (cpid < 0)
        die("fork");
    if (cpid == 0) {
        die_with_parent();
        close(l);
        signal(SIGCHLD, SIG_DFL);
        _exit(perconn_clients(clients, conns));
    }
    pid_t kids[1024];
    int nkids = 0, child_fail = 0, silent_timeouts = 0, accept_errors = 0, eintr = 0;
    int accepted = 0, want = clients * conns + 1, client_status = -1;
    double t0 = now_ms(), first_ms = -1;
    while (client_status < 0) {
        int c = accept(l, NULL, NULL);
        if (c < 0 && errno == EINTR) {
            eintr++;
        } else if (c < 0) {
            accept_errors++;
            printf("accept_error errno=%s\n", ename(errno));
            sleep_ms(10);
        } else {
            if (first_ms < 0)
                first_ms = now_ms() - t0;
            accepted++;
            fflush(stdout);
            pid_t pid = fork();
            if (pid < 0)
                die("fork");
            if (pid == 0) {
                die_with_parent();
                close(l);
                /* echo; a read that times out ends the child with 3 */
                char b[8192];
                int code = 0;
                double r0 = now_ms();
                for (;;) {
                    ssize_t r = read(c, b, sizeof b);
                    if (r < 0 && errno == EINTR)
                        continue;
                    if (r < 0) {
                        double ms = now_ms() - r0;
                        code = errno == ETIMEDOUT && ms >= 0.8 * g_t * 1000 &&
                                       ms <= g_t * 1000 + 1000
                                   ? 3
                                   : 4;
                        char line[128];
                        int k = snprintf(line, sizeof line,
                                         "child_read pid=%d errno=%s idle_ms=%.0f\n", getpid(),
                                         ename(errno), ms);
                        ssize_t w = write(1, line, k);
                        (void)w;
                        break;
                    }
                    if (r == 0)
                        break;
                    if (send_all(c, b, r) != 0) {
                        code = 5;
                        break;
                    }
                    r0 = now_ms();
                }
                _exit(code);
            }
            close(c);
            if (nkids < 1024)
                kids[nkids++] = pid;
        }
        /* reap what has ended */
        int st;
        pid_t r;
        while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
            if (r == cpid) {
                client_status = st;
                continue;
            }
            if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
                silent_timeouts++;
            else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                child_fail++;
            for (int i = 0; i < nkids; i++)
                if (kids[i] == r)
                    kids[i] = 0;
        }
    }
    for (int i = 0; i < nkids; i++) {
        if (!kids[i])
            continue;
        int st = wait_child(kids[i], g_t * 1000 + 5000);
        if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 3)
            silent_timeouts++;
        else if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            child_fail++;
    }
    int failures = 0;
    failures += check_line("perconn_clients_ok", client_status == 0,
                           "client_process_status=0x%x (exit code: failed connections)",
                           client_status);
    failures += check_line("perconn_children_exit_0", child_fail == 0, "failed=%d", child_fail);
    failures += check_line("perconn_silent_client_cut_after_T", silent_timeouts == 1,
                           "timeouts=%d", silent_timeouts);
    failures += check_line("perconn_accepted_all", accepted == want && accept_errors == 0,
                           "accepted=%d want=%d accept_errors=%d accept_eintr=%d", accepted,
                           want, accept_errors, eintr);
    failures += check_line("perconn_accept_idle_longer_than_T", first_ms >= 1.5 * g_t * 1000 - 50,
                           "first_accept_after_ms=%.0f", first_ms);
    printf("result failures=%d connections=%d\n", failures, accepted);
    return failures ? 1 : 0;
}

/* ---- vfork / posix_spawn ----------------------------------------------- */

static int silent_listener(int *port)
{
    return tcp_listen("127.0.0.1", 128, port);
}

/* epoll_wait on `s` must report it after about T, and the read then fail
 * with ETIMEDOUT. */
static int epoll_times_out(const char *name, int ep, int s)
{
    struct epoll_event out;
    double t0 = now_ms();
    int r = epoll_wait(ep, &out, 1, (int)(g_t * 1000) + 4000);
    double ms = now_ms() - t0;
    char x;
    errno = 0;
    ssize_t rr = read(s, &x, 1);
    int e = rr < 0 ? errno : 0;
    int ok = r == 1 && ms >= 0.8 * g_t * 1000 && ms <= g_t * 1000 + 1000 && rr == -1 &&
             e == ETIMEDOUT;
    return check_line(name, ok, "expect=timeout epoll_ret=%d elapsed_ms=%.0f read_ret=%zd "
                                "read_errno=%s",
                      r, ms, rr, ename(e));
}

static atomic_int g_churn_stop;

/* Opens and closes sockets until told to stop. */
static void *socket_churn(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_churn_stop)) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0)
            close(fd);
        sleep_ms(1);
    }
    return NULL;
}

static int cmd_vfork(const char *which)
{
    watchdog(60);
    int port, failures = 0;
    int l = silent_listener(&port);
    (void)l;
    if (!strcmp(which, "close_range") || !strcmp(which, "close_range_threads")) {
        int threads = !strcmp(which, "close_range_threads");
        pthread_t ct;
        if (threads)
            pthread_create(&ct, NULL, socket_churn, NULL);
        int s = tcp_connect("127.0.0.1", port);
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
        if (s < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) != 0)
            die("setup");
        pid_t pid = vfork();
        if (pid == 0) {
            if (threads) {
                struct timespec ts = {0, 20 * 1000 * 1000};
                nanosleep(&ts, NULL); /* the parent's other thread runs on */
            }
            close_range(3, ~0U, 0);
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        int st = wait_child(pid, 5000);
        if (threads) {
            atomic_store(&g_churn_stop, 1);
            pthread_join(ct, NULL);
        }
        failures += check_line("vfork_child_exit", st == 0, "status=0x%x", st);
        failures += epoll_times_out(threads ? "parent_epoll_after_vfork_close_range_threads"
                                            : "parent_epoll_after_vfork_close_range",
                                    ep, s);
    } else if (!strcmp(which, "dup2_stdin")) {
        int s = tcp_connect("127.0.0.1", port);
        if (s < 0 || dup2(s, 0) != 0)
            die("setup");
        close(s);
        /* the parent has used fd 0: it is known as TCP */
        int p[2];
        if (pipe(p) != 0)
            die("pipe");
        char x;
        if (write(p[1], "x", 1) != 1 || read(p[0], &x, 1) != 1)
            die("pipe use");
        pid_t pid = vfork();
        if (pid == 0) {
            dup2(p[0], 0); /* the child's stdin: the pipe */
            close(p[0]);
            close(p[1]);
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        int st = wait_child(pid, 5000);
        failures += check_line("vfork_child_exit", st == 0, "status=0x%x", st);
        check_t c;
        check_start(&c, "parent_read_fd0_after_vfork_dup2", 0, -1, EXPECT_TIMEOUT);
        failures += check_finish(&c, 1, g_t);
    } else if (!strcmp(which, "exec") || !strcmp(which, "spawn")) {
        int spawn = !strcmp(which, "spawn");
        int s = tcp_connect("127.0.0.1", port); /* the parent's own */
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
        if (s < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) != 0)
            die("setup");
        int cs = tcp_connect("127.0.0.1", port); /* for the child */
        int p[2];
        if (cs < 0 || pipe2(p, O_CLOEXEC) != 0)
            die("setup child fds");
        char ts[32], a1[16], a2[16];
        snprintf(ts, sizeof ts, "%g", g_t);
        pid_t pid;
        fflush(stdout);
        if (spawn) {
            posix_spawn_file_actions_t fa;
            posix_spawn_file_actions_init(&fa);
            posix_spawn_file_actions_adddup2(&fa, cs, 20);
            posix_spawn_file_actions_adddup2(&fa, p[0], 21);
            posix_spawn_file_actions_addclose(&fa, cs);
            posix_spawn_file_actions_addclosefrom_np(&fa, 22);
            char *argv[] = {"stress_fork", "execchild", ts, "20", "21", NULL};
            int r = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
            posix_spawn_file_actions_destroy(&fa);
            if (r != 0) {
                errno = r;
                die("posix_spawn");
            }
        } else {
            fcntl(cs, F_SETFD, 0);
            fcntl(p[0], F_SETFD, 0);
            snprintf(a1, sizeof a1, "%d", cs);
            snprintf(a2, sizeof a2, "%d", p[0]);
            pid = vfork();
            if (pid == 0) {
                execl("/proc/self/exe", "stress_fork", "execchild", ts, a1, a2, (char *)NULL);
                _exit(127);
            }
        }
        /* release the child's pipe check after HANG_MS */
        sleep_ms((long)HANG_MS + 300);
        if (write(p[1], "r", 1) != 1)
            die("write");
        int st = wait_child(pid, 10000);
        failures += check_line("child_checks", st == 0, "status=0x%x", st);
        failures += epoll_times_out(spawn ? "parent_epoll_after_posix_spawn"
                                          : "parent_epoll_after_vfork_exec",
                                    ep, s);
    } else if (!strcmp(which, "shared")) {
        static volatile int shared_errno, child_done;
        shared_errno = 0;
        child_done = 0;
        pid_t pid = vfork();
        if (pid == 0) {
            execl("/nonexistent/timeoutsock-test", "x", (char *)NULL);
            shared_errno = errno; /* the parent reads this after we _exit */
            child_done = 1;
            _exit(127);
        }
        /* a vfork parent runs again only once the child has gone */
        int seen_done = child_done, seen_errno = shared_errno;
        int st = wait_child(pid, 5000);
        failures += check_line("vfork_parent_resumes_after_child", seen_done == 1,
                               "child_done_seen=%d", seen_done);
        failures += check_line("vfork_child_memory_shared", seen_errno == ENOENT,
                               "exec_errno_seen=%s status=0x%x", ename(seen_errno), st);
    } else {
        die("unknown vfork case");
    }
    printf("result failures=%d\n", failures);
    return failures ? 1 : 0;
}

static int cmd_execchild(int tfd, int pfd)
{
    watchdog(30);
    check_t cs[2];
    check_start(&cs[0], "child_inherited_tcp", tfd, -1, EXPECT_TIMEOUT);
    check_start(&cs[1], "child_inherited_pipe", pfd, -1, EXPECT_BLOCK);
    int f = check_finish(cs, 2, g_t);
    return f ? 1 : 0;
}

/* ---- forking while other threads are inside hooks ------------------------ */

static atomic_int g_stop;
static atomic_long g_hammer_ok, g_hammer_bad;

static void *hammer_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    uint64_t k = 0;
    while (!atomic_load(&g_stop)) {
        if (echo_exchange(g_port, 64 + (k * 97) % 4000, id * 100000 + k, (int)k) == 0)
            atomic_fetch_add(&g_hammer_ok, 1);
        else
            atomic_fetch_add(&g_hammer_bad, 1);
        k++;
    }
    return NULL;
}

static int cmd_mtfork(int threads, int forks)
{
    watchdog(120);
    int l = tcp_listen("127.0.0.1", 1024, &g_port);
    int sport;
    int sl = silent_listener(&sport);
    (void)sl;
    for (int i = 0; i < threads + 2; i++) {
        pthread_t t;
        pthread_create(&t, NULL, echo_server_thread, (void *)(intptr_t)l);
        pthread_detach(t);
    }
    if (threads < 1 || threads > 256)
        threads = 4;
    pthread_t *ht = calloc(threads, sizeof *ht);
    for (int i = 0; i < threads; i++)
        pthread_create(&ht[i], NULL, hammer_thread, (void *)(intptr_t)i);
    sleep_ms(100);
    pid_t *pids = calloc(forks, sizeof *pids);
    for (int i = 0; i < forks; i++) {
        fflush(stdout);
        pids[i] = fork();
        if (pids[i] < 0)
            die("fork");
        if (pids[i] == 0) {
            die_with_parent();
            /* drop the copies of the parent's connections (a forked
             * server would); the exchange below makes its own */
            close_range(3, ~0U, 0);
            int code = 0;
            if (echo_exchange(g_port, 4096, 777 + i, i) != 0)
                code = 1;
            if (i % 10 == 0) {
                /* the library still times out in the child */
                int s = tcp_connect("127.0.0.1", sport);
                char x;
                double t0 = now_ms();
                ssize_t r = s < 0 ? 0 : recv(s, &x, 1, 0);
                double ms = now_ms() - t0;
                if (!(r == -1 && errno == ETIMEDOUT && ms >= 0.8 * g_t * 1000 &&
                      ms <= g_t * 1000 + 1000))
                    code = 2;
            }
            _exit(code);
        }
        sleep_ms(5);
    }
    int ok = 0, hung = 0, bad = 0;
    double until = now_ms() + g_t * 1000 + 15000;
    for (int i = 0; i < forks; i++) {
        int st = wait_child(pids[i], until - now_ms() > 0 ? until - now_ms() : 1);
        if (st == 0)
            ok++;
        else if (st == -2)
            hung++;
        else {
            bad++;
            printf("child_failed i=%d status=0x%x\n", i, st);
        }
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(ht[i], NULL);
    int failures = 0;
    failures += check_line("mtfork_children_exit_0", ok == forks, "exited_0=%d hung=%d failed=%d",
                           ok, hung, bad);
    failures += check_line("mtfork_parent_threads_ok", atomic_load(&g_hammer_bad) == 0 &&
                                                           atomic_load(&g_hammer_ok) > 0,
                           "exchanges=%ld failed=%ld", atomic_load(&g_hammer_ok),
                           atomic_load(&g_hammer_bad));
    printf("result failures=%d forks=%d parent_exchanges=%ld\n", failures, forks,
           atomic_load(&g_hammer_ok));
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    stdout_lines();
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 3)
        g_t = atof(argv[2]);
    if (argc >= 5 && !strcmp(argv[1], "prefork"))
        return cmd_prefork(atoi(argv[3]), atoi(argv[4]));
    if (argc >= 5 && !strcmp(argv[1], "perconn"))
        return cmd_perconn(atoi(argv[3]), atoi(argv[4]));
    if (argc >= 4 && !strcmp(argv[1], "vfork"))
        return cmd_vfork(argv[3]);
    if (argc >= 5 && !strcmp(argv[1], "mtfork"))
        return cmd_mtfork(atoi(argv[3]), atoi(argv[4]));
    if (argc >= 5 && !strcmp(argv[1], "execchild"))
        return cmd_execchild(atoi(argv[3]), atoi(argv[4]));
    fputs("usage: stress_fork prefork T WORKERS ROUNDS | perconn T CLIENTS CONNS | "
          "vfork T close_range|close_range_threads|dup2_stdin|exec|spawn|shared | "
          "mtfork T THREADS FORKS\n",
          stderr);
    return 2;
}

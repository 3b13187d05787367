/*
 * stress_sig: large blocking transfers under a SIGALRM every millisecond.
 *
 *   stress_sig API restart|norestart MIB PACE_US [INTERVAL_US]
 *
 * A forked peer (no timer: interval timers are not inherited) accepts two
 * connections on 127.0.0.1: the data connection, on which it reads MIB MiB
 * (checksumming) and then sends MIB MiB of a seeded byte stream, pausing
 * PACE_US after every 64 KiB so that our blocking calls really wait (inside
 * the library's poll) while signals arrive; and a side connection on which
 * it counts bytes until EOF and answers the count.
 *
 * This process sets setitimer(ITIMER_REAL, INTERVAL_US, default 1000 = 1 ms;
 * valgrind needs a slower one) with a SIGALRM handler
 * installed with or without SA_RESTART. The handler itself calls hooked
 * functions: send() of one byte on the side connection (a TCP socket) and
 * write() of one byte to a pipe drained by a thread that blocks SIGALRM.
 * The transfer uses API:
 *   sendrecv  send/recv in 1 MiB calls     writeread  write/read
 *   waitall   one send, one recv(MSG_WAITALL), per 4 MiB block
 *   vec       writev/readv of 4 x 256 KiB  msg        sendmsg/recvmsg
 * retrying after partial counts, and after EINTR (counted).
 *
 * Prints "result ... failures=N" and exits 0 when: the peer received
 * exactly our bytes (checksum), we received exactly its bytes, the side
 * connection and the pipe got one byte per signal, and (restart) no call
 * returned EINTR.
 */
#include "stress_common.h"

#define CHUNK (64 * 1024)

static volatile sig_atomic_t g_sigs;
static int g_side = -1, g_pipe_w = -1;
static atomic_long g_handler_errors;

static void on_alarm(int sig)
{
    (void)sig;
    int saved = errno;
    g_sigs++;
    if (send(g_side, "s", 1, MSG_NOSIGNAL) != 1)
        atomic_fetch_add(&g_handler_errors, 1);
    if (write(g_pipe_w, "p", 1) != 1)
        atomic_fetch_add(&g_handler_errors, 1);
    errno = saved;
}

static atomic_long g_pipe_bytes;

static void *drainer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    char b[4096];
    for (;;) {
        ssize_t r = read(fd, b, sizeof b);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        atomic_fetch_add(&g_pipe_bytes, r);
    }
    return NULL;
}

/* The two byte streams: generated block by block from these seeds, so
 * that nobody holds a whole transfer in memory. */
#define UP_SEED 1717
#define DOWN_SEED 4242
/* Bytes per block: the unit of generation and checking, and the size of
 * the single send()/recv(MSG_WAITALL) call in the waitall mode. */
#define BLOCK ((size_t)4 << 20)

/* ---- peer -------------------------------------------------------------- */

static void *side_counter(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char b[4096];
    long n = 0;
    for (;;) {
        ssize_t r = recv(fd, b, sizeof b, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += r;
    }
    char line[64];
    int k = snprintf(line, sizeof line, "%ld\n", n);
    send_all(fd, line, k);
    close(fd);
    return NULL;
}

static void peer(int l, size_t total, long pace_us)
{
    /* Which is which: each connection announces itself with one byte (the
     * handshakes may complete in either order). */
    int d = -1, side = -1;
    for (int i = 0; i < 2; i++) {
        int c = accept(l, NULL, NULL);
        char role = 0;
        if (c < 0 || recv_all(c, &role, 1) != 0)
            _exit(3);
        if (role == 'D')
            d = c;
        else
            side = c;
    }
    if (d < 0 || side < 0)
        _exit(3);
    pthread_t st;
    pthread_create(&st, NULL, side_counter, (void *)(intptr_t)side);
    unsigned char *b = malloc(CHUNK);
    uint64_t h = FNV_INIT;
    size_t got = 0;
    while (got < total) {
        size_t want = total - got < CHUNK ? total - got : CHUNK;
        if (recv_all(d, b, want) != 0)
            _exit(4);
        h = fnv(h, b, want);
        got += want;
        if (pace_us)
            usleep(pace_us);
    }
    uint64_t down = DOWN_SEED;
    for (size_t off = 0; off < total; off += CHUNK) {
        size_t n = total - off < CHUNK ? total - off : CHUNK;
        fill_rnd(&down, b, n);
        if (send_all(d, b, n) != 0)
            _exit(5);
        if (pace_us)
            usleep(pace_us);
    }
    if (send_all(d, &h, sizeof h) != 0)
        _exit(6);
    shutdown(d, SHUT_WR);
    pthread_join(st, NULL);
    char x;
    while (recv(d, &x, 1, 0) > 0) {
    }
    _exit(0);
}

/* ---- transfer ------------------------------------------------------------ */

static long g_eintr, g_calls, g_partial;

static ssize_t put(const char *api, int fd, const unsigned char *p, size_t n)
{
    if (!strcmp(api, "writeread"))
        return write(fd, p, n);
    if (!strcmp(api, "vec")) {
        size_t q = n / 4;
        struct iovec iv[4] = {{(void *)p, q}, {(void *)(p + q), q}, {(void *)(p + 2 * q), q},
                              {(void *)(p + 3 * q), n - 3 * q}};
        return writev(fd, iv, 4);
    }
    if (!strcmp(api, "msg")) {
        struct iovec iv[2] = {{(void *)p, n / 2}, {(void *)(p + n / 2), n - n / 2}};
        struct msghdr m = {.msg_iov = iv, .msg_iovlen = 2};
        return sendmsg(fd, &m, MSG_NOSIGNAL);
    }
    return send(fd, p, n, MSG_NOSIGNAL);
}

static ssize_t get(const char *api, int fd, unsigned char *p, size_t n)
{
    if (!strcmp(api, "writeread"))
        return read(fd, p, n);
    if (!strcmp(api, "waitall"))
        return recv(fd, p, n, MSG_WAITALL);
    if (!strcmp(api, "vec")) {
        size_t q = n / 4;
        struct iovec iv[4] = {{p, q}, {p + q, q}, {p + 2 * q, q}, {p + 3 * q, n - 3 * q}};
        return readv(fd, iv, 4);
    }
    if (!strcmp(api, "msg")) {
        struct iovec iv[2] = {{p, n / 2}, {p + n / 2, n - n / 2}};
        struct msghdr m = {.msg_iov = iv, .msg_iovlen = 2};
        return recvmsg(fd, &m, 0);
    }
    return recv(fd, p, n, 0);
}

static size_t call_size(const char *api, size_t left)
{
    size_t c = !strcmp(api, "waitall") ? left : (size_t)1 << 20;
    return c < left ? c : left;
}

int main(int argc, char **argv)
{
    stdout_lines();
    signal(SIGPIPE, SIG_IGN);
    if (argc < 5) {
        fputs("usage: stress_sig sendrecv|writeread|waitall|vec|msg restart|norestart MIB "
              "PACE_US [INTERVAL_US]\n",
              stderr);
        return 2;
    }
    const char *api = argv[1];
    int restart = !strcmp(argv[2], "restart");
    size_t total = (size_t)atol(argv[3]) << 20;
    long pace = atol(argv[4]);
    long interval = argc > 5 ? atol(argv[5]) : 1000;

    int port;
    int l = tcp_listen("127.0.0.1", 8, &port);
    fflush(stdout);
    pid_t pp = fork();
    if (pp < 0)
        die("fork");
    if (pp == 0) {
        die_with_parent();
        peer(l, total, pace);
    }
    close(l);
    int d = tcp_connect("127.0.0.1", port);
    g_side = tcp_connect("127.0.0.1", port);
    if (d < 0 || g_side < 0)
        die("connect");
    if (send_all(d, "D", 1) != 0 || send_all(g_side, "S", 1) != 0)
        die("send role");
    int pf[2];
    if (pipe(pf) != 0)
        die("pipe");
    g_pipe_w = pf[1];
    pthread_t dt;
    /* the drainer blocks SIGALRM: every signal lands in this thread */
    pthread_create(&dt, NULL, drainer, (void *)(intptr_t)pf[0]);

    unsigned char *out = malloc(BLOCK), *in = malloc(BLOCK), *expect = malloc(BLOCK);
    if (!out || !in || !expect)
        die("malloc");
    uint64_t up_state = UP_SEED, down_state = DOWN_SEED, mine = FNV_INIT;

    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{interval / 1000000, interval % 1000000},
                           {interval / 1000000, interval % 1000000}};
    double t0 = now_ms();
    setitimer(ITIMER_REAL, &it, NULL);

    int failures = 0, err = 0, down_ok = 1;
    size_t up = 0;
    while (!err && up < total) {
        size_t blk = total - up < BLOCK ? total - up : BLOCK;
        fill_rnd(&up_state, out, blk);
        mine = fnv(mine, out, blk);
        size_t done = 0;
        while (done < blk) {
            size_t n = call_size(api, blk - done);
            ssize_t r = put(api, d, out + done, n);
            g_calls++;
            if (r < 0 && errno == EINTR) {
                g_eintr++;
                continue;
            }
            if (r <= 0) {
                err = errno;
                break;
            }
            if ((size_t)r < n)
                g_partial++;
            done += r;
        }
        up += done;
    }
    size_t down = 0;
    while (!err && down < total) {
        size_t blk = total - down < BLOCK ? total - down : BLOCK;
        size_t done = 0;
        while (done < blk) {
            size_t n = call_size(api, blk - done);
            ssize_t r = get(api, d, in + done, n);
            g_calls++;
            if (r < 0 && errno == EINTR) {
                g_eintr++;
                continue;
            }
            if (r <= 0) {
                err = r < 0 ? errno : EPIPE;
                break;
            }
            if ((size_t)r < n)
                g_partial++;
            done += r;
        }
        fill_rnd(&down_state, expect, done);
        if (memcmp(in, expect, done) != 0)
            down_ok = 0;
        down += done;
    }
    uint64_t theirs = 0;
    if (!err && recv_all(d, &theirs, sizeof theirs) != 0)
        err = errno;
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    double ms = now_ms() - t0;
    long sigs = g_sigs;

    int up_ok = up == total && theirs == mine;
    down_ok = down_ok && down == total;
    failures += !up_ok + !down_ok + (err != 0);

    /* side connection and pipe: one byte per signal */
    shutdown(g_side, SHUT_WR);
    char line[64] = {0};
    ssize_t k = 0, r;
    while (k < (ssize_t)sizeof line - 1 && (r = recv(g_side, line + k, sizeof line - 1 - k, 0)) > 0)
        k += r;
    long side = atol(line);
    close(pf[1]);
    pthread_join(dt, NULL);
    long piped = atomic_load(&g_pipe_bytes);
    failures += side != sigs;
    failures += piped != sigs;
    failures += atomic_load(&g_handler_errors) != 0;
    if (restart)
        failures += g_eintr != 0;
    close(d);
    close(g_side);
    int st = 0;
    waitpid(pp, &st, 0);
    failures += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    printf("result api=%s restart=%d bytes_up=%zu bytes_down=%zu up_ok=%d down_ok=%d "
           "errno=%s signals=%ld side_bytes=%ld pipe_bytes=%ld handler_errors=%ld eintr=%ld "
           "partial=%ld calls=%ld peer_status=0x%x elapsed_ms=%.0f failures=%d\n",
           api, restart, up, down, up_ok, down_ok, ename(err), sigs, side,
           piped, atomic_load(&g_handler_errors), g_eintr, g_partial, g_calls, st, ms, failures);
    return failures ? 1 : 0;
}

/*
 * stress_load: many short TCP connections through the library.
 *
 *   stress_load server THREADS
 *       A threaded echo server on 127.0.0.1 and ::1 (THREADS accepting
 *       threads per address, each echoing one connection at a time until
 *       EOF). Prints "ready port4=P port6=Q", then one line per error
 *       ("server_error op=OP errno=E"). Runs until killed (at most 10 min).
 *
 *   stress_load clients PORT4 PORT6 THREADS CYCLES SEED
 *       THREADS client threads, each doing CYCLES connect / send / recv /
 *       close cycles against the server, with a different call family each
 *       cycle (send/recv, write/read, sendmsg/recvmsg, writev/readv,
 *       MSG_WAITALL, poll + recv, sendto/recvfrom) and a message of 1 byte
 *       to 64 KiB sent in chunks of up to 16 KiB, each chunk's echo read
 *       back and compared byte for byte. Half the cycles close at once, the
 *       other half shut down writing first and read the server's EOF.
 *       Prints the first errors ("error thread=T cycle=C op=OP errno=E") and
 *       one summary line:
 *       "result connections=N bytes=B sum_sent=H sum_recv=H mismatches=M
 *        errors=E etimedout=X fds_before=A fds_after=B elapsed_ms=MS"
 *       Exit 0 when every cycle succeeded, 1 otherwise.
 *
 *   stress_load selftest
 *       A small in-process loopback exchange; prints "selftest sum=H" and
 *       exits 7 (the bad-configuration test compares runs of it).
 */
#include "stress_common.h"

#define CHUNK_MAX 16384
#define MSG_MAX 65536

/* ---- server ------------------------------------------------------------ */

static void *server_thread(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    char *buf = malloc(MSG_MAX);
    if (!buf)
        die("malloc");
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) {
            printf("server_error op=accept errno=%s\n", ename(errno));
            if (errno == EMFILE || errno == ENFILE)
                sleep_ms(10);
            continue;
        }
        for (;;) {
            ssize_t r = read(c, buf, MSG_MAX);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                printf("server_error op=read errno=%s\n", ename(errno));
                break;
            }
            if (r == 0)
                break;
            if (send_all(c, buf, r) != 0) {
                printf("server_error op=send errno=%s\n", ename(errno));
                break;
            }
        }
        close(c);
    }
    return NULL;
}

static int cmd_server(int threads)
{
    watchdog(600);
    int p4, p6;
    int l4 = tcp_listen("127.0.0.1", 4096, &p4);
    int l6 = tcp_listen("::1", 4096, &p6);
    for (int i = 0; i < 2 * threads; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, server_thread, (void *)(intptr_t)(i % 2 ? l6 : l4)) != 0)
            die("pthread_create");
        pthread_detach(t);
    }
    printf("ready port4=%d port6=%d\n", p4, p6);
    for (;;)
        pause();
    return 0;
}

/* ---- clients ----------------------------------------------------------- */

static int g_port4, g_port6, g_cycles;
static uint64_t g_seed;
static atomic_long g_conns, g_bytes, g_mismatch, g_errors, g_etimedout, g_printed;
static atomic_uint_least64_t g_sum_sent, g_sum_recv;

struct tstate {
    int id;
    uint64_t rnd;
    unsigned char *out, *in;
};

static void report_error(struct tstate *t, int cycle, const char *op, int e)
{
    atomic_fetch_add(&g_errors, 1);
    if (e == ETIMEDOUT)
        atomic_fetch_add(&g_etimedout, 1);
    if (atomic_fetch_add(&g_printed, 1) < 20)
        printf("error thread=%d cycle=%d op=%s errno=%s\n", t->id, cycle, op, ename(e));
}

enum { V_SENDRECV, V_WRITEREAD, V_MSG, V_VEC, V_WAITALL, V_POLL, V_TO, V_COUNT };

/* Sends n bytes with the cycle's call family; 0 or -1 (errno set). */
static int put(int fd, int v, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t r;
        switch (v) {
        case V_WRITEREAD:
            r = write(fd, p, n);
            break;
        case V_MSG: {
            size_t h = n / 2;
            struct iovec iov[2] = {{(void *)p, h}, {(void *)(p + h), n - h}};
            struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
            r = sendmsg(fd, &m, MSG_NOSIGNAL);
            break;
        }
        case V_VEC: {
            size_t h = n / 3;
            struct iovec iov[2] = {{(void *)p, h}, {(void *)(p + h), n - h}};
            r = writev(fd, iov, 2);
            break;
        }
        case V_TO:
            r = sendto(fd, p, n, MSG_NOSIGNAL, NULL, 0);
            break;
        default:
            r = send(fd, p, n, MSG_NOSIGNAL);
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= r;
    }
    return 0;
}

/* Receives exactly n bytes with the cycle's call family. */
static int get(int fd, int v, unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t r;
        switch (v) {
        case V_WRITEREAD:
            r = read(fd, p, n);
            break;
        case V_MSG: {
            size_t h = n / 2 + 1;
            if (h > n)
                h = n;
            struct iovec iov[2] = {{p, h}, {p + h, n - h}};
            struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
            r = recvmsg(fd, &m, 0);
            break;
        }
        case V_VEC: {
            size_t h = n / 3;
            struct iovec iov[2] = {{p, h}, {p + h, n - h}};
            r = readv(fd, iov, 2);
            break;
        }
        case V_WAITALL:
            r = recv(fd, p, n, MSG_WAITALL);
            break;
        case V_POLL: {
            struct pollfd pf = {fd, POLLIN, 0};
            int k = poll(&pf, 1, 30000);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                if (k == 0)
                    errno = EAGAIN;
                return -1;
            }
            r = recv(fd, p, n, MSG_DONTWAIT);
            if (r < 0 && errno == EAGAIN)
                continue;
            break;
        }
        case V_TO:
            r = recvfrom(fd, p, n, 0, NULL, NULL);
            break;
        default:
            r = recv(fd, p, n, 0);
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EPIPE; /* early EOF */
            return -1;
        }
        p += r;
        n -= r;
    }
    return 0;
}

static void cycle(struct tstate *t, int c)
{
    int v = (int)rnd_below(&t->rnd, V_COUNT);
    int six = rnd_below(&t->rnd, 4) == 0;
    int half_close = rnd_below(&t->rnd, 2);
    size_t len = 1 + rnd_below(&t->rnd, rnd_below(&t->rnd, 4) ? 4096 : MSG_MAX);
    fill_rnd(&t->rnd, t->out, len);

    int fd = tcp_connect(six ? "::1" : "127.0.0.1", six ? g_port6 : g_port4);
    if (fd < 0) {
        report_error(t, c, "connect", errno);
        return;
    }
    atomic_fetch_add(&g_conns, 1);
    uint64_t hs = FNV_INIT, hr = FNV_INIT;
    size_t done = 0;
    while (done < len) {
        size_t k = 1 + rnd_below(&t->rnd, CHUNK_MAX);
        if (k > len - done)
            k = len - done;
        if (put(fd, v, t->out + done, k) != 0) {
            report_error(t, c, "send", errno);
            goto out;
        }
        memset(t->in, 0, k);
        if (get(fd, v, t->in, k) != 0) {
            report_error(t, c, "recv", errno);
            goto out;
        }
        if (memcmp(t->in, t->out + done, k) != 0) {
            atomic_fetch_add(&g_mismatch, 1);
            report_error(t, c, "compare", 0);
            goto out;
        }
        hs = fnv(hs, t->out + done, k);
        hr = fnv(hr, t->in, k);
        done += k;
    }
    if (half_close) {
        /* The server sees EOF, closes first, and we read its EOF. */
        if (shutdown(fd, SHUT_WR) != 0) {
            report_error(t, c, "shutdown", errno);
            goto out;
        }
        char x;
        ssize_t r;
        do
            r = recv(fd, &x, 1, 0);
        while (r < 0 && errno == EINTR);
        if (r != 0) {
            report_error(t, c, "eof", r < 0 ? errno : EPROTO);
            goto out;
        }
    }
    atomic_fetch_add(&g_bytes, (long)len);
    atomic_fetch_xor(&g_sum_sent, hs);
    atomic_fetch_xor(&g_sum_recv, hr);
out:
    if (close(fd) != 0)
        report_error(t, c, "close", errno);
}

static void *client_thread(void *arg)
{
    struct tstate *t = arg;
    for (int c = 0; c < g_cycles; c++)
        cycle(t, c);
    return NULL;
}

static int cmd_clients(int threads, int cycles)
{
    g_cycles = cycles;
    int before = count_fds();
    double t0 = now_ms();
    pthread_t *tids = calloc(threads, sizeof *tids);
    struct tstate *ts = calloc(threads, sizeof *ts);
    if (!tids || !ts)
        die("calloc");
    for (int i = 0; i < threads; i++) {
        ts[i].id = i;
        ts[i].rnd = g_seed * 1000003ULL + i + 1;
        ts[i].out = malloc(MSG_MAX);
        ts[i].in = malloc(MSG_MAX);
        if (!ts[i].out || !ts[i].in)
            die("malloc");
        if (pthread_create(&tids[i], NULL, client_thread, &ts[i]) != 0)
            die("pthread_create");
    }
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    int after = count_fds();
    long errors = atomic_load(&g_errors);
    printf("result connections=%ld bytes=%ld sum_sent=%016llx sum_recv=%016llx mismatches=%ld "
           "errors=%ld etimedout=%ld fds_before=%d fds_after=%d elapsed_ms=%.0f\n",
           atomic_load(&g_conns), atomic_load(&g_bytes),
           (unsigned long long)atomic_load(&g_sum_sent),
           (unsigned long long)atomic_load(&g_sum_recv), atomic_load(&g_mismatch), errors,
           atomic_load(&g_etimedout), before, after, now_ms() - t0);
    return errors == 0 && before == after ? 0 : 1;
}

/* ---- selftest ---------------------------------------------------------- */

static int cmd_selftest(void)
{
    int port;
    int l = tcp_listen("127.0.0.1", 4, &port);
    int c = tcp_connect("127.0.0.1", port);
    if (c < 0)
        die("connect");
    int s = accept(l, NULL, NULL);
    if (s < 0)
        die("accept");
    char msg[] = "selftest payload", got[sizeof msg];
    if (send_all(c, msg, sizeof msg) != 0 || recv_all(s, got, sizeof got) != 0)
        die("exchange");
    if (send_all(s, got, sizeof got) != 0 || recv_all(c, got, sizeof got) != 0)
        die("exchange back");
    printf("selftest sum=%016llx\n", (unsigned long long)fnv(FNV_INIT, got, sizeof got));
    close(s);
    close(c);
    close(l);
    return 7;
}

int main(int argc, char **argv)
{
    stdout_lines();
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 3 && !strcmp(argv[1], "server"))
        return cmd_server(atoi(argv[2]));
    if (argc >= 7 && !strcmp(argv[1], "clients")) {
        watchdog(600);
        g_port4 = atoi(argv[2]);
        g_port6 = atoi(argv[3]);
        g_seed = strtoull(argv[6], NULL, 10);
        return cmd_clients(atoi(argv[4]), atoi(argv[5]));
    }
    if (argc >= 2 && !strcmp(argv[1], "selftest"))
        return cmd_selftest();
    fputs("usage: stress_load server THREADS | clients PORT4 PORT6 THREADS CYCLES SEED | "
          "selftest\n",
          stderr);
    return 2;
}

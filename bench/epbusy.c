/* epoll over many busy sockets: what watching them costs over a run.
 *
 *   epbusy NSOCK TICKS TICK_MS
 *
 * NSOCK connected loopback sockets, non-blocking, in one epoll set. A peer
 * process (this binary, `epbusy --peer ...`, spawned without any preload,
 * raw system calls) accepts them, sends each one byte at once, then every
 * TICK_MS ms (TICKS times, paced by its own clock) one byte to the next
 * NSOCK * TICK_MS / 1000 sockets in turn: every socket gets a byte about
 * once a second, so with the library at T = 2 s none is ever idle for T.
 * The program waits with epoll_wait (1 s timeout) and read()s what is
 * ready until every byte has arrived. The run lasts TICKS * TICK_MS of wall
 * time whatever the program's speed (under callgrind too), which is what
 * time-driven checks of a library depend on. Under callgrind the counts
 * are zeroed once every socket is connected and in the set and dumped once
 * at the end (one dump: the run). Needs RLIMIT_NOFILE > NSOCK (raised).
 */
#include "tcp.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>


static void nofile(long need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        die("getrlimit");
    if ((long)rl.rlim_cur < need) {
        if ((long)rl.rlim_max < need)
            rl.rlim_max = (rlim_t)need; /* root may raise the hard limit */
        rl.rlim_cur = (rlim_t)need;
        if (setrlimit(RLIMIT_NOFILE, &rl))
            die("setrlimit RLIMIT_NOFILE");
    }
}

static int peer(int l, long nsock, long ticks, long tick_ms)
{
    int *s = calloc((size_t)nsock, sizeof *s);
    if (!s)
        return 1;
    for (long i = 0; i < nsock; i++) {
        s[i] = (int)syscall(SYS_accept4, l, NULL, NULL, 0);
        if (s[i] < 0 || raw_write(s[i], "h", 1) != 1)
            return 1;
    }
    long per = nsock * tick_ms / 1000;
    if (per < 1)
        per = 1;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long next = 0;
    for (long k = 0; k < ticks; k++) {
        t.tv_nsec += tick_ms * 1000000L;
        while (t.tv_nsec >= 1000000000L) {
            t.tv_nsec -= 1000000000L;
            t.tv_sec++;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
            ;
        for (long j = 0; j < per; j++, next = (next + 1) % nsock)
            if (raw_write(s[next], "x", 1) != 1)
                return 1;
    }
    /* Until the program has everything and closes: EOF on the first. */
    char b;
    while (raw_read(s[0], &b, 1) > 0)
        ;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "--peer"))
        return peer(atoi(argv[2]), arg_long(argv[3]), arg_long(argv[4]), arg_long(argv[5]));
    if (argc != 4)
        die_msg("usage: epbusy NSOCK TICKS TICK_MS");
    long nsock = arg_long(argv[1]), ticks = arg_long(argv[2]), tick_ms = arg_long(argv[3]);
    long per = nsock * tick_ms / 1000;
    if (per < 1)
        per = 1;
    long expect = nsock + ticks * per;
    nofile(nsock + 64);
    int *c = calloc((size_t)nsock, sizeof *c);
    if (!c)
        die("calloc");

    struct sockaddr_in sa;
    int l = tcp_listener(&sa, 4096);
    /* The peer: this binary, without any preload, with the listener. */
    char a1[16], a2[24], a3[24], a4[24];
    snprintf(a1, sizeof a1, "%d", l);
    snprintf(a2, sizeof a2, "%ld", nsock);
    snprintf(a3, sizeof a3, "%ld", ticks);
    snprintf(a4, sizeof a4, "%ld", tick_ms);
    char *args[] = {argv[0], "--peer", a1, a2, a3, a4, NULL};
    pid_t pid = spawn_peer(args);
    close(l);
    int ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");
    for (long i = 0; i < nsock; i++) {
        c[i] = tcp_connect(&sa);
        int fl = fcntl(c[i], F_GETFL);
        if (fl < 0 || fcntl(c[i], F_SETFL, fl | O_NONBLOCK))
            die("O_NONBLOCK");
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = c[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i], &ev))
            die("epoll_ctl");
    }
    CALLGRIND_ZERO_STATS;
    uint64_t t0 = now_ns();
    long got = 0, waits = 0;
    while (got < expect) {
        struct epoll_event ev[256];
        int r = epoll_wait(ep, ev, 256, 1000);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die_msg("epoll_wait reported nothing for 1 s (or failed)");
        waits++;
        for (int i = 0; i < r; i++) {
            char b[64];
            long n = read(ev[i].data.fd, b, sizeof b);
            if (n > 0)
                got += n;
            else if (n == 0 || errno != EAGAIN)
                die("read of a busy socket");
        }
    }
    uint64_t t1 = now_ns();
    CALLGRIND_DUMP_STATS_AT("run");
    for (long i = 0; i < nsock; i++)
        close(c[i]);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die_msg("peer failed");
    printf("n=1\niters=1\naux_syscalls=0\n");
    printf("waits=%ld\nbytes=%ld\n", waits, got);
    printf("run_ms=%.1f\nns_per_iter=%.2f\n", (double)(t1 - t0) / 1e6, (double)(t1 - t0));
    return 0;
}

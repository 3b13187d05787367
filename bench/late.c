/* Timeout precision: how late after T a blocking recv on a silent loopback
 * connection returns.
 *
 *   late lib|kernel T_MS RUNS
 *
 * The listener has room in its backlog and never accepts: connect
 * completes, no byte ever comes. lib: recv must fail with ETIMEDOUT (the
 * preloaded library, TIMEOUTSOCK_SECS = T); kernel: the kernel's own
 * SO_RCVTIMEO = T, recv fails with EAGAIN (the reference). Prints
 * late_us=X for every run (elapsed - T; negative would be early).
 */
#include "tcp.h"

#include <sys/time.h>

int main(int argc, char **argv)
{
    if (argc != 4)
        die_msg("usage: late lib|kernel T_MS RUNS");
    int kernel = !strcmp(argv[1], "kernel");
    long t_ms = arg_long(argv[2]), runs = arg_long(argv[3]);
    if (runs > 60)
        die_msg("at most 60 runs");
    struct sockaddr_in sa;
    int l = tcp_listener(&sa, 64);
    for (long i = 0; i < runs; i++) {
        int c = tcp_connect(&sa);
        if (kernel) {
            struct timeval tv = {t_ms / 1000, (t_ms % 1000) * 1000};
            if (setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv))
                die("SO_RCVTIMEO");
        }
        char b;
        uint64_t t0 = now_ns();
        long r = recv(c, &b, 1, 0);
        uint64_t t1 = now_ns();
        int e = errno;
        if (r != -1 || e != (kernel ? EAGAIN : ETIMEDOUT)) {
            fprintf(stderr, "bench: recv returned %ld (%s), expected %s\n", r, strerror(e),
                    kernel ? "EAGAIN" : "ETIMEDOUT");
            return 2;
        }
        printf("late_us=%.1f\n", ((double)(t1 - t0) - (double)t_ms * 1e6) / 1000.0);
        fflush(stdout);
        close(c);
    }
    close(l);
    return 0;
}

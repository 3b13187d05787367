/* The poll memo's semantics (issue 11): pollmemo MODE T
 *   threads  3 threads, each polling its own array of 10 silent sockets
 *            (100 ms polls): each sees its array aborted at about T.
 *   changed  10 silent sockets polled for T/2, then an array of 10 other
 *            sockets (created at the start, never waited on): those end at
 *            about T/2 + T, not at T (their periods start at the change).
 *   sooner   10 silent sockets (read T), and after T/5 a connect that hangs
 *            added to the array (TIMEOUTSOCK_CONNECT_SECS = T/3): it ends at
 *            about T/5 + T/3, before the memo's deadline T.
 * Prints "<mode> ... elapsed_ms=N" per array, measured from the start. */
#define _GNU_SOURCE
#include "client.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>

static double T, start;
static int port, hang_port;

static int listener(int backlog, int *p)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(l, (void *)&a, sizeof a) || listen(l, backlog))
        die("listen");
    socklen_t n = sizeof a;
    getsockname(l, (void *)&a, &n);
    *p = ntohs(a.sin_port);
    return l;
}

/* Polls `pf` (n entries) with 100 ms polls until one reports an event;
 * returns the time since the start. */
static double until_event(struct pollfd *pf, int n, double limit_ms)
{
    while (now_ms() - start < limit_ms) {
        int r = poll(pf, n, 100);
        if (r < 0 && errno != EINTR)
            die("poll");
        if (r > 0)
            return now_ms() - start;
    }
    return -1;
}

static void fill(struct pollfd *pf, int n, short ev)
{
    for (int i = 0; i < n; i++) {
        pf[i].fd = tcp_connect("127.0.0.1", port);
        pf[i].events = ev;
    }
}

static double thread_ms[3];

static void *thread_main(void *arg)
{
    struct pollfd pf[10];
    fill(pf, 10, POLLIN);
    thread_ms[(long)arg] = until_event(pf, 10, T * 4000);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    T = atof(argv[2]);
    int l = listener(64, &port);
    (void)l;
    start = now_ms();
    if (!strcmp(argv[1], "threads")) {
        pthread_t th[3];
        for (long i = 0; i < 3; i++)
            pthread_create(&th[i], NULL, thread_main, (void *)i);
        for (int i = 0; i < 3; i++)
            pthread_join(th[i], NULL);
        for (int i = 0; i < 3; i++) /* printed here: lines never interleave */
            report("threads", 0, 0, thread_ms[i], "array=%d", i);
    } else if (!strcmp(argv[1], "changed")) {
        struct pollfd a[10], b[10];
        fill(a, 10, POLLIN);
        fill(b, 10, POLLIN);
        start = now_ms();
        double first = until_event(a, 10, T * 500);
        memcpy(a, b, sizeof a); /* same array address, other sockets */
        double ms = until_event(a, 10, T * 4000);
        report("changed", first < 0 ? 0 : 1, 0, ms, "early=%d", first >= 0);
    } else {
        struct pollfd a[11];
        fill(a, 10, POLLIN);
        int h = listener(0, &hang_port);
        (void)h;
        for (int i = 0; i < 3; i++) { /* fill the accept queue */
            int f = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(hang_port),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            connect(f, (void *)&s, sizeof s);
        }
        start = now_ms();
        double first = until_event(a, 10, T * 200);
        int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(hang_port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        connect(c, (void *)&s, sizeof s);
        a[10].fd = c;
        a[10].events = POLLOUT;
        double ms = until_event(a, 11, T * 4000);
        report("sooner", a[10].revents != 0, 0, ms, "early=%d", first >= 0);
    }
    return 0;
}

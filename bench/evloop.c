/* An event loop over many idle and a few busy TCP sockets.
 *
 *   evloop poll|select|epoll N [IDLE BUSY]
 *
 * IDLE + BUSY (default 1000 + 10) connected loopback sockets, non-blocking,
 * all waited on for readability with a 1 s timeout (non-zero: a real wait,
 * which the library watches). Each iteration the harness's side of the
 * busy connections sends 1 byte on each with a raw write() (no hook sees
 * it), then the program waits and read()s every socket reported ready.
 * Loopback delivers before write() returns, so one wait normally reports
 * all busy sockets; if not, the program waits again (counted in
 * extra_waits). One iteration = one wait. Raises RLIMIT_NOFILE to 4096.
 */
#include "tcp.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>

#define MAXS 2000

static int api; /* 0 poll, 1 select, 2 epoll */
static int nsock, nbusy;
static int cli[MAXS], srv[MAXS], busy_srv[64];
static struct pollfd pfds[MAXS];
static fd_set master;
static int maxfd, ep;
static long extra_waits;

/* Reads one ready socket; returns 1 if it had the byte. */
static int consume(int fd)
{
    char b[64];
    long r = read(fd, b, sizeof b);
    if (r == 1)
        return 1;
    if (r < 0 && errno == EAGAIN)
        return 0;
    die("read of a busy socket");
    return 0;
}

static int wait_once(void)
{
    int got = 0;
    if (api == 0) {
        int r = poll(pfds, nsock, 1000);
        if (r < 0)
            die("poll");
        for (int i = 0; i < nsock && r > 0; i++)
            if (pfds[i].revents) {
                r--;
                got += consume(pfds[i].fd);
            }
    } else if (api == 1) {
        fd_set rs = master;
        struct timeval tv = {1, 0};
        int r = select(maxfd + 1, &rs, NULL, NULL, &tv);
        if (r < 0)
            die("select");
        for (int i = 0; i < nsock && r > 0; i++)
            if (FD_ISSET(cli[i], &rs)) {
                r--;
                got += consume(cli[i]);
            }
    } else {
        struct epoll_event ev[64];
        int r = epoll_wait(ep, ev, 64, 1000);
        if (r < 0)
            die("epoll_wait");
        for (int i = 0; i < r; i++)
            got += consume(ev[i].data.fd);
    }
    if (got == 0)
        die_msg("a wait reported nothing (1 s timeout expired?)");
    return got;
}

static void loop(long n)
{
    for (long i = 0; i < n; i++) {
        for (int k = 0; k < nbusy; k++) {
            if (raw_write(busy_srv[k], "x", 1) != 1)
                die("raw write to a busy socket");
            aux_syscalls++;
        }
        int got = wait_once();
        while (got < nbusy) {
            extra_waits++;
            got += wait_once();
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 5)
        die_msg("usage: evloop poll|select|epoll N [IDLE BUSY]");
    if (!strcmp(argv[1], "poll"))
        api = 0;
    else if (!strcmp(argv[1], "select"))
        api = 1;
    else if (!strcmp(argv[1], "epoll"))
        api = 2;
    else
        die_msg("unknown api");
    long n = arg_long(argv[2]);
    int idle = argc == 5 ? (int)arg_long(argv[3]) : 1000;
    nbusy = argc == 5 ? (int)arg_long(argv[4]) : 10;
    nsock = idle + nbusy;
    if (nsock > MAXS || nbusy > 64 || nbusy > nsock)
        die_msg("too many sockets");

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        die("getrlimit");
    if (rl.rlim_cur < 4096) {
        if (rl.rlim_max < 4096)
            rl.rlim_max = 4096; /* root may raise the hard limit */
        rl.rlim_cur = 4096;
        if (setrlimit(RLIMIT_NOFILE, &rl))
            die("setrlimit RLIMIT_NOFILE 4096");
    }

    /* Connect every client first, so that their descriptors are the low
     * ones (select needs them below FD_SETSIZE), then accept. */
    struct sockaddr_in sa;
    int l = tcp_listener(&sa, 4096);
    for (int i = 0; i < nsock; i++)
        cli[i] = tcp_connect(&sa);
    for (int i = 0; i < nsock; i++) {
        srv[i] = accept(l, NULL, NULL);
        if (srv[i] < 0)
            die("accept");
    }
    close(l);
    FD_ZERO(&master);
    if (api == 2 && (ep = epoll_create1(0)) < 0)
        die("epoll_create1");
    for (int i = 0; i < nsock; i++) {
        int fl = fcntl(cli[i], F_GETFL);
        if (fl < 0 || fcntl(cli[i], F_SETFL, fl | O_NONBLOCK))
            die("O_NONBLOCK");
        pfds[i].fd = cli[i];
        pfds[i].events = POLLIN;
        if (api == 1) {
            if (cli[i] >= FD_SETSIZE)
                die_msg("client descriptor above FD_SETSIZE");
            FD_SET(cli[i], &master);
            if (cli[i] > maxfd)
                maxfd = cli[i];
        }
        if (api == 2) {
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = cli[i]};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, cli[i], &ev))
                die("epoll_ctl");
        }
    }
    /* The busy ones, spread over the range. */
    for (int k = 0; k < nbusy; k++) {
        int i = (int)((long)k * nsock / nbusy);
        busy_srv[k] = srv[i];
        int one = 1;
        setsockopt(srv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    run_phases(loop, n, n < 20 ? n : 20);
    printf("extra_waits=%ld\n", extra_waits);
    return 0;
}

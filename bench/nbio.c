/* A non-blocking event loop's calls (curl-like): what the library adds
 * where a non-blocking program meets an empty socket, and at connect.
 *
 *   nbio eagain|connect N
 *
 * eagain: one connected non-blocking loopback socket with nothing queued;
 * each iteration is one recv() that fails with EAGAIN, as an event loop's
 * recv does after every wake-up once the data is drained.
 * connect: each iteration opens a SOCK_NONBLOCK socket, connect()s it to a
 * loopback listener (EINPROGRESS, or 0 at once), waits with poll(POLLOUT),
 * reads the result with getsockopt(SO_ERROR) and closes it, as curl does;
 * the harness accepts and closes the other end with raw system calls
 * (counted in aux_syscalls). One iteration = one EAGAIN or one connect.
 */
#include "tcp.h"

#include <fcntl.h>
#include <poll.h>

static int fd, lst;
static struct sockaddr_in sa;

static void loop_eagain(long n)
{
    char b[64];
    for (long i = 0; i < n; i++)
        if (recv(fd, b, sizeof b, 0) != -1 || errno != EAGAIN)
            die("recv on an empty non-blocking socket did not fail with EAGAIN");
}

static void loop_connect(long n)
{
    for (long i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (c < 0)
            die("socket");
        if (connect(c, (struct sockaddr *)&sa, sizeof sa) && errno != EINPROGRESS)
            die("connect 127.0.0.1");
        struct pollfd p = {.fd = c, .events = POLLOUT};
        if (poll(&p, 1, 1000) != 1)
            die("poll for the connect");
        int err = -1;
        socklen_t len = sizeof err;
        if (getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len) || err)
            die_msg("connect failed (SO_ERROR)");
        long a = syscall(SYS_accept4, lst, NULL, NULL, 0);
        if (a < 0)
            die("raw accept");
        syscall(SYS_close, a);
        aux_syscalls += 2;
        if (close(c))
            die("close");
    }
}

int main(int argc, char **argv)
{
    if (argc != 3)
        die_msg("usage: nbio eagain|connect N");
    long n = arg_long(argv[2]);
    if (!strcmp(argv[1], "eagain")) {
        int s;
        tcp_pair(&fd, &s);
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK))
            die("O_NONBLOCK");
        run_phases(loop_eagain, n, n < 100 ? n : 100);
    } else if (!strcmp(argv[1], "connect")) {
        lst = tcp_listener(&sa, 64);
        run_phases(loop_connect, n, n < 100 ? n : 100);
    } else {
        die_msg("unknown mode");
    }
    return 0;
}

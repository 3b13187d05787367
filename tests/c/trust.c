/* What the trust cache (src/fdtable/trust.rs) relies on, one mode per case:
 *
 *   trust MODE HOST PORT
 *
 * Each mode connects to HOST:PORT (a silent server, or an echo server for
 * pingpong), changes the socket's mode or timeout the way the mode says,
 * then reads and prints `op=read ret=R errno=E elapsed_ms=MS`. Modes:
 *   raw_nonblock   O_NONBLOCK set by raw syscall(SYS_fcntl): EAGAIN soon
 *   raw_blocking   SOCK_NONBLOCK socket made blocking by raw syscall
 *   fork_nonblock  a fork child sets O_NONBLOCK (shared file description)
 *   scm_nonblock   another process gets the socket over SCM_RIGHTS and
 *                  sets O_NONBLOCK
 *   raw_rcvtimeo   SO_RCVTIMEO 300 ms set by raw syscall(SYS_setsockopt)
 *   accept_rcvtimeo  a listener of ours with SO_RCVTIMEO 300 ms; the read
 *                  is on the accepted socket (op=read), the client silent
 *   fionbio        ioctl(FIONBIO, 1): op=read1; ioctl(FIONBIO, 0): op=read2
 *   setfl          fcntl(F_SETFL) on and off: op=read1, op=read2
 *   pingpong       20 request/response turns with the echo server, bytes
 *                  checked: op=pingpong ret=20 */
#define _GNU_SOURCE
#include "client.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static void read_report(const char *op, int fd)
{
    char b[16];
    double t0 = now_ms();
    long r = read(fd, b, sizeof b);
    int e = r < 0 ? errno : 0;
    report(op, r, e, now_ms() - t0, "");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: trust MODE HOST PORT\n");
        return 2;
    }
    const char *mode = argv[1], *host = argv[2];
    int port = atoi(argv[3]);
    struct timeval ms300 = {0, 300000};

    if (!strcmp(mode, "scm_nonblock")) {
        /* The helper exists before the socket is made: only SCM_RIGHTS
         * shares the socket with it. */
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
            die("socketpair");
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            close(sv[0]);
            int got;
            if (recv_fds(sv[1], &got, 1, 0) != 0)
                die("recv_fds");
            fcntl(got, F_SETFL, fcntl(got, F_GETFL) | O_NONBLOCK);
            char ok = 'k';
            if (write(sv[1], &ok, 1) != 1)
                _exit(3);
            _exit(0);
        }
        close(sv[1]);
        int fd = tcp_connect(host, port);
        if (fd < 0)
            die("connect");
        if (send_fds(sv[0], &fd, 1) != 0)
            die("send_fds");
        char ok;
        if (read(sv[0], &ok, 1) != 1)
            die("helper");
        waitpid(pid, NULL, 0);
        read_report("read", fd);
        return 0;
    }
    if (!strcmp(mode, "accept_rcvtimeo")) {
        int l = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t al = sizeof a;
        if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4) ||
            getsockname(l, (struct sockaddr *)&a, &al))
            die("listener");
        if (setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &ms300, sizeof ms300))
            die("SO_RCVTIMEO");
        int c = tcp_connect("127.0.0.1", ntohs(a.sin_port));
        if (c < 0)
            die("connect");
        int s = accept(l, NULL, NULL);
        if (s < 0)
            die("accept");
        read_report("read", s);
        return 0;
    }
    if (!strcmp(mode, "raw_blocking")) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        inet_pton(AF_INET, host, &a.sin_addr);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) && errno != EINPROGRESS)
            die("connect");
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, 5000) != 1)
            die("poll");
        syscall(SYS_fcntl, fd, F_SETFL, 0);
        read_report("read", fd);
        return 0;
    }

    int fd = tcp_connect(host, port);
    if (fd < 0)
        die("connect");
    if (!strcmp(mode, "raw_nonblock")) {
        syscall(SYS_fcntl, fd, F_SETFL, O_NONBLOCK);
        read_report("read", fd);
    } else if (!strcmp(mode, "fork_nonblock")) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            fcntl(fd, F_SETFL, O_NONBLOCK);
            _exit(0);
        }
        waitpid(pid, NULL, 0);
        read_report("read", fd);
    } else if (!strcmp(mode, "raw_rcvtimeo")) {
        syscall(SYS_setsockopt, fd, SOL_SOCKET, SO_RCVTIMEO, &ms300, sizeof ms300);
        read_report("read", fd);
    } else if (!strcmp(mode, "fionbio")) {
        int on = 1;
        if (ioctl(fd, FIONBIO, &on))
            die("FIONBIO");
        read_report("read1", fd);
        on = 0;
        if (ioctl(fd, FIONBIO, &on))
            die("FIONBIO");
        read_report("read2", fd);
    } else if (!strcmp(mode, "setfl")) {
        if (fcntl(fd, F_SETFL, O_NONBLOCK))
            die("F_SETFL");
        read_report("read1", fd);
        if (fcntl(fd, F_SETFL, 0))
            die("F_SETFL");
        read_report("read2", fd);
    } else if (!strcmp(mode, "pingpong")) {
        int n = 0;
        for (int i = 0; i < 20; i++) {
            char b = (char)('a' + i), r = 0;
            if (write(fd, &b, 1) != 1)
                die("write");
            if (read(fd, &r, 1) != 1 || r != b)
                break;
            n++;
        }
        report("pingpong", n, 0, 0, "");
    } else {
        fprintf(stderr, "trust: unknown mode %s\n", mode);
        return 2;
    }
    return 0;
}

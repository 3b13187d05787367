/* TCP, must wait: request/response ping-pong on a blocking loopback
 * socket. The program writes a 1-byte request with write() and reads the
 * 1-byte reply with read(); the peer answers only after the request
 * arrives, so read() is called before the reply exists and waits.
 *
 *   pingpong N [poll|select] [strict]
 *
 * With poll or select, each read is preceded by a poll()/select() for
 * readability with a 5 s timeout (a wait the library times), and it is
 * that wait which waits; the read then finds the reply.
 * The peer is this same binary (`pingpong --peer FD STRICT`), spawned
 * without any preload, answering with raw system calls. With `strict` it
 * answers only once the program is asleep (state S in /proc/PID/stat),
 * so that every read really waits however the program's read is made
 * (a library that first tries a non-blocking read and then polls would
 * otherwise sometimes find the reply already there): the system call and
 * instruction counts are then exact. Without it, a natural ping-pong, for
 * wall time. At the end the peer reports how many system calls it made,
 * and the program adds them to aux_syscalls, so that only the program's
 * own calls are counted. One iteration = one round trip.
 */
#include "tcp.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/select.h>
#include <sys/wait.h>


static int fd;
static int api; /* 0 read alone, 1 poll first, 2 select first */

/* Is process `stat_fd` (an open /proc/PID/stat) asleep? */
static int asleep(int stat_fd, long *calls)
{
    char b[512];
    long r = syscall(SYS_pread64, stat_fd, b, sizeof b - 1, 0);
    (*calls)++;
    if (r <= 0)
        return 1;
    b[r] = 0;
    char *p = strrchr(b, ')');
    return !p || p[1] != ' ' || p[2] == 'S';
}

static int peer(int s, int strict)
{
    long calls = 0, unsure = 0;
    int st = -1;
    if (strict) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)getppid());
        st = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY);
        calls++;
        if (st < 0)
            return 1;
    }
    char b;
    for (;;) {
        long r = raw_read(s, &b, 1);
        calls++;
        if (r == 0)
            break;
        if (r != 1)
            return 1;
        if (strict) {
            long k = 0;
            while (!asleep(st, &calls) && ++k < 200000)
                ;
            if (k >= 200000)
                unsure++;
        }
        if (raw_write(s, &b, 1) != 1)
            return 1;
        calls++;
    }
    /* Report: the system calls made in the loop (this one included). */
    long rep[2] = {calls + 1, unsure};
    return raw_write(s, rep, sizeof rep) == (long)sizeof rep ? 0 : 1;
}

static void loop(long n)
{
    char b = 'x';
    for (long i = 0; i < n; i++) {
        if (write(fd, &b, 1) != 1)
            die("write request");
        if (api == 1) {
            struct pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, 5000) != 1)
                die("poll");
        } else if (api == 2) {
            fd_set rs;
            FD_ZERO(&rs);
            FD_SET(fd, &rs);
            struct timeval tv = {5, 0};
            if (select(fd + 1, &rs, NULL, NULL, &tv) != 1)
                die("select");
        }
        if (read(fd, &b, 1) != 1)
            die("read reply");
    }
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--peer"))
        return peer(atoi(argv[2]), atoi(argv[3]));
    if (argc < 2)
        die_msg("usage: pingpong N [poll|select] [strict]");
    long n = arg_long(argv[1]);
    int strict = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "strict"))
            strict = 1;
        else if (!strcmp(argv[i], "poll"))
            api = 1;
        else if (!strcmp(argv[i], "select"))
            api = 2;
        else
            die_msg("usage: pingpong N [poll|select] [strict]");
    }
    int s;
    tcp_pair(&fd, &s);
    /* The peer: this binary (argv[0], a path), without any preload; under
     * valgrind it runs natively (no --trace-children). */
    char num[16];
    snprintf(num, sizeof num, "%d", s);
    char *args[] = {argv[0], "--peer", num, strict ? "1" : "0", NULL};
    /* The peer must not keep our end open: it sees EOF when we shut down. */
    if (fcntl(fd, F_SETFD, FD_CLOEXEC))
        die("FD_CLOEXEC");
    pid_t pid = spawn_peer(args);
    close(s);
    run_phases(loop, n, n < 200 ? n : 200);
    /* The peer's report (raw calls: no hook sees them). */
    if (shutdown(fd, SHUT_WR))
        die("shutdown");
    long rep[2];
    size_t got = 0;
    while (got < sizeof rep) {
        long r = raw_read(fd, (char *)rep + got, sizeof rep - got);
        if (r <= 0)
            die_msg("no report from the peer");
        got += (size_t)r;
    }
    close(fd);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die_msg("peer failed");
    /* run_phases printed aux_syscalls=0; this line supersedes it. */
    printf("aux_syscalls=%ld\n", rep[0]);
    printf("not_waiting=%ld\n", rep[1]);
    return 0;
}

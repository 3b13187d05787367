/* TCP reads with data ready: 4 KiB read/recv/readv on a loopback socket
 * whose receive queue already holds the data.
 *
 *   tcpread MODE N
 *
 * MODE: read, recv, readv. The harness's side of the connection writes
 * 64 KiB with a raw write() system call (no hook sees it), then the
 * program makes 16 reads of 4 KiB with the call under test; every one
 * finds its 4 KiB already queued (TCP_NODELAY, large buffers), so none
 * waits. One iteration = one 4 KiB read. A short read or a would-block is
 * fatal: the measurement must stay on the data-ready path.
 */
#include "tcp.h"

#include <sys/uio.h>

#define CHUNK 4096
#define BURST 16

static int rd, wr;
static char in[CHUNK], out[CHUNK * BURST];
static int m; /* 0 read, 1 recv, 2 readv */

static void loop(long n)
{
    long i = 0;
    while (i < n) {
        if (raw_write(wr, out, sizeof out) != (long)sizeof out)
            die("raw write of the burst");
        aux_syscalls++;
        for (int k = 0; k < BURST; k++, i++) {
            long r;
            if (m == 0) {
                r = read(rd, in, CHUNK);
            } else if (m == 1) {
                r = recv(rd, in, CHUNK, 0);
            } else {
                struct iovec v = {in, CHUNK};
                r = readv(rd, &v, 1);
            }
            if (r != CHUNK)
                die("4 KiB read came short (data was not ready)");
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 3)
        die_msg("usage: tcpread read|recv|readv N");
    if (!strcmp(argv[1], "read"))
        m = 0;
    else if (!strcmp(argv[1], "recv"))
        m = 1;
    else if (!strcmp(argv[1], "readv"))
        m = 2;
    else
        die_msg("unknown mode");
    long n = arg_long(argv[2]);
    n = (n + BURST - 1) / BURST * BURST;
    tcp_pair(&rd, &wr);
    int big = 1 << 20;
    setsockopt(rd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(wr, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    run_phases(loop, n, BURST * 64);
    return 0;
}

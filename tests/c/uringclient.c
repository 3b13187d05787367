/*
 * uringclient: an io_uring client for tests/supervise.rs. It connects to
 * 127.0.0.1:PORT with a plain connect, then waits for a reply in an
 * io_uring recv (no libc read/recv/poll call: no preload hook sees it):
 *     uringclient PORT
 * and prints one line "op=uring_recv ret=R errno=NAME elapsed_ms=MS".
 * Exit 0: the recv completed with data or EOF; 1: it failed; 2: setup error.
 * Built with gcc -luring (Debian: liburing-dev).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "client.h"

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    struct io_uring ring;
    if (io_uring_queue_init(4, &ring, 0) < 0) {
        fprintf(stderr, "io_uring_queue_init failed\n");
        return 2;
    }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_storage a;
    socklen_t alen = make_addr("127.0.0.1", atoi(argv[1]), &a);
    if (connect(s, (struct sockaddr *)&a, alen) < 0) {
        perror("connect");
        return 2;
    }
    char b[16];
    double t0 = now_ms();
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recv(sqe, s, b, sizeof b, 0);
    io_uring_submit(&ring);
    struct io_uring_cqe *cqe;
    int r = io_uring_wait_cqe(&ring, &cqe);
    if (r < 0) {
        fprintf(stderr, "io_uring_wait_cqe: %s\n", strerror(-r));
        return 2;
    }
    int res = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    printf("op=uring_recv ret=%d errno=%s elapsed_ms=%ld\n", res,
           res < 0 ? strerror(-res) : "0", (long)(now_ms() - t0));
    return res < 0 ? 1 : 0;
}

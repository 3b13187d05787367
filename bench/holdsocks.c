/*
 * holdsocks: the supervised program of bench/supervise_cost.py, built with
 * gcc -static (the preload cannot reach it: every socket is the
 * supervisor's).
 *     holdsocks hold PORT N   connect N sockets to 127.0.0.1:PORT, send one
 *                             byte on each, then wait (never reads) until
 *                             every one has failed or been closed; prints
 *                             "failed=F" (F: connections that ended in error)
 *     holdsocks read PORT N   connect N sockets, read each until EOF;
 *                             prints "bytes=B errors=E"
 * Exit 0 after printing; 2 on a setup error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    int n = atoi(argv[3]);
    struct rlimit rl = {n + 64, n + 64};
    setrlimit(RLIMIT_NOFILE, &rl);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(atoi(argv[2]));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct pollfd *p = calloc(n, sizeof *p);
    if (!p) return 2;
    for (int i = 0; i < n; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
            perror("connect");
            return 2;
        }
        p[i].fd = s;
        p[i].events = POLLIN;
    }
    int hold = strcmp(argv[1], "hold") == 0;
    if (hold)
        for (int i = 0; i < n; i++)
            if (write(p[i].fd, "x", 1) != 1) return 2;
    long bytes = 0;
    int errors = 0, open = n;
    char buf[65536];
    /* bounded: every pass ends at least one wait; each socket ends once */
    while (open > 0) {
        if (poll(p, n, -1) < 0) {
            if (errno == EINTR) continue;
            return 2;
        }
        for (int i = 0; i < n; i++) {
            if (p[i].fd < 0 || !p[i].revents) continue;
            ssize_t k = recv(p[i].fd, buf, sizeof buf, 0);
            if (k > 0) {
                bytes += k;
                continue;
            }
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) errors++;
            close(p[i].fd);
            p[i].fd = -1;
            open--;
        }
    }
    if (hold)
        printf("failed=%d\n", errors);
    else
        printf("bytes=%ld errors=%d\n", bytes, errors);
    return 0;
}

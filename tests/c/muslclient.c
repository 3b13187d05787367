/*
 * muslclient: a small client for the musl tests (tests/musl.rs), built with
 * musl-gcc. It connects to 127.0.0.1:PORT and waits in one call:
 *     muslclient PORT recv|read|poll|select|selecttv|epoll|connect
 * and prints one line "op=NAME ret=R errno=E elapsed_ms=MS".
 * Exit 0: the call succeeded; 1: it failed; 2: setup error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>

#include "client.h"
#include <unistd.h>

static int result(const char *op, long ret, double t0) {
    int e = errno;
    printf("op=%s ret=%ld errno=%s elapsed_ms=%ld\n", op, ret,
           ret < 0 ? (e == ETIMEDOUT ? "ETIMEDOUT" : strerror(e)) : "0", (long)(now_ms() - t0));
    return ret < 0 ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_storage a;
    socklen_t alen = make_addr("127.0.0.1", atoi(argv[1]), &a);
    const char *op = argv[2];
    double t0 = now_ms();
    int r = connect(s, (struct sockaddr *)&a, alen);
    if (strcmp(op, "connect") == 0 || r < 0) return result("connect", r, t0);
    char b[16];
    t0 = now_ms();
    if (strcmp(op, "recv") == 0) return result(op, recv(s, b, sizeof b, 0), t0);
    if (strcmp(op, "read") == 0) return result(op, read(s, b, sizeof b), t0);
    if (strcmp(op, "poll") == 0) {
        struct pollfd p = {s, POLLIN, 0};
        int n = poll(&p, 1, -1);
        if (n == 1) n = recv(s, b, sizeof b, 0); /* ready: the error is in recv */
        return result(op, n, t0);
    }
    if (strcmp(op, "select") == 0) {
        fd_set f;
        FD_ZERO(&f);
        FD_SET(s, &f);
        int n = select(s + 1, &f, NULL, NULL, NULL);
        if (n == 1) n = recv(s, b, sizeof b, 0);
        return result(op, n, t0);
    }
    if (strcmp(op, "selecttv") == 0) {
        /* A timed select that ends by its own timeout (0.3 s, before T):
         * musl's select passes the kernel a copy, so the program's timeval
         * stays as it was. */
        fd_set f;
        FD_ZERO(&f);
        FD_SET(s, &f);
        struct timeval tv = {0, 300000};
        int n = select(s + 1, &f, NULL, NULL, &tv);
        printf("tv=%ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);
        return result(op, n, t0);
    }
    if (strcmp(op, "epoll") == 0) {
        int ep = epoll_create1(0);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
        epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
        int n = epoll_wait(ep, &ev, 1, -1);
        if (n == 1) n = recv(s, b, sizeof b, 0);
        return result(op, n, t0);
    }
    return 2;
}

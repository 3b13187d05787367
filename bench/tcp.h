/* Loopback TCP helpers for the benchmark programs (127.0.0.1 only). */
#ifndef TCP_H
#define TCP_H

#include "bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* A listening socket on 127.0.0.1, any port; its address in *sa. */
static int tcp_listener(struct sockaddr_in *sa, int backlog)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0)
        die("socket");
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)sa, sizeof *sa))
        die("bind 127.0.0.1");
    socklen_t len = sizeof *sa;
    if (getsockname(l, (struct sockaddr *)sa, &len))
        die("getsockname");
    if (listen(l, backlog))
        die("listen");
    return l;
}

static int tcp_connect(const struct sockaddr_in *sa)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0)
        die("socket");
    if (connect(c, (const struct sockaddr *)sa, sizeof *sa))
        die("connect 127.0.0.1");
    return c;
}

/* A connected pair: *client (connect side) and *server (accepted). */
__attribute__((unused)) static void tcp_pair(int *client, int *server)
{
    struct sockaddr_in sa;
    int l = tcp_listener(&sa, 4);
    *client = tcp_connect(&sa);
    *server = accept(l, NULL, NULL);
    if (*server < 0)
        die("accept");
    close(l);
    int one = 1;
    setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

#endif

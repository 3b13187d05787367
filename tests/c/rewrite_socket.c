/* A tiny preload that rewrites socket(): every TCP stream socket becomes
 * MPTCP (IPPROTO_MPTCP), as `mptcpize run` does. For the chaining test. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>

int socket(int domain, int type, int protocol)
{
    static int (*real)(int, int, int);
    if (!real)
        real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
    if ((domain == AF_INET || domain == AF_INET6) && (type & 0xf) == SOCK_STREAM &&
        (protocol == 0 || protocol == IPPROTO_TCP))
        protocol = 262;
    return real(domain, type, protocol);
}

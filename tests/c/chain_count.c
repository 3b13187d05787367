/* A second preload, loaded AFTER libtimeoutsock: wraps connect, recv and
 * poll (what the library's hooks call as "the real function") and counts
 * the calls that reach it; prints the counts on stderr at exit. With
 * LD_PRELOAD="libtimeoutsock.so libchain_count.so" every call the library
 * passes on must reach these wrappers, as with dlsym(RTLD_NEXT). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

static int n_connect, n_recv, n_poll;

int connect(int fd, const struct sockaddr *a, socklen_t len)
{
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real)
        real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
    __atomic_add_fetch(&n_connect, 1, __ATOMIC_RELAXED);
    return real(fd, a, len);
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    static ssize_t (*real)(int, void *, size_t, int);
    if (!real)
        real = (ssize_t (*)(int, void *, size_t, int))dlsym(RTLD_NEXT, "recv");
    __atomic_add_fetch(&n_recv, 1, __ATOMIC_RELAXED);
    return real(fd, buf, n, flags);
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    static int (*real)(struct pollfd *, nfds_t, int);
    if (!real)
        real = (int (*)(struct pollfd *, nfds_t, int))dlsym(RTLD_NEXT, "poll");
    __atomic_add_fetch(&n_poll, 1, __ATOMIC_RELAXED);
    return real(fds, n, timeout);
}

__attribute__((destructor)) static void report(void)
{
    fprintf(stderr, "chain: connect=%d recv=%d poll=%d\n", n_connect, n_recv, n_poll);
}

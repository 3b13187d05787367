/* A preloaded library whose constructor uses hooked calls before
   libtimeoutsock's own constructor has run (LD_PRELOAD="libtimeoutsock.so
   libearly.so" initialises libearly first). */
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
__attribute__((constructor)) static void early(void) {
    char buf[16];
    int fd = open("/dev/zero", O_RDONLY);
    ssize_t r = read(fd, buf, sizeof buf);
    close(fd);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(1); a.sin_addr.s_addr = htonl(0x7f000001);
    int c = connect(s, (struct sockaddr*)&a, sizeof a);
    int e = errno;
    close(s);
    char msg[128]; int n = snprintf(msg, sizeof msg, "early: read=%zd connect=%d errno=%s\n", r, c, strerror(e));
    write(2, msg, n);
}

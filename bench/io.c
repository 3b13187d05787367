/* Non-socket I/O: 64-byte read/write on a file, a pipe and /dev/zero.
 *
 *   io MODE N DIR
 *
 * MODE: file-read, file-write, pipe (write + read: two calls per
 * iteration), zero-read, zero-write. DIR: where the scratch file goes.
 * The file is 64 KiB and rewound every 1024 calls, so every call moves
 * exactly 64 bytes. See bench.h for the phases and the output.
 */
#include "bench.h"

#include <fcntl.h>

static int fd = -1, pfd[2];
static char buf[64];
static const char *mode;

static void must(long r)
{
    if (r != 64)
        die("io call");
}

static void loop_file_read(long n)
{
    for (long i = 0; i < n; i++) {
        if ((i & 1023) == 0 && lseek(fd, 0, SEEK_SET) != 0)
            die("lseek");
        must(read(fd, buf, sizeof buf));
    }
}

static void loop_file_write(long n)
{
    for (long i = 0; i < n; i++) {
        if ((i & 1023) == 0 && lseek(fd, 0, SEEK_SET) != 0)
            die("lseek");
        must(write(fd, buf, sizeof buf));
    }
}

static void loop_pipe(long n)
{
    for (long i = 0; i < n; i++) {
        must(write(pfd[1], buf, sizeof buf));
        must(read(pfd[0], buf, sizeof buf));
    }
}

static void loop_zero_read(long n)
{
    for (long i = 0; i < n; i++)
        must(read(fd, buf, sizeof buf));
}

static void loop_zero_write(long n)
{
    for (long i = 0; i < n; i++)
        must(write(fd, buf, sizeof buf));
}

int main(int argc, char **argv)
{
    if (argc != 4)
        die_msg("usage: io MODE N DIR");
    mode = argv[1];
    long n = arg_long(argv[2]);
    char path[4096];
    snprintf(path, sizeof path, "%s/io-scratch.%d", argv[3], (int)getpid());
    void (*loop)(long);
    if (!strcmp(mode, "file-read") || !strcmp(mode, "file-write")) {
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            die("open scratch file");
        unlink(path);
        static char block[65536];
        if (raw_write(fd, block, sizeof block) != (long)sizeof block)
            die("fill scratch file");
        loop = mode[5] == 'r' ? loop_file_read : loop_file_write;
    } else if (!strcmp(mode, "pipe")) {
        if (pipe(pfd))
            die("pipe");
        loop = loop_pipe;
    } else if (!strcmp(mode, "zero-read") || !strcmp(mode, "zero-write")) {
        fd = open("/dev/zero", O_RDWR);
        if (fd < 0)
            die("open /dev/zero");
        loop = mode[5] == 'r' ? loop_zero_read : loop_zero_write;
    } else {
        die_msg("unknown mode");
        return 2;
    }
    run_phases(loop, n, n < 1000 ? n : 1000);
    return 0;
}

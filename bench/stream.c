/* A TCP stream read 4 KiB at a time: read() on a blocking loopback socket
 * as fast as a writer feeds it. Some reads find data queued, some wait:
 * the mix real downloads have.
 *
 *   stream N
 *
 * N reads' worth of 4 KiB (16384: 64 MiB). A writer thread sends the whole
 * stream in 64 KiB raw write() system calls (no hook sees them; counted in
 * aux_syscalls); the program reads until it has every byte of the phase.
 * Default socket buffers. One iteration = 4 KiB read (a short read counts
 * as part of its 4 KiB; it costs a call, not an iteration).
 */
#include "tcp.h"

#include <pthread.h>

#define CHUNK 4096
#define WCHUNK 65536

static int rd, wr;
static char in[CHUNK], out[WCHUNK];
static long total; /* bytes the writer sends */
static long wcalls;

static void *writer(void *arg)
{
    (void)arg;
    long left = total;
    while (left > 0) {
        long k = left < WCHUNK ? left : WCHUNK;
        long r = raw_write(wr, out, (size_t)k);
        __atomic_add_fetch(&wcalls, 1, __ATOMIC_RELAXED);
        if (r <= 0)
            die("raw write of the stream");
        left -= r;
    }
    return NULL;
}

static void loop(long n)
{
    long want = n * CHUNK;
    while (want > 0) {
        long r = read(rd, in, want < CHUNK ? want : CHUNK);
        if (r <= 0)
            die("read of the stream");
        want -= r;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2)
        die_msg("usage: stream N");
    long n = arg_long(argv[1]);
    long warm = n < 256 ? n : 256;
    total = (warm + 3 * n) * CHUNK;
    tcp_pair(&rd, &wr);
    memset(out, 'x', sizeof out);
    pthread_t t;
    if (pthread_create(&t, NULL, writer, NULL))
        die_msg("pthread_create");
    run_phases(loop, n, warm);
    if (pthread_join(t, NULL))
        die_msg("pthread_join");
    /* run_phases printed aux_syscalls=0; this line supersedes it. */
    printf("aux_syscalls=%ld\n", __atomic_load_n(&wcalls, __ATOMIC_RELAXED));
    return 0;
}

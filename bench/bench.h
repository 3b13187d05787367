/* Shared by the benchmark programs (scripts/bench runs them).
 *
 * Every per-call program has the same shape: set up, warm up (first calls
 * classify descriptors, fault pages in), then phase A of N iterations and
 * phase B of 2N iterations. Under callgrind each phase ends with a dump of
 * the instruction counts (client requests, no-ops without valgrind), so the
 * slope (B - A) / N is the per-iteration cost with every constant cost
 * cancelled. Without valgrind the program times the phases itself.
 *
 * Output, one "key=value" per line on stdout:
 *   n=            N, the length of phase A
 *   iters=        loop iterations in the whole process (warm-up included),
 *                 for the slope of whole-process counts (perf) between runs
 *   aux_syscalls= system calls the harness itself made with raw syscall()
 *                 inside the loops (writer/peer side), subtracted by the
 *                 script so that only the program's own calls are counted
 *   ns_per_iter=  wall time per iteration of phases A and B
 */
#ifndef BENCH_H
#define BENCH_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif
#ifndef HAVE_CALLGRIND
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(s)
#endif

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void die_msg(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(2);
}

/* Raw system calls: never reach an exported libc function, so a preloaded
 * library's hooks do not see them (the harness's side of a connection). */
static inline long raw_read(int fd, void *b, size_t n)
{
    return syscall(SYS_read, fd, b, n);
}
static inline long raw_write(int fd, const void *b, size_t n)
{
    return syscall(SYS_write, fd, b, n);
}

static long aux_syscalls; /* raw calls made in the loops, see above */

static long arg_long(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v <= 0 || v > 100000000)
        die_msg("bad iteration count");
    return v;
}

/* Warm-up, phase A (n), phase B (2n); prints the results. */
__attribute__((unused)) static void run_phases(void (*loop)(long), long n, long warm)
{
    loop(warm);
    CALLGRIND_ZERO_STATS;
    uint64_t t0 = now_ns();
    loop(n);
    uint64_t t1 = now_ns();
    CALLGRIND_DUMP_STATS_AT("phase A");
    uint64_t t2 = now_ns();
    loop(2 * n);
    uint64_t t3 = now_ns();
    CALLGRIND_DUMP_STATS_AT("phase B");
    printf("n=%ld\n", n);
    printf("iters=%ld\n", warm + 3 * n);
    printf("aux_syscalls=%ld\n", aux_syscalls);
    printf("ns_per_iter=%.2f\n", (double)((t1 - t0) + (t3 - t2)) / (3.0 * n));
    fflush(stdout);
}

/* Starts this binary's peer, args[0] a path, without any preload or
 * TIMEOUTSOCK_* (its calls must not be counted as the library's): dies on
 * failure, returns its pid. */
static inline pid_t spawn_peer(char *const *args)
{
    extern char **environ;
    char *env[512];
    int k = 0;
    for (char **e = environ; *e && k < 510; e++)
        if (strncmp(*e, "LD_PRELOAD=", 11) && strncmp(*e, "TIMEOUTSOCK_", 12))
            env[k++] = *e;
    env[k] = NULL;
    pid_t pid;
    int rc = posix_spawn(&pid, args[0], NULL, NULL, args, env);
    if (rc) {
        errno = rc;
        die("posix_spawn peer");
    }
    return pid;
}

#endif

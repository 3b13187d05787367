/* Exec cost: posix_spawn /bin/true N times and wait for each.
 *
 *   spawn N PRELOAD|- [SECS|-]
 *
 * The driver itself runs without a preload: only the children get
 * LD_PRELOAD=PRELOAD (and TIMEOUTSOCK_SECS=SECS), so the time per spawn is
 * what an exec'd process pays. Prints iters= and ns_per_iter= (the wall
 * time of one spawn + exec + exit + wait).
 */
#include "bench.h"

#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 3)
        die_msg("usage: spawn N PRELOAD|- [SECS|-]");
    long n = arg_long(argv[1]);
    static char pre[4096], secs[256];
    char *env[512];
    int k = 0;
    for (char **e = environ; *e && k < 500; e++) {
        if (!strncmp(*e, "LD_PRELOAD=", 11) || !strncmp(*e, "TIMEOUTSOCK_", 12))
            continue;
        env[k++] = *e;
    }
    if (strcmp(argv[2], "-")) {
        snprintf(pre, sizeof pre, "LD_PRELOAD=%s", argv[2]);
        env[k++] = pre;
    }
    if (argc > 3 && strcmp(argv[3], "-")) {
        snprintf(secs, sizeof secs, "TIMEOUTSOCK_SECS=%s", argv[3]);
        env[k++] = secs;
    }
    env[k] = NULL;
    char *child[] = {"/bin/true", NULL};
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pid_t pid;
        int rc = posix_spawn(&pid, "/bin/true", NULL, NULL, child, env);
        if (rc) {
            errno = rc;
            die("posix_spawn");
        }
        int st;
        if (waitpid(pid, &st, 0) != pid)
            die("waitpid");
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            die_msg("/bin/true failed under the preload");
    }
    uint64_t t1 = now_ns();
    printf("iters=%ld\n", n);
    printf("aux_syscalls=0\n");
    printf("ns_per_iter=%.2f\n", (double)(t1 - t0) / n);
    return 0;
}

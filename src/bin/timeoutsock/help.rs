//! The `--help` text.

use crate::preload::LIB_NAME;
use crate::{DEFAULT_SECS, PROG};

/// What `--help` prints.
pub(crate) fn help_text() -> String {
    format!(
        "\
Usage: {PROG} [OPTION]... [--] COMMAND [ARG]...
  or:  {PROG} --check [OPTION]... [--] COMMAND [ARG]...
  or:  {PROG} --env [OPTION]...
  or:  {PROG} --pid PID [OPTION]...
Run COMMAND with libtimeoutsock preloaded: a TCP connection on which nothing
moves for SECS seconds fails with \"Connection timed out\" (ETIMEDOUT).
Processes of COMMAND's tree that the preload cannot reach (static, Go,
io_uring users, other architectures) are supervised from outside: their
stalled connects and sends fail with ETIMEDOUT, silent peers are aborted
(ECONNABORTED, \"Software caused connection abort\").

  -t, --timeout=SECS  idle timeout of connect, reads and writes
                        (TIMEOUTSOCK_SECS); default: $TIMEOUTSOCK_SECS if set,
                        else {DEFAULT_SECS}
      --connect=SECS  timeout of connect (TIMEOUTSOCK_CONNECT_SECS)
      --read=SECS     timeout of reads (TIMEOUTSOCK_READ_SECS)
      --write=SECS    timeout of writes (TIMEOUTSOCK_WRITE_SECS)
      --accept=SECS   timeout of accept, off unless given
                        (TIMEOUTSOCK_ACCEPT_SECS)
      --exclude=PEERS never time connections with PEERS (TIMEOUTSOCK_EXCLUDE)
      --only=PEERS    time only connections with PEERS (TIMEOUTSOCK_ONLY)
      --log           one line on stderr per timeout (TIMEOUTSOCK_LOG=1)
      --force         run COMMAND even when neither the preload nor the
                        supervisor can work for it
      --preload-only  no supervisor: execute COMMAND in place with the
                        preload alone (static and Go programs are refused)
      --pid=PID       no COMMAND: supervise the running process PID and its
                        descendants until it exits or we are interrupted
                        (needs the permission to ptrace PID)
      --check         do not run COMMAND: say what it would get and why (the
                        library's glibc or musl build, the outside supervisor,
                        or nothing), and the settings; exit 0 when covered,
                        122 when not
      --env           no COMMAND: print NAME=value lines (LD_PRELOAD and the
                        settings) for later programs, e.g. >> \"$GITHUB_ENV\"
      --help          display this help and exit
      --version       output version information and exit

SECS: digits with an optional decimal point (20, 2.5, 0.25), from 0.001 to
2147483; 0 turns that timeout off. PEERS: a comma list of ADDRESS[/PREFIX]
with an optional :PORT, IPv6 in brackets before a port, for example
10.0.0.0/8,127.0.0.1:5432,[::1]:6379.

The library is $TIMEOUTSOCK_LIB if set, else {LIB_NAME} next to this
program, in ../lib or ../lib/ARCH-linux-gnu from its directory; the musl
build ($TIMEOUTSOCK_MUSL_LIB, libtimeoutsock-musl.so) goes to musl programs
where no glibc program can meet it (see the man page). It goes first in LD_PRELOAD (joined
with ':'), unless LD_PRELOAD already names it. COMMAND is searched in PATH
and run as a child: {PROG} stays its parent (forwarding signals,
reproducing its exit status or death by signal) to supervise the tree. With
--preload-only, or when every timeout is 0, COMMAND is executed in place of
{PROG} (same process). {PROG} refuses a COMMAND that nothing can reach:
setuid or setgid, or with file capabilities (and, with --preload-only,
statically linked, Go, or built for another architecture).

Exit status:
  122  neither the preload nor the supervisor can work for COMMAND (not run;
       --force runs it), or the supervisor may not look into it (the reason
       and the fix, e.g. --cap-add SYS_PTRACE, are printed)
  125  {PROG} itself failed (bad option or SECS, library not found)
  126  COMMAND is found but cannot be invoked
  127  COMMAND cannot be found
  -    otherwise, the exit status of COMMAND

Full documentation: man {PROG}
"
    )
}

"""Benchmark of libtimeoutsock against no preload and an empty preload.

    scripts/bench                 # full run (~1.5 min on 2 cores), table + target/bench/bench.json
    scripts/bench --quick         # tiny counts, every row, no meaningful speeds (smoke test)
    scripts/bench --json PATH     # where the JSON goes
    scripts/bench --explain       # also print where the added instructions/syscalls go
    scripts/bench --lib PATH.so   # measure that library file instead of building one
    scripts/bench --only exec --rounds 41   # one group, more wall-time rounds
    scripts/bench --strict        # exit 3 if a goal is missed (not with --quick)
    scripts/bench --check-json PATH [--quick]   # check a report against table.py
    scripts/bench --readme [PATH] [--write]  # the README table from a report (--write: into README.md)
    scripts/bench --merge FULL PART --json OUT  # FULL's rows, those of PART's groups from PART
    scripts/bench --only supervise  # the outside supervisor's rows (~90 s; supervise.py)

The package: table.py (scenarios, rows and goals: the one declarative
table), measure.py (tools, build, running and counting), supervise.py (the
outside supervisor's cost and precision; also runs alone), report.py (rows,
terminal and README tables, JSON check, merge), cli.py (the command line).
scripts/bench is a launcher; `python3 -m tsbench` in bench/ does the same.

What is counted, and how (machines are noisy, so the goals are on counts
that do not depend on load):
- user-space instructions with valgrind's callgrind: the same binary and
  input give the same count. Every program runs a warm-up, then N and 2N
  iterations, dumping the counts after each (client requests); the
  per-iteration cost is the slope (2N - N) / N, load time and set-up cancel.
- system calls with `perf stat -e raw_syscalls:sys_enter`: whole-process
  counts at N and 2N iterations, slope again. System calls the harness's own
  side makes (a peer answering with raw syscall()) are reported by the
  programs and subtracted.
- wall time as secondary figures: variants interleaved (A/B/C, A/B/C, ...)
  over several repetitions, medians.
Variants: `baseline` (no preload), `empty` (LD_PRELOAD of an empty .so built
from bench/empty.c: the floor any preload pays), `library` (LD_PRELOAD of
libtimeoutsock with TIMEOUTSOCK_SECS=30: enabled, nothing times out) and, for
the non-socket rows and exec, `library_off` (TIMEOUTSOCK_SECS unset: pure
pass-through). The C programs are in bench/ (see bench/bench.h).

The `supervise` rows (supervise.py) are the wrapper supervising a static
program from outside: its CPU (/proc/PID/schedstat) over 30 s with 10 and
1,000 idle sockets at T = 30 s, the lateness of its aborts of silent peers at
T = 1 s (from the kernel's arrival time of the last byte to the RST at the
server), and aborts of healthy transfers; one figure each, no reference
variant (the "library" column holds the supervisor's figure).

Everything runs on 127.0.0.1, pipes and files; every loop is bounded; every
child is killed by its process group (its own PID) if it overruns.
Needs gcc, cargo (unless --lib), python3; valgrind and perf (Debian packages
`valgrind` and `linux-perf`) for the counts: without them those rows are
"n/a" and the rest is still measured.
"""

"""Running and counting: the tools, the build, and one Bench that measures
every scenario of table.py under its variants (see __init__.py for how)."""

import concurrent.futures
import glob
import itertools
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
from pathlib import Path

from . import supervise
from .table import (ALL4, BARE, EPBUSY, EPBUSY_SECS, EPBUSY_TICK_MS, LATE_RUNS, LATE_T_MS,
                    LIB_SECS, REPS, SCENARIOS, SIZES)

ROOT = Path(__file__).resolve().parents[2]
BENCH_SRC = ROOT / "bench"
OUT = ROOT / "target" / "bench"
BIN = OUT / "bin"
BUILD_DIR = ROOT / "target" / "bench-build"
RUN_TIMEOUT = 600  # seconds, any single program run

# Per-syscall counters for the socket rows' breakdown (--explain / JSON).
SYSCALL_EVENTS = [
    "read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg",
    "sendmsg", "fcntl", "getsockopt", "poll", "ppoll", "select", "pselect6",
    "epoll_wait", "epoll_pwait", "connect", "mmap",
]


def set_out(path):
    """Where the programs, dumps and JSON go (--out)."""
    global OUT, BIN
    OUT = Path(path).resolve()
    BIN = OUT / "bin"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class RunError(Exception):
    pass


# --------------------------------------------------------------- running

def base_env():
    """The caller's environment without any preload or library setting."""
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith("TIMEOUTSOCK_")}
    env["LC_ALL"] = "C"
    return env


def run(argv, env=None, timeout=RUN_TIMEOUT, cwd=None):
    """Runs argv in its own process group; returns stdout. Kills the group
    (by the child's PID) if it overruns."""
    p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.communicate()
        raise RunError(f"{Path(argv[0]).name}: no result after {timeout} s (killed)")
    if p.returncode != 0:
        tail = " | ".join(err.strip().splitlines()[-3:])
        raise RunError(f"{' '.join(Path(a).name if '/' in a else a for a in argv[:6])}"
                       f": exit {p.returncode}: {tail}")
    return out


def kv(out, key):
    """Last `key=value` in a program's output, as a float."""
    vals = re.findall(rf"^{re.escape(key)}=(-?[0-9.]+)$", out, re.M)
    if not vals:
        raise RunError(f"no {key}= in output")
    return float(vals[-1])


# ------------------------------------------------------------- the tools

class Tools:
    def __init__(self):
        self.valgrind = None  # None: available; else the reason it is not
        self.perf = None
        self.events = []  # per-syscall tracepoints that work

    def probe(self, without=()):
        if "valgrind" in without:
            self.valgrind = "valgrind unavailable: --without valgrind"
        elif not shutil.which("valgrind"):
            self.valgrind = "valgrind unavailable: not installed (Debian package valgrind)"
        elif not Path("/usr/include/valgrind/callgrind.h").exists():
            self.valgrind = "valgrind unavailable: /usr/include/valgrind/callgrind.h missing"
        else:
            try:
                run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                     "/bin/true"], env=base_env(), timeout=60)
            except RunError as e:
                self.valgrind = f"valgrind unavailable: {e}"
        if "perf" in without:
            self.perf = "perf unavailable: --without perf"
        elif not shutil.which("perf"):
            self.perf = "perf unavailable: not installed (Debian package linux-perf)"
        else:
            try:
                c = perf_count(["/bin/true"], base_env(), [])[0]
                if c <= 0:
                    self.perf = "perf unavailable: raw_syscalls:sys_enter counted nothing"
            except RunError as e:
                self.perf = f"perf unavailable: {e}"
        if self.perf is None:
            try:
                perf_count(["/bin/true"], base_env(), SYSCALL_EVENTS)
                self.events = list(SYSCALL_EVENTS)
            except RunError:
                for ev in SYSCALL_EVENTS:
                    try:
                        perf_count(["/bin/true"], base_env(), [ev])
                        self.events.append(ev)
                    except RunError:
                        pass


# Unique names for perf output files: perf runs go on in several threads.
_perf_seq = itertools.count(1)


def perf_count(argv, env, events):
    """Counts under perf stat: [raw syscalls, then each of `events`]."""
    return perf_run(argv, env, events)[0]


def perf_run(argv, env, events):
    """Runs argv under perf stat; returns (counts as perf_count, stdout)."""
    OUT.mkdir(parents=True, exist_ok=True)
    outfile = OUT / f"perf.{os.getpid()}.{next(_perf_seq)}.txt"
    evs = ["raw_syscalls:sys_enter"] + [e if ":" in e or "-" in e else f"syscalls:sys_enter_{e}"
                                        for e in events]
    try:
        out = run(["perf", "stat", "-x,", "-o", str(outfile), "-e", ",".join(evs), "--"]
                  + argv, env=env)
        counts = {}
        for line in outfile.read_text().splitlines():
            f = line.split(",")
            if len(f) >= 3 and f[2] in evs:
                if not f[0].strip().isdigit():
                    raise RunError(f"perf: {f[2]}: {f[0]}")
                counts[f[2]] = int(f[0])
        if len(counts) != len(evs):
            raise RunError("perf: counts missing: " + outfile.read_text().strip()[-200:])
        return [counts[e] for e in evs], out
    finally:
        try:
            outfile.unlink()
        except FileNotFoundError:
            pass


def perf_filtered(argv, env, event, flt):
    """Runs argv under perf stat counting one tracepoint with a filter;
    returns (raw syscalls, stdout, filtered count)."""
    OUT.mkdir(parents=True, exist_ok=True)
    outfile = OUT / f"perf.{os.getpid()}.{next(_perf_seq)}.txt"
    try:
        out = run(["perf", "stat", "-x,", "-o", str(outfile), "-e", "raw_syscalls:sys_enter",
                   "-e", event, "--filter", flt, "--"] + argv, env=env)
        counts = {}
        for line in outfile.read_text().splitlines():
            f = line.split(",")
            if len(f) >= 3 and f[2] in ("raw_syscalls:sys_enter", event):
                if not f[0].strip().isdigit():
                    raise RunError(f"perf: {f[2]}: {f[0]}")
                counts[f[2]] = int(f[0])
        if len(counts) != 2:
            raise RunError("perf: counts missing: " + outfile.read_text().strip()[-200:])
        return counts["raw_syscalls:sys_enter"], out, counts[event]
    finally:
        try:
            outfile.unlink()
        except FileNotFoundError:
            pass


# ------------------------------------------------------------- building

def wants(args, group):
    return not args.only or group in args.only.split(",")


def build(args):
    """Builds what the run needs; returns the library (and sets
    args.wrapper, args.holdsocks for the supervise group)."""
    BIN.mkdir(parents=True, exist_ok=True)
    sup = wants(args, "supervise")
    cargo = os.environ.get("CARGO") or shutil.which("cargo") or "cargo"
    targets = [] if args.lib else ["--lib"]
    if sup:
        targets += ["--bin", "timeoutsock"]  # the supervisor is the wrapper
    if targets:
        log(f"bench: cargo build --release {' '.join(targets)} --target-dir "
            f"{BUILD_DIR.relative_to(ROOT)}")
        r = subprocess.run([cargo, "build", "--release", *targets, "--manifest-path",
                            str(ROOT / "Cargo.toml"), "--target-dir", str(BUILD_DIR)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            sys.exit("bench: building failed:\n" + r.stdout[-3000:])
    if args.lib:
        lib = Path(args.lib).resolve()
        if not lib.is_file():
            sys.exit(f"bench: --lib {lib}: no such file")
    else:
        lib = BUILD_DIR / "release" / "libtimeoutsock.so"
    args.wrapper = BUILD_DIR / "release" / "timeoutsock" if sup else None
    gcc = shutil.which("gcc") or shutil.which("cc")
    if not gcc:
        sys.exit("bench: gcc not found (Debian package gcc)")
    cmds = [[gcc, "-O2", "-shared", "-fPIC", "-o", str(BIN / "libempty.so"),
             str(BENCH_SRC / "empty.c")]]
    progs = ["spawn", "late", "epbusy"] + sorted({sc.prog for sc in SCENARIOS})
    for prog in progs:
        cmds.append([gcc, "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(BIN / prog),
                     str(BENCH_SRC / f"{prog}.c")])
    for c in cmds:
        r = subprocess.run(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            sys.exit(f"bench: {' '.join(c)} failed:\n{r.stdout}")
    args.holdsocks = None
    if sup:
        try:
            args.holdsocks = supervise.build_static(BIN)
        except supervise.Failed as e:
            sys.exit(f"bench: {e}")
    return lib


class Bench:
    def __init__(self, args, tools, lib):
        self.args = args
        self.tools = tools
        self.lib = str(lib)
        self.empty = str(BIN / "libempty.so")
        self.q = 1 if args.quick else 0
        self.res = {}  # (key, metric, variant) -> value
        self.err = {}  # (key, metric) -> reason
        self.breakdown = {}  # (key, metric) -> list
        self.extra = {}  # (key, metric, variant) -> other numbers
        self.cg_n = {}  # key -> N of the callgrind runs

    def n(self, group, purpose):
        return SIZES[group][purpose][self.q]

    def env(self, variant, secs=LIB_SECS):
        env = base_env()
        if variant == "empty":
            env["LD_PRELOAD"] = self.empty
        elif variant == "library":
            env["LD_PRELOAD"] = self.lib
            env["TIMEOUTSOCK_SECS"] = secs
        elif variant == "library_off":
            env["LD_PRELOAD"] = self.lib
        return env

    def spawn_argv(self, variant, n):
        pre = {"baseline": "-", "empty": self.empty}.get(variant, self.lib)
        secs = LIB_SECS if variant == "library" else "-"
        return [str(BIN / "spawn"), str(n), pre, secs]

    def argv(self, sc, purpose, n):
        """A scenario's command line (purpose: cg, perf, wall)."""
        args = [a.format(n=n, dir=OUT) for a in sc.args]
        if purpose != "wall":
            args += list(sc.count_args)
        return [str(BIN / sc.prog)] + args

    # ---- callgrind

    def callgrind(self, sc, variant):
        n = self.n(sc.group, "cg")
        d = OUT / "callgrind"
        d.mkdir(parents=True, exist_ok=True)
        stem = d / f"{sc.key}.{variant}"
        for f in glob.glob(f"{stem}.*"):
            os.unlink(f)
        out = run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={stem}.%p"]
                  + self.argv(sc, "cg", n), env=self.env(variant, sc.secs))
        n = kv(out, "n")  # as the program rounded it
        self.cg_n[sc.key] = n
        a = glob.glob(f"{stem}.*.1")
        bb = glob.glob(f"{stem}.*.2")
        if len(a) != 1 or len(bb) != 1:
            raise RunError("callgrind: phase dumps missing (client requests not compiled in?)")
        ir_a, ir_b = cg_total(a[0]), cg_total(bb[0])
        self.res[(sc.key, "instr", variant)] = (ir_b - ir_a) / n / sc.per_iter
        return bb[0]

    def exec_callgrind(self, variant):
        d = OUT / "callgrind"
        d.mkdir(parents=True, exist_ok=True)
        f = d / f"exec.{variant}"
        run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={f}", "/bin/true"],
            env=self.env(variant))
        self.res[("exec", "instr", variant)] = float(cg_total(f))
        return str(f)

    # ---- perf

    def perf(self, sc, variant, events):
        n = self.n(sc.group, "perf")
        pts = []
        for k in (n, 2 * n):
            counts, out = perf_run(self.argv(sc, "perf", k), self.env(variant, sc.secs), events)
            if "extra_waits" in out and kv(out, "extra_waits") > 0:
                self.extra[(sc.key, "extra_waits", variant)] = kv(out, "extra_waits")
            aux = kv(out, "aux_syscalls")
            pts.append((kv(out, "iters"), counts[0] - aux, counts[1:]))
        (i1, s1, e1), (i2, s2, e2) = pts
        calls = (i2 - i1) * sc.per_iter
        self.res[(sc.key, "syscalls", variant)] = (s2 - s1) / calls
        self.extra[(sc.key, "per_syscall", variant)] = {
            ev: (c2 - c1) / calls for ev, c1, c2 in zip(events, e1, e2)}

    def exec_perf(self, variant):
        n = self.n("exec", "perf")
        s1, f1 = perf_count(self.spawn_argv(variant, n), base_env(), ["page-faults"])
        s2, f2 = perf_count(self.spawn_argv(variant, 2 * n), base_env(), ["page-faults"])
        self.res[("exec", "syscalls", variant)] = (s2 - s1) / n
        self.res[("exec", "faults", variant)] = (f2 - f1) / n

    # ---- epoll over many busy sockets: one timed run, figures per 10 s

    def epbusy_argv(self):
        return [str(BIN / "epbusy"), str(EPBUSY["socks"][self.q]), str(EPBUSY["ticks"][self.q]),
                str(EPBUSY_TICK_MS)]

    def epbusy_scale(self):
        return 10_000 / (EPBUSY["ticks"][self.q] * EPBUSY_TICK_MS)

    def epbusy_callgrind(self, variant):
        d = OUT / "callgrind"
        d.mkdir(parents=True, exist_ok=True)
        stem = d / f"epbusy.{variant}"
        for f in glob.glob(f"{stem}.*"):
            os.unlink(f)
        run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={stem}.%p"]
            + self.epbusy_argv(), env=self.env(variant, EPBUSY_SECS))
        a = glob.glob(f"{stem}.*.1")
        if len(a) != 1:
            raise RunError("callgrind: run dump missing (client requests not compiled in?)")
        self.res[("epbusy", "instr", variant)] = cg_total(a[0]) * self.epbusy_scale()
        return a[0]

    def epbusy_perf(self, variant):
        """getsockopt(IPPROTO_TCP, TCP_INFO) calls of the whole process."""
        _, out, counts = perf_filtered(self.epbusy_argv(), self.env(variant, EPBUSY_SECS),
                                       "syscalls:sys_enter_getsockopt",
                                       "level == 6 && optname == 11")
        self.res[("epbusy", "tcpinfo", variant)] = counts * self.epbusy_scale()

    # ---- wall

    def wall(self, sc, variant):
        out = run(self.argv(sc, "wall", self.n(sc.group, "wall")), env=self.env(variant, sc.secs))
        return kv(out, "ns_per_iter") / sc.per_iter

    def exec_wall(self, variant):
        out = run(self.spawn_argv(variant, self.n("exec", "wall")), env=base_env())
        return kv(out, "ns_per_iter")

    # ---- the whole run

    def want(self, group):
        return wants(self.args, group)

    def measure(self):
        scs = [sc for sc in SCENARIOS if self.want(sc.group)]
        ex_variants = list(ALL4) if self.want("exec") else []
        workers = max(1, min(4, os.cpu_count() or 2))
        jobs = []  # (label, (key, metric), fn)
        ep_variants = list(BARE) if self.want("epbusy") else []
        if self.tools.valgrind is None:
            for v in ep_variants:
                jobs.append(("epbusy", ("epbusy", "instr"), v,
                             lambda v=v: self.epbusy_callgrind(v)))
            for v in ex_variants:
                jobs.append(("exec", ("exec", "instr"), v, lambda v=v: self.exec_callgrind(v)))
            for sc in scs:
                for v in sc.variants:
                    jobs.append((sc.key, (sc.key, "instr"), v,
                                 lambda sc=sc, v=v: self.callgrind(sc, v)))
        if self.tools.perf is None:
            for v in ep_variants:
                jobs.append(("epbusy", ("epbusy", "tcpinfo"), v,
                             lambda v=v: self.epbusy_perf(v)))
            for v in ex_variants:
                jobs.append(("exec", ("exec", "syscalls"), v, lambda v=v: self.exec_perf(v)))
            for sc in scs:
                evs = (self.tools.events
                       if sc.group in ("tcp", "wait", "evloop", "nbio", "stream") else [])
                for v in sc.variants:
                    jobs.append((sc.key, (sc.key, "syscalls"), v,
                                 lambda sc=sc, v=v, evs=evs: self.perf(sc, v, evs)))
        log(f"bench: {len(jobs)} counting runs (callgrind, perf), {workers} at a time")
        dumps = {}
        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            futs = {ex.submit(fn): (label, km, v) for label, km, v, fn in jobs}
            for f in concurrent.futures.as_completed(futs):
                label, km, v = futs[f]
                try:
                    r = f.result()
                    if km[1] == "instr":
                        dumps[(km[0], v)] = r
                except RunError as e:
                    self.err.setdefault(km, f"error ({v}): {e}")
                    log(f"bench: {km[0]} {km[1]} {v}: {e}")
        self.explain_instr(scs, dumps)

        # Wall time: sequential, interleaved, rotating the order each round.
        reps = self.args.rounds or REPS[self.q]
        log(f"bench: wall time, {reps} interleaved round(s)")
        walls = {}
        units = [("exec", ex_variants, self.exec_wall)] if ex_variants else []
        for sc in scs:
            units.append((sc.key, sc.variants, lambda v, sc=sc: self.wall(sc, v)))
        for rep in range(reps):
            for key, variants, fn in units:
                if (key, "wall") in self.err:
                    continue
                k = rep % len(variants)
                for v in list(variants[k:]) + list(variants[:k]):
                    try:
                        walls.setdefault((key, v), []).append(fn(v))
                    except RunError as e:
                        self.err[(key, "wall")] = f"error ({v}): {e}"
                        log(f"bench: {key} wall {v}: {e}")
                        break
        for (key, v), xs in walls.items():
            self.res[(key, "wall", v)] = statistics.median(xs)
            self.extra[(key, "wall_runs", v)] = xs

        if self.want("timeout"):
            self.measure_late()
        if self.want("supervise"):
            self.measure_supervise()

    def measure_supervise(self):
        """The outside supervisor's rows (supervise.py): the wrapper running
        a static program, so every socket is the supervisor's."""
        log("bench: supervisor cost and precision (" + ("at once, quick" if self.q else
                                                         "~90 s") + ")")
        res = supervise.measure(self.args.wrapper, self.lib, self.args.holdsocks,
                                bool(self.q), log=log)
        v = "supervisor"
        for name, r in res.items():
            metrics = {"late": ("late_median", "late_max"),
                       "healthy": ("healthy_aborts", "healthy_broken")}.get(name, (name,))
            if isinstance(r, supervise.Failed):
                for m in metrics:
                    self.err[("supervise", m)] = f"error: {name}: {r}"
                log(f"bench: supervise {name}: {r}")
                continue
            if name.startswith("cpu_"):
                self.res[("supervise", name, v)] = r["pct"]
                self.extra[("supervise", name, v)] = r
            elif name == "late":
                self.res[("supervise", "late_median", v)] = statistics.median(r["runs_ms"])
                self.res[("supervise", "late_max", v)] = max(r["runs_ms"])
                self.extra[("supervise", "late_median", v)] = r
                self.extra[("supervise", "late_max", v)] = r
            else:
                self.res[("supervise", "healthy_aborts", v)] = float(r["aborts"])
                self.res[("supervise", "healthy_broken", v)] = float(r["broken"])
                self.extra[("supervise", "healthy_aborts", v)] = r
                self.extra[("supervise", "healthy_broken", v)] = r

    def measure_late(self):
        runs = LATE_RUNS[self.q]
        log(f"bench: timeout precision, {runs} runs of T = {LATE_T_MS} ms, kernel and library")
        for variant, mode in [("baseline", "kernel"), ("library", "lib")]:
            env = base_env()
            if variant == "library":
                env["LD_PRELOAD"] = self.lib
                env["TIMEOUTSOCK_SECS"] = str(LATE_T_MS / 1000)
            try:
                out = run([str(BIN / "late"), mode, str(LATE_T_MS), str(runs)], env=env,
                          timeout=60 + runs * LATE_T_MS * 3 / 1000)
                lat = [float(x) / 1000 for x in re.findall(r"^late_us=(-?[0-9.]+)$", out, re.M)]
                if len(lat) != runs:
                    raise RunError(f"{len(lat)} results for {runs} runs")
                self.res[("timeout", "median", variant)] = statistics.median(lat)
                self.res[("timeout", "max", variant)] = max(lat)
                self.extra[("timeout", "runs_ms", variant)] = lat
            except RunError as e:
                self.err[("timeout", "median")] = self.err[("timeout", "max")] = f"error ({variant}): {e}"
                log(f"bench: timeout {variant}: {e}")

    # ---- where the instructions go

    def explain_instr(self, scs, dumps):
        if not shutil.which("callgrind_annotate"):
            return
        pairs = [("exec", "empty", "library", 1, 1)]
        for sc in scs:
            calls = 2 * self.cg_n.get(sc.key, 0) * sc.per_iter  # phase B
            pairs.append((sc.key, "baseline", "library", calls, sc.per_iter))
        for key, ref, v, calls, _ in pairs:
            if (key, ref) not in dumps or (key, v) not in dumps or not calls:
                continue
            try:
                a = cg_functions(dumps[(key, ref)])
                b = cg_functions(dumps[(key, v)])
            except RunError:
                continue
            diff = []
            for fn in set(a) | set(b):
                d = (b.get(fn, (0, ""))[0] - a.get(fn, (0, ""))[0]) / calls
                obj = b.get(fn, a.get(fn, (0, "")))[1]
                if abs(d) >= 0.5:
                    diff.append({"function": fn, "object": obj,
                                 "instructions_per_call": round(d, 1)})
            diff.sort(key=lambda x: -abs(x["instructions_per_call"]))
            self.breakdown[(key, "instr")] = diff[:12]


def cg_total(path):
    for line in Path(path).read_text(errors="replace").splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise RunError(f"no totals in {path}")


def cg_functions(path):
    """Self instruction counts per (function, object) of a callgrind dump."""
    out = run(["callgrind_annotate", "--threshold=100", "--inclusive=no", "--auto=no",
               str(path)], env=base_env(), timeout=120)
    # Functions still on the stack when a phase is dumped (main's callers)
    # show the whole total: not their own cost, left out.
    total = cg_total(path)
    fns = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([0-9,]+)\s+\([ 0-9.]+%\)\s+(.*?):(.+?)(?:\s+\[(.+)\])?\s*$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        ir = int(m.group(1).replace(",", ""))
        if ir >= total:
            continue
        fn = re.sub(r"::h[0-9a-f]{16}$", "", m.group(3).strip())
        obj = Path(m.group(4)).name if m.group(4) else ""
        # Inlined parts of a function come without an object: add them up.
        old_ir, old_obj = fns.get(fn, (0, ""))
        fns[fn] = (old_ir + ir, old_obj or obj)
    return fns



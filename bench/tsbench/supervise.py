#!/usr/bin/env python3
"""Cost and precision of the outside supervisor (issue 13), loopback only.

The `supervise` rows of the benchmark (table.py) are measured here, called
by measure.Bench; the module also runs alone, building what it needs:

    python3 bench/tsbench/supervise.py [--quick]

1. CPU: the wrapper (the supervisor) runs a static program holding N idle
   connections (N = 10 and 1,000) at T = 30 s; its CPU time from
   /proc/PID/schedstat over a window after the first sight of every socket,
   as % of one core. Goal: <= 0.2 % at 1,000.
2. Lateness: silent connections (each sent one byte, then nothing either
   way) at T = 1 s; the server sees each abort (RST) and measures it from the
   byte's arrival: lateness = that - T. Goal: median <= 30 ms.
3. Healthy transfers: connections that get a byte every T/3, and one bulk
   transfer (16 MiB), at T = 1 s: zero aborts, every byte delivered.

The supervised program is bench/holdsocks.c built with gcc -static, so no
socket is the library's. Standalone, figures print as one "name value" line
each. Only the standard library is used (no package-relative import), so
that this file runs alone.
"""
import concurrent.futures
import os
import resource
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLK = os.sysconf("SC_CLK_TCK")

# (full, quick)
CPU_T = "30"
CPU_SOCKS = (10, 1000)
CPU_WINDOW_S = (30, 1)
FIRST_SIGHT_S = 5.5  # the scan period is 5 s at T = 30: every socket seen once
LATE_T = 1
LATE_SOCKS = (20, 5)
DRIP_SOCKS = (20, 5)
DRIPS = (9, 3)  # bytes per drip connection, one every T/3
BULK_BYTES = (16 << 20, 1 << 20)


class Failed(Exception):
    """A measurement that did not produce its figure (the reason)."""


def build_static(out_dir):
    """bench/holdsocks.c, built with gcc -static into out_dir."""
    out = Path(out_dir) / "holdsocks"
    r = subprocess.run(["gcc", "-O2", "-Wall", "-static", "-o", str(out),
                        str(ROOT / "bench/holdsocks.c")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise Failed(f"gcc -static holdsocks.c failed (libc6-dev's libc.a?): {r.stdout[-500:]}")
    return out


def env(lib):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("TIMEOUTSOCK_") and k != "LD_PRELOAD"}
    e["TIMEOUTSOCK_LIB"] = str(lib)
    e["LC_ALL"] = "C"
    return e


def raise_nofile(n=8192):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, n):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n), hard))


class Server:
    """Accepts on 127.0.0.1; per connection: `on_conn(sock)` in a thread."""

    def __init__(self, on_conn):
        self.l = socket.socket()
        self.l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.l.bind(("127.0.0.1", 0))
        self.l.listen(2048)
        self.port = self.l.getsockname()[1]
        self.conns = []
        self.on_conn = on_conn
        self.stop = False
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        self.l.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.l.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(c)
            if self.on_conn:
                threading.Thread(target=self.on_conn, args=(c,), daemon=True).start()

    def close(self):
        self.stop = True
        self.t.join(2)
        for c in self.conns:
            c.close()
        self.l.close()


def run(argv, lib, timeout):
    """Runs argv in its own process group; kills the group (by the child's
    PID) if it overruns."""
    p = subprocess.Popen(argv, env=env(lib), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        p.communicate()
        raise Failed(f"{Path(argv[0]).name}: no result after {timeout} s (killed)")
    return p.returncode, out, err


def cpu_ns(pid):
    """CPU time of the process in ns: /proc/PID/schedstat (its first field,
    time on a CPU) — the same time as utime+stime of /proc/PID/stat, which
    counts in 10 ms ticks, too coarse for a 30 s window."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def cpu_ticks_ns(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1_000_000_000 // CLK  # utime+stime


def cpu(wrapper, lib, prog, n, window):
    """The supervisor's CPU over `window` s with n idle sockets at T = 30:
    {pct: % of one core (schedstat), pct_utime_stime, start_s: CPU seconds
    until the window, i.e. start-up and the first sight of every socket}."""
    srv = Server(None)
    p = subprocess.Popen([str(wrapper), "-t", CPU_T, "--", str(prog), "hold", str(srv.port),
                          str(n)], env=env(lib), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        t_end = time.monotonic() + 20  # bounded: the connections
        while len(srv.conns) < n and time.monotonic() < t_end and p.poll() is None:
            time.sleep(0.05)
        if len(srv.conns) != n:
            raise Failed(f"only {len(srv.conns)} of {n} connected (wrapper exit {p.poll()})")
        time.sleep(FIRST_SIGHT_S)
        if p.poll() is not None:
            raise Failed(f"wrapper ended early: exit {p.returncode}: "
                         f"{p.stderr.read().strip()[-300:]}")
        c0, k0, t0 = cpu_ns(p.pid), cpu_ticks_ns(p.pid), time.monotonic()
        time.sleep(window)
        c1, k1, t1 = cpu_ns(p.pid), cpu_ticks_ns(p.pid), time.monotonic()
        dt = (t1 - t0) * 1e9
        return {"pct": (c1 - c0) / dt * 100.0, "pct_utime_stime": (k1 - k0) / dt * 100.0,
                "start_s": c0 / 1e9, "window_s": round(t1 - t0, 3)}
    finally:
        try:
            os.killpg(p.pid, 15)
        except ProcessLookupError:
            pass
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            p.wait()
        p.stderr.close()
        srv.close()


def lateness(wrapper, lib, prog, n, t):
    """Aborts of n silent sockets at T = t: {runs_ms: lateness of each (ms
    after T, from the byte's arrival at the server), log_aborts}."""
    got = {}
    lock = threading.Lock()

    def conn(c):
        c.recv(1)
        # The byte's arrival, by the kernel (ms since the last data came,
        # 4 ms resolution), not when this thread got to run.
        ti = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        t_data = time.monotonic() - struct.unpack_from("I", ti, 52)[0] / 1000
        r, _, _ = select.select([c], [], [], t + 10)
        t_end = time.monotonic()
        try:
            rst = c.recv(1) == b""  # EOF would be a close, not an abort
        except ConnectionResetError:
            rst = True
        with lock:
            got[c.fileno()] = (t_end - t_data - t, rst and bool(r))

    srv = Server(conn)
    try:
        rc, out, err = run([str(wrapper), "-t", str(t), "--log", "--", str(prog), "hold",
                            str(srv.port), str(n)], lib, timeout=t + 30)
        time.sleep(0.2)
    finally:
        srv.close()
    late = [v[0] * 1000 for v in got.values() if v[1]]
    if len(late) != n or out.strip() != f"failed={n}":
        raise Failed(f"{len(late)} of {n} aborted; wrapper exit {rc}, {out.strip()!r}: "
                     f"{err.strip()[-300:]}")
    return {"runs_ms": sorted(round(x, 2) for x in late), "log_aborts": err.count("aborted")}


def healthy(wrapper, lib, prog, n, drips, size, t):
    """n connections dripping a byte every t/3 and one bulk transfer of
    `size` bytes at T = t: {aborts (log lines), broken (transfers not
    delivered intact, of n + 1), transfers}."""
    gap = t / 3

    def drip(c):
        for _ in range(drips):
            time.sleep(gap)
            c.sendall(b"y")
        c.close()

    def bulk(c):
        c.sendall(b"z" * size)
        c.close()

    aborts = broken = 0
    detail = []
    for on_conn, conns, want in ((drip, n, drips), (bulk, 1, size)):
        srv = Server(on_conn)
        try:
            rc, out, err = run([str(wrapper), "-t", str(t), "--log", "--", str(prog), "read",
                                str(srv.port), str(conns)], lib, timeout=60)
        finally:
            srv.close()
        aborts += err.count("aborted")
        detail.append(out.strip())
        if rc != 0 or out.strip() != f"bytes={want * conns} errors=0":
            # Which connections lost bytes is not known: all of this run's.
            broken += conns
    return {"aborts": aborts, "broken": broken, "transfers": n + 1, "output": detail}


def measure(wrapper, lib, prog, quick, log=lambda m: None):
    """Every figure, as {name: dict or Failed}: cpu_10, cpu_1000, late,
    healthy. Full: one after another (the CPU windows undisturbed); quick:
    all at once, to keep the smoke test short (figures not meaningful)."""
    q = 1 if quick else 0
    raise_nofile()
    jobs = {f"cpu_{n}": (cpu, (wrapper, lib, prog, n, CPU_WINDOW_S[q])) for n in CPU_SOCKS}
    jobs["late"] = (lateness, (wrapper, lib, prog, LATE_SOCKS[q], LATE_T))
    jobs["healthy"] = (healthy, (wrapper, lib, prog, DRIP_SOCKS[q], DRIPS[q], BULK_BYTES[q],
                                 LATE_T))
    res = {}

    def one(name):
        fn, a = jobs[name]
        t0 = time.monotonic()
        try:
            r = fn(*a)
        except (Failed, OSError) as e:
            r = Failed(str(e))
        log(f"bench: supervise {name}: {time.monotonic() - t0:.1f} s")
        return r

    if quick:
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as ex:
            futs = {name: ex.submit(one, name) for name in jobs}
            res = {name: f.result() for name, f in futs.items()}
    else:
        res = {name: one(name) for name in jobs}
    return res


def main():
    quick = "--quick" in sys.argv
    r = subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "timeoutsock",
                        "--lib"], cwd=ROOT)
    if r.returncode != 0:
        return 2
    wrapper = ROOT / "target/release/timeoutsock"
    lib = ROOT / "target/release/libtimeoutsock.so"
    try:
        prog = build_static(tempfile.mkdtemp(prefix="tsbench-sup-"))
    except Failed as e:
        print(e, file=sys.stderr)
        return 2
    res = measure(wrapper, lib, prog, quick, log=lambda m: print(m, file=sys.stderr))
    bad = [f"{k}: {v}" for k, v in res.items() if isinstance(v, Failed)]
    for n in CPU_SOCKS:
        c = res[f"cpu_{n}"]
        if not isinstance(c, Failed):
            print(f"cpu_pct_one_core.{n}_sockets.T30 {c['pct']:.4f}")
            print(f"cpu_pct_one_core.{n}_sockets.T30.utime_stime {c['pct_utime_stime']:.4f}")
            print(f"cpu_s.{n}_sockets.start_and_first_sight {c['start_s']:.3f}")
    late = res["late"]
    if not isinstance(late, Failed):
        ms = late["runs_ms"]
        print(f"abort_lateness_ms.median.T{LATE_T} {statistics.median(ms):.1f}")
        print(f"abort_lateness_ms.max.T{LATE_T} {max(ms):.1f}")
        print(f"abort_lateness_ms.min.T{LATE_T} {min(ms):.1f}")
        print(f"abort_log_lines {late['log_aborts']}")
    h = res["healthy"]
    if not isinstance(h, Failed):
        print(f"healthy.broken {h['broken']} of {h['transfers']}")
        print(f"healthy.aborts {h['aborts']}")
        if h["broken"] or h["aborts"]:
            bad.append(f"healthy: {h}")
    if bad:
        print("\n".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

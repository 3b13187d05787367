#!/usr/bin/env python3
"""Cost and precision of the outside supervisor (issue 13), loopback only.

    python3 bench/supervise_cost.py [--quick]

1. CPU: the wrapper (the supervisor) runs a static program holding N idle
   connections (N = 10 and 1,000) at T = 30 s; its utime+stime from
   /proc/PID/stat over a window after the first sight of every socket,
   as % of one core. Goal: <= 0.2 % at 1,000.
2. Lateness: 20 silent connections (each sent one byte, then nothing either
   way) at T = 1 s; the server sees each abort (RST) and measures it from the
   byte's arrival: lateness = that - T. Goal: median <= 30 ms.
3. Healthy transfers: 20 connections that get a byte every T/3, and one
   16 MiB transfer, at T = 1 s: zero aborts, every byte delivered.

The supervised program is bench/holdsocks.c built with gcc -static, so no
socket is the library's. Figures print as one "name value" line each.
"""
import os
import resource
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK = "--quick" in sys.argv
CLK = os.sysconf("SC_CLK_TCK")


def build():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "timeoutsock", "--lib"],
                   cwd=ROOT, check=True)
    out = Path(tempfile.mkdtemp(prefix="tsbench-sup-")) / "holdsocks"
    subprocess.run(["gcc", "-O2", "-static", "-o", str(out), str(ROOT / "bench/holdsocks.c")],
                   check=True)
    return ROOT / "target/release/timeoutsock", ROOT / "target/release/libtimeoutsock.so", out


def env(lib):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("TIMEOUTSOCK_") and k != "LD_PRELOAD"}
    e["TIMEOUTSOCK_LIB"] = str(lib)
    return e


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
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        self.l.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.l.accept()
            except socket.timeout:
                continue
            self.conns.append(c)
            if self.on_conn:
                threading.Thread(target=self.on_conn, args=(c,), daemon=True).start()

    def close(self):
        self.stop = True
        for c in self.conns:
            c.close()
        self.l.close()


def cpu_ns(pid):
    """CPU time of the process in ns: /proc/PID/schedstat (its first field,
    time on a CPU) — the same time as utime+stime of /proc/PID/stat, which
    counts in 10 ms ticks, too coarse for a 30 s window."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def cpu_ticks_ns(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1_000_000_000 // CLK  # utime+stime


def cpu(wrapper, lib, prog, n, window):
    srv = Server(None)
    p = subprocess.Popen([str(wrapper), "-t", "30", "--", str(prog), "hold", str(srv.port), str(n)],
                         env=env(lib), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # bounded: 20 s for the connections, then the first full scan (5 s)
        t_end = time.monotonic() + 20
        while len(srv.conns) < n and time.monotonic() < t_end:
            time.sleep(0.05)
        assert len(srv.conns) == n, f"only {len(srv.conns)} of {n} connected"
        time.sleep(5.5)  # first sight of every socket (scan period 5 s at T = 30)
        c0, k0, t0 = cpu_ns(p.pid), cpu_ticks_ns(p.pid), time.monotonic()
        time.sleep(window)
        c1, k1, t1 = cpu_ns(p.pid), cpu_ticks_ns(p.pid), time.monotonic()
        dt = (t1 - t0) * 1e9
        return (c1 - c0) / dt * 100.0, (k1 - k0) / dt * 100.0, k0 / 1e9
    finally:
        p.terminate()
        p.wait(10)
        srv.close()


def lateness(wrapper, lib, prog, n, t):
    got = {}
    lock = threading.Lock()

    def conn(c):
        c.recv(1)
        t_data = time.monotonic()
        r, _, _ = select.select([c], [], [], t + 10)
        t_end = time.monotonic()
        try:
            rst = c.recv(1) == b""  # EOF would be a close, not an abort
        except ConnectionResetError:
            rst = True
        with lock:
            got[c.fileno()] = (t_end - t_data - t, rst and bool(r))

    srv = Server(conn)
    p = subprocess.run([str(wrapper), "-t", str(t), "--log", "--", str(prog), "hold",
                        str(srv.port), str(n)], env=env(lib), capture_output=True, text=True,
                       timeout=t + 30)
    time.sleep(0.2)
    srv.close()
    late = [v[0] * 1000 for v in got.values() if v[1]]
    assert len(late) == n, f"{len(late)} of {n} aborted: {p.stdout} {p.stderr}"
    assert p.stdout.strip() == f"failed={n}", p.stdout
    return late, p.stderr.count("aborted")


def healthy(wrapper, lib, prog, n, t):
    gap = t / 3

    def drip(c):
        for _ in range(9):  # 3 s at T = 1
            time.sleep(gap)
            c.sendall(b"y")
        c.close()

    srv = Server(drip)
    p = subprocess.run([str(wrapper), "-t", str(t), "--log", "--", str(prog), "read",
                        str(srv.port), str(n)], env=env(lib), capture_output=True, text=True,
                       timeout=60)
    srv.close()
    drip_ok = p.stdout.strip() == f"bytes={9 * n} errors=0"
    aborts = p.stderr.count("aborted")
    size = 16 << 20

    def bulk(c):
        c.sendall(b"z" * size)
        c.close()

    srv = Server(bulk)
    q = subprocess.run([str(wrapper), "-t", str(t), "--log", "--", str(prog), "read",
                        str(srv.port), "1"], env=env(lib), capture_output=True, text=True,
                       timeout=60)
    srv.close()
    bulk_ok = q.stdout.strip() == f"bytes={size} errors=0"
    return drip_ok, bulk_ok, aborts + q.stderr.count("aborted"), p.stdout + q.stdout


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    wrapper, lib, prog = build()
    window = 10 if QUICK else 30
    for n in (10, 1000):
        pct, ticks_pct, start_s = cpu(wrapper, lib, prog, n, window)
        print(f"cpu_pct_one_core.{n}_sockets.T30 {pct:.4f}", flush=True)
        print(f"cpu_pct_one_core.{n}_sockets.T30.utime_stime {ticks_pct:.4f}")
        print(f"cpu_s.{n}_sockets.start_and_first_sight {start_s:.3f}")
    late, aborted = lateness(wrapper, lib, prog, 20, 1)
    print(f"abort_lateness_ms.median.T1 {statistics.median(late):.1f}")
    print(f"abort_lateness_ms.max.T1 {max(late):.1f}")
    print(f"abort_lateness_ms.min.T1 {min(late):.1f}")
    print(f"abort_log_lines {aborted}")
    drip_ok, bulk_ok, aborts, out = healthy(wrapper, lib, prog, 20, 1)
    print(f"healthy.drip_intact {int(drip_ok)}")
    print(f"healthy.bulk16MiB_intact {int(bulk_ok)}")
    print(f"healthy.aborts {aborts}")
    if not (drip_ok and bulk_ok) or aborts:
        print(out, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

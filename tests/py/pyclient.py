#!/usr/bin/env python3
"""Python client of libtimeoutsock's integration tests (driven by tests/python.rs).

Plain blocking sockets, as an unmodified Python program uses them: no
socket timeout is set anywhere, so without the library every call below
blocks for as long as the peer stays silent.

Prints one machine-readable line per operation, in the format of tsclient.c:
    op=NAME ok=0 exc=TimeoutError errno=ETIMEDOUT elapsed_ms=1003 msg=...
(`msg=` is last and takes the rest of the line). Before the call that may
block it prints "waiting op=NAME". Exit code: 0 success, 1 the call raised,
2 usage error. Only loopback addresses are used, given on the command line.
"""

import errno
import socket
import sys
import time
import urllib.request


def report(op, t0, exc=None, **extra):
    ms = (time.monotonic() - t0) * 1000.0
    parts = [f"op={op}", f"ok={0 if exc else 1}"]
    if exc is not None:
        err = getattr(exc, "errno", None)
        reason = getattr(exc, "reason", None)  # urllib.error.URLError
        if err is None and isinstance(reason, OSError):
            err = reason.errno
        parts.append(f"exc={type(exc).__name__}")
        parts.append(f"errno={errno.errorcode.get(err, err) if err else 0}")
    else:
        parts.append("errno=0")
    parts.append(f"elapsed_ms={ms:.0f}")
    parts.extend(f"{k}={v}" for k, v in extra.items())
    parts.append(f"msg={exc if exc is not None else ''}")
    print(" ".join(parts), flush=True)
    return 1 if exc else 0


def waiting(op):
    print(f"waiting op={op}", flush=True)


def cmd_recv(host, port):
    s = socket.create_connection((host, int(port)))
    assert s.gettimeout() is None
    waiting("recv")
    t0 = time.monotonic()
    try:
        data = s.recv(4096)
    except OSError as e:
        return report("recv", t0, e)
    return report("recv", t0, total=len(data))


def cmd_urlopen(url):
    # no proxy, whatever the environment says: traffic stays on loopback
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    waiting("urlopen")
    t0 = time.monotonic()
    try:
        with opener.open(url) as r:
            body = r.read()
    except OSError as e:  # URLError and TimeoutError are OSErrors
        return report("urlopen", t0, e)
    return report("urlopen", t0, total=len(body))


def cmd_sendall(host, port, nbytes):
    s = socket.create_connection((host, int(port)))
    data = bytes(int(nbytes))
    waiting("sendall")
    t0 = time.monotonic()
    try:
        s.sendall(data)
    except OSError as e:
        return report("sendall", t0, e)
    return report("sendall", t0, total=len(data))


def main(argv):
    cmds = {"recv": (cmd_recv, 2), "urlopen": (cmd_urlopen, 1), "sendall": (cmd_sendall, 3)}
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 != cmds[argv[1]][1]:
        print("usage: pyclient.py recv HOST PORT | urlopen URL | sendall HOST PORT NBYTES",
              file=sys.stderr)
        return 2
    fn, _ = cmds[argv[1]]
    return fn(*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))

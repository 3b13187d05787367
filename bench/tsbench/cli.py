"""The command line: measure and report, check a report, or print the
README table (see __init__.py)."""

import argparse
import json
import sys
import time
from pathlib import Path

from . import __doc__ as DOC
from . import measure, report
from .table import LIB_SECS, REPS


def check(path, quick):
    try:
        doc = report.load(path)
    except (OSError, ValueError) as e:
        print(f"bench: --check-json {path}: {e}", file=sys.stderr)
        return 1
    bad = report.check_json(doc, quick=quick)
    if bad:
        print(f"bench: {path}: {len(bad)} problem(s):\n  " + "\n  ".join(bad), file=sys.stderr)
        return 1
    print(f"bench: {path}: {len(doc['rows'])} rows match the table")
    return 0


def main():
    ap = argparse.ArgumentParser(description=DOC.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="tiny iteration counts (smoke test): every row, no meaningful speeds")
    ap.add_argument("--json", help="JSON output path (default: target/bench/bench.json)")
    ap.add_argument("--out", help="scratch directory for the programs, dumps and JSON "
                    "(default: target/bench)")
    ap.add_argument("--explain", action="store_true",
                    help="print per-function instruction and per-syscall breakdowns")
    ap.add_argument("--lib", help="measure this libtimeoutsock.so instead of building")
    ap.add_argument("--only", help="comma-separated groups to measure (exec, io, tcp, wait, "
                    "evloop, nbio, epbusy, stream, timeout, supervise): for investigating; the JSON then lacks the other rows")
    ap.add_argument("--rounds", type=int, help=f"wall-time rounds (default {REPS[0]}, quick "
                    f"{REPS[1]})")
    ap.add_argument("--without", help="act as if these tools were missing (valgrind,perf): "
                    "to check the n/a path")
    ap.add_argument("--strict", action="store_true",
                    help="exit 3 if a goal is missed (ignored with --quick)")
    ap.add_argument("--check-json", metavar="PATH",
                    help="measure nothing: check the report PATH against the table (rows, "
                    "shape, goals; with --quick: that it is a quick run); exit 1 if wrong")
    ap.add_argument("--readme", nargs="?", const="", metavar="PATH",
                    help="measure nothing: print the README's Performance table from the "
                    "report PATH (default: the --json path)")
    ap.add_argument("--merge", nargs=2, metavar=("FULL", "PART"),
                    help="measure nothing: write to the --json path the full report FULL with "
                    "the rows of the groups that PART measured (its --only) taken from PART")
    ap.add_argument("--write", action="store_true",
                    help="with --readme: replace the table in README.md (between its markers) "
                    "instead of printing it")
    args = ap.parse_args()
    if args.out:
        measure.set_out(args.out)
    if not args.json:
        args.json = str(measure.OUT / "bench.json")
    if args.check_json:
        return check(args.check_json, args.quick)
    if args.merge:
        try:
            doc = report.merge(report.load(args.merge[0]), report.load(args.merge[1]))
        except (OSError, ValueError, KeyError) as e:
            print(f"bench: --merge: {e}", file=sys.stderr)
            return 1
        bad = report.check_json(doc, quick=False)
        if bad:
            print("bench: --merge: not a full, valid report:\n  " + "\n  ".join(bad),
                  file=sys.stderr)
            return 1
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        print(f"bench: merged report ({len(doc['rows'])} rows): {args.json}")
        return 0
    if args.readme is not None:
        doc = report.load(args.readme or args.json)
        bad = report.check_json(doc, quick=False)
        if bad:
            print("bench: not a full, valid report:\n  " + "\n  ".join(bad), file=sys.stderr)
            return 1
        if args.write:
            report.write_readme(doc, measure.ROOT / "README.md")
        else:
            print(report.readme_table(doc), end="")
        return 0

    t0 = time.monotonic()
    measure.OUT.mkdir(parents=True, exist_ok=True)
    tools = measure.Tools()
    lib = measure.build(args)
    tools.probe(args.without.split(",") if args.without else ())
    for why in (tools.valgrind, tools.perf):
        if why:
            measure.log(f"bench: NOTE: {why}")
    b = measure.Bench(args, tools, lib)
    b.measure()
    rs = report.evaluate(b)
    m = report.machine()
    report.print_table(rs, m, args, tools, lib)
    if args.explain:
        report.print_explain(rs)
    doc = {
        "machine": m,
        "quick": args.quick,
        "only": args.only.split(",") if args.only else None,
        "command": " ".join(["bench"] + sys.argv[1:]),
        "library": str(lib),
        "git": report.git_state(),
        "library_env": {"TIMEOUTSOCK_SECS": LIB_SECS},
        "tools": {"valgrind": tools.valgrind or "ok", "perf": tools.perf or "ok",
                  "per_syscall_events": tools.events},
        "seconds": round(time.monotonic() - t0, 1),
        "rows": rs,
    }
    jp = Path(args.json)
    jp.parent.mkdir(parents=True, exist_ok=True)
    jp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"\n{len(rs)} rows in {doc['seconds']} s; JSON: {jp}")
    errors = [r for r in rs if r["na"] and "unavailable" not in r["na"]]
    if errors:
        measure.log(f"bench: {len(errors)} row(s) failed to measure")
        return 1
    if args.strict and not args.quick and any(r["met"] is False for r in rs):
        return 3
    return 0



"""The report: rows evaluated from a Bench's results, the terminal table,
the README table, and the check of a JSON report against table.py."""

import json
import os
import platform
import statistics
import subprocess
from pathlib import Path

from . import measure
from .table import LIB_SECS, ROWS, variants_of


# ----------------------------------------------------------------- output

def fmt(x, unit):
    if x is None:
        return "n/a"
    if unit in ("aborts", "transfers"):
        return f"{x:.0f}"
    if unit.startswith("%"):
        return f"{x:.3f}"
    if "instr" in unit:
        return f"{x:,.1f}" if abs(x) < 1000 else f"{x:,.0f}"
    if "syscalls" in unit or "calls" in unit:
        return f"{x:.2f}" if abs(x) < 1000 else f"{x:,.0f}"
    if unit.startswith("ns"):
        return f"{x:,.1f}"
    return f"{x:,.2f}"


def fmt_added(r):
    if r.get("added_vs") is None:
        return "—"  # no reference: the figure is the row's own (supervisor)
    if r["added"] is None:
        return "n/a"
    s = fmt(r["added"], r["unit"])
    if not s.startswith("-"):
        s = "+" + s
    if r.get("added_spread") is not None:
        s += f" ±{fmt(r['added_spread'], r['unit'])}"
    if r["added_pct"] is not None and (r["source"] == "wall" and r["group"] != "timeout"
                                       or r["goal_on"] == "added_pct"):
        s += f" ({r['added_pct']:+.1f} %)"
    if r["added_vs"] == "empty":
        s += " vs empty"
    return s


def fmt_ref(r, col):
    """A reference column: "—" on a row without a reference (supervisor)."""
    if r.get("added_vs") is None and r.get(col) is None:
        return "—"
    return fmt(r[col], r["unit"])


def git_state():
    """The commit measured, and whether src/ differs from it."""
    try:
        head = subprocess.run(["git", "-C", str(measure.ROOT), "rev-parse", "HEAD"], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(measure.ROOT), "status", "--porcelain", "--", "src",
                                "Cargo.toml", "Cargo.lock", "build.rs"], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip()
        return {"commit": head or None, "src_modified": bool(dirty)}
    except OSError:
        return {"commit": None, "src_modified": None}


def machine():
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    glibc = platform.libc_ver()
    return {"nproc": os.cpu_count(), "model": model, "kernel": platform.release(),
            "glibc": "-".join(glibc) if glibc[0] else "?"}


def print_table(rs, m, args, tools, lib):
    print(f"machine: nproc {m['nproc']}, {m['model']}, kernel {m['kernel']}, {m['glibc']}")
    print(f"library: {lib} (TIMEOUTSOCK_SECS={LIB_SECS}; 'SECS unset' rows: no variable)")
    for name, why in (("valgrind", tools.valgrind), ("perf", tools.perf)):
        if why:
            print(f"NOTE: {why}: its rows are n/a")
    if args.quick:
        print("NOTE: --quick: tiny counts, wall times and goals are not meaningful")
    heads = ["what", "unit", "baseline", "empty .so", "library", "added", "goal", "met?"]
    body = []
    group = None
    for r in rs:
        if r["group"] != group and body:
            body.append(None)
        group = r["group"]
        body.append([r["what"], r["unit"], fmt_ref(r, "baseline"), fmt_ref(r, "empty"),
                     fmt(r["library"], r["unit"]),
                     fmt_added(r), r["goal_text"],
                     "n/a" if r["na"] else ("—" if r["met"] is None else
                                            ("yes" if r["met"] else "NO"))])
    w = [max(len(h), *(len(b[i]) for b in body if b)) for i, h in enumerate(heads)]
    line = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w[i]) if i < 2 or i >= 6 else c.rjust(w[i]) for i, c in enumerate(cells))
    print(line(heads))
    print("  ".join("-" * x for x in w))
    for b in body:
        print("" if b is None else line(b).rstrip())
    nas = [r for r in rs if r["na"] and "unavailable" not in r["na"]]
    for r in nas:
        print(f"n/a {r['id']}: {r['na']}")


def print_explain(rs):
    print("\nwhere the library's additions go (library − reference, per call):")
    for r in rs:
        bd = r.get("breakdown")
        sb = r.get("syscall_breakdown")
        if not bd and not sb:
            continue
        print(f"  {r['id']}  ({r['what']})")
        for b in (bd or [])[:8]:
            print(f"      {b['instructions_per_call']:+10.1f} instr  {b['function']}"
                  f"  [{b['object']}]")
        if sb:
            print("      syscalls: " + ", ".join(f"{k} {v:+.2f}" for k, v in sorted(sb.items())))




# ------------------------------------------------------------------ rows

def evaluate(bench):
    """The report's rows: table.ROWS of the measured groups, with numbers."""
    out = []
    for r in ROWS:
        if not bench.want(r.group):
            continue
        key, metric, variant, scale = r.key, r.metric, r.variant, r.scale

        def val(v):
            x = bench.res.get((key, metric, v))
            return None if x is None else x * scale

        base, empty, lib = val("baseline"), val("empty"), val(variant)
        na = None
        err_key = (key, "syscalls") if metric == "faults" else (key, metric)
        if err_key in bench.err:
            na = bench.err[err_key]
        elif r.source == "callgrind" and bench.tools.valgrind:
            na = bench.tools.valgrind
        elif r.source == "perf" and bench.tools.perf:
            na = bench.tools.perf
        refv = {"empty": empty, "baseline": base}.get(r.ref)
        added = added_pct = spread = None
        if lib is not None and refv is not None:
            added = lib - refv
            added_pct = 100.0 * added / refv if refv else None
        # Wall time: the median of the differences within each round (the
        # variants of a round ran back to back), and half their IQR.
        ra = bench.extra.get((key, "wall_runs", r.ref))
        rb = bench.extra.get((key, "wall_runs", variant))
        if metric == "wall" and ra and rb and len(ra) == len(rb) and all(ra):
            d = [(y - x) * scale for x, y in zip(ra, rb)]
            added = statistics.median(d)
            added_pct = statistics.median([100.0 * (y / x - 1) for x, y in zip(ra, rb)])
            if len(d) >= 4:
                q = statistics.quantiles(d, n=4)
                spread = (q[2] - q[0]) / 2
        if na is None and (lib is None or (r.ref is not None and refv is None)):
            na = "error: measurement missing"
        met = None
        if na is None and r.goal is not None:
            tol = 0.01 if metric == "syscalls" else 0.0
            x = {"added": added, "added_pct": added_pct, "library": lib}[r.goal_on]
            met = x is not None and x <= r.goal + tol
        o = dict(id=r.id, group=r.group, what=r.what, unit=r.unit, source=r.source,
                 baseline=base, empty=empty, library=lib, library_variant=variant, added=added,
                 added_vs=r.ref, added_pct=added_pct, added_spread=spread, goal=r.goal,
                 goal_on=r.goal_on, goal_text=r.goal_text, met=met, na=na)
        bd = bench.breakdown.get((key, metric))
        if bd and metric == "instr" and variant == "library":
            o["breakdown"] = bd
        ps = bench.extra.get((key, "per_syscall", "library"))
        pb = bench.extra.get((key, "per_syscall", "baseline"))
        if metric == "syscalls" and ps and pb:
            o["syscall_breakdown"] = {k: round(ps[k] - pb.get(k, 0), 3)
                                      for k in ps if abs(ps[k] - pb.get(k, 0)) >= 0.005}
        wr = bench.extra.get((key, "wall_runs", variant))
        if metric == "wall" and wr:
            o["wall_runs"] = {v: [x * scale for x in bench.extra.get((key, "wall_runs", v), [])]
                              for v in ("baseline", "empty", variant)}
        sx = bench.extra.get((key, metric, variant)) if key == "supervise" else None
        if sx:
            o["supervise"] = sx
        if key == "timeout":
            o["runs_ms"] = {v: bench.extra.get(("timeout", "runs_ms", v))
                            for v in ("baseline", "library")}
        out.append(o)
    return out


# ------------------------------------------------------------ the README

def merge(base, part):
    """A report of `base` whose rows of the groups `part` measured (its
    --only) are `part`'s: for a README table from a full run plus a later
    run of some groups. `parts` says which rows come from which run."""
    groups = part.get("only") or sorted({r["group"] for r in part["rows"]})
    if base.get("machine") != part.get("machine"):
        raise ValueError("the two reports are from different machines")
    keep = [r for r in base["rows"] if r.get("group") not in groups]
    doc = dict(base)
    doc["rows"] = keep + list(part["rows"])
    order = {t.id: i for i, t in enumerate(ROWS)}
    doc["rows"].sort(key=lambda r: order.get(r.get("id"), len(order)))
    parts = base.get("parts") or [{"groups": "the other groups", "git": base.get("git"),
                                   "command": base.get("command")}]
    parts = [dict(p, groups=[g for g in p["groups"] if g not in groups])
             if isinstance(p["groups"], list) else p for p in parts]
    doc["parts"] = parts + [{"groups": list(groups), "git": part.get("git"),
                             "command": part.get("command")}]
    doc["command"] = "merged: see parts"
    return doc


def _commit(git):
    c = (git or {}).get("commit") or "?"
    return c + (" (src modified)" if (git or {}).get("src_modified") else "")


def readme_table(doc):
    """The README's Performance table (Markdown) from a JSON report: the rows
    of table.py that have a `readme` label, in table order."""
    by_id = {r["id"]: r for r in doc["rows"]}
    m = doc["machine"]
    if doc.get("parts"):
        src = "; ".join(
            f"{'groups ' + ', '.join(p['groups']) if isinstance(p['groups'], list) else p['groups']}"
            f": commit {_commit(p.get('git'))}" for p in doc["parts"])
        src = "merged runs (" + src + ")"
    else:
        src = f"a full run; commit {_commit(doc.get('git'))}"
    lines = [
        f"<!-- generated by `scripts/bench --readme` on {m['nproc']} × {m['model']}, Linux "
        f"{m['kernel']}, {m['glibc']}, from {src} -->",
        "",
        "| what | unit | baseline | empty .so | library | added | goal | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        r = by_id.get(row.id)
        if row.readme is None or r is None:
            continue
        if r["na"]:
            cells = ["n/a"] * 4 + [r["goal_text"], "n/a"]
        else:
            cells = [fmt_ref(r, "baseline"), fmt_ref(r, "empty"),
                     fmt(r["library"], r["unit"]), fmt_added(r), r["goal_text"],
                     "—" if r["met"] is None else ("yes" if r["met"] else "**no**")]
        lines.append("| " + " | ".join([row.readme, r["unit"]] + cells) + " |")
    return "\n".join(lines) + "\n"


README_BEGIN = "<!-- bench table: begin (scripts/bench --readme --write) -->"
README_END = "<!-- bench table: end -->"


def write_readme(doc, path):
    """Replaces the table between the markers in the README at `path`."""
    text = Path(path).read_text()
    a, b = text.find(README_BEGIN), text.find(README_END)
    if a < 0 or b < a:
        raise ValueError(f"{path}: no {README_BEGIN!r} ... {README_END!r} markers")
    text = text[:a + len(README_BEGIN)] + "\n" + readme_table(doc) + text[b:]
    Path(path).write_text(text)


# -------------------------------------------------------- the JSON check

def check_json(doc, quick=None):
    """Problems of a JSON report against table.py (empty list: none).

    Every row of the measured groups is there once, no other row; each has
    numbers where it has a measurement, or says which tool is missing, never
    an error; goal and verdict agree with the table."""
    bad = []
    m = doc.get("machine")
    if not isinstance(m, dict) or not isinstance(m.get("nproc"), int) \
            or not all(isinstance(m.get(k), str) for k in ("model", "kernel")):
        bad.append("machine: nproc, model, kernel missing")
    if quick is not None and doc.get("quick") is not quick:
        bad.append(f"quick is {doc.get('quick')!r}, expected {quick!r}")
    rows = doc.get("rows")
    if not isinstance(rows, list):
        return bad + ["no rows array"]
    by_id = {}
    for r in rows:
        rid = r.get("id") if isinstance(r, dict) else None
        if not isinstance(rid, str):
            bad.append(f"row without id: {r!r}")
        elif rid in by_id:
            bad.append(f"{rid}: twice")
        else:
            by_id[rid] = r
    only = doc.get("only")
    want = [t for t in ROWS if not only or t.group in only]
    for t in want:
        r = by_id.pop(t.id, None)
        if r is None:
            bad.append(f"{t.id}: missing")
        else:
            bad += [f"{t.id}: {p}" for p in check_row(t, r)]
    bad += [f"{rid}: not in the table" for rid in by_id]
    return bad


def _num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x \
        and abs(x) != float("inf")


def check_row(t, r):
    bad = []
    for k in ("what", "unit", "goal_text", "source"):
        if not isinstance(r.get(k), str):
            bad.append(f"no {k}")
    if r.get("goal_text") != t.goal_text or r.get("goal") != t.goal \
            or r.get("unit") != t.unit or r.get("source") != t.source:
        bad.append("goal, unit or source differ from the table")
    na = r.get("na")
    if na is None:
        # Rows without a reference (the supervisor's) have the one figure.
        for k in ("baseline", "library", "added") if t.ref is not None else ("library",):
            if not _num(r.get(k)):
                bad.append(f"{k} is not a number: {r.get(k)!r}")
        if t.ref is None:
            for k in ("baseline", "added"):
                if r.get(k) is not None:
                    bad.append(f"{k} is {r.get(k)!r} on a row without a reference")
        has_empty = "empty" in variants_of(t.key)
        if has_empty != _num(r.get("empty")) or (not has_empty and r.get("empty") is not None):
            bad.append(f"empty is {r.get('empty')!r} (variants {variants_of(t.key)})")
        if (t.goal is None) != (r.get("met") is None) or \
                (t.goal is not None and not isinstance(r.get("met"), bool)):
            bad.append(f"goal {t.goal!r} but met {r.get('met')!r}")
    elif isinstance(na, str):
        if not na.startswith(("valgrind unavailable", "perf unavailable")):
            bad.append(f"not measured: {na}")
        elif t.source not in ("callgrind", "perf"):
            bad.append(f"n/a ({na}) on a {t.source} row")
    else:
        bad.append(f"bad na field {na!r}")
    return bad


def load(path):
    return json.loads(Path(path).read_text())

"""The scale issue's full run (#17): every benchmark in turn, then one table of its targets.

Run from the repository root on a quiet machine (about an hour with --million):

    .venv/bin/python bench/targets.py --million

It runs, one after another, each as its own child process so that each measures alone:
`bench/send.py` (targets 1, 2 and the sends of 3), `bench/startup.py` (4),
`bench/import_csv.py` (the import of 3), and `bench/web_burst.py` (5) on an outbox of N rows
and, with --million, on one of 1,000,000. Each writes its own section of
docs/performance.md with its tables and same-run baselines; this script writes the section
between `targets:start` and `targets:end` with every target, its figure, its baseline from
the same run, and PASS or FAIL. Targets proved by a test instead of a figure (the crash
bound, all-or-nothing imports, limits shared by several workers) name the test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `digest` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import MILLION, REPO, code_sha, machine, row, table, write_doc
from bench.startup import TARGET_MB, TARGET_SECONDS

DOC = REPO / "docs" / "performance.md"
START, END = "<!-- targets:start -->", "<!-- targets:end -->"
IMPORT_RATE = 100_000  # rows/s for the 1,000,000-line import
IMPORT_RSS_GROWTH = 1.2  # its peak RSS within 20% of the 100,000-line import's
P99_MS = 200.0
SEND_KEPT = 0.9  # the send's rate during the burst within 10% of the same send without it
TESTED = {
    "T2 crash bound": "tests/delivery/test_send_process.py (SIGKILL at random points, then "
                      "resumed: duplicates ≤ kills × connections, nobody missed; SQLite and "
                      "PostgreSQL) and docs/delivery.md (the asynchronous-commit bound)",
    "T3 import all-or-nothing": "tests/audience/test_csv_import.py "
                                "(`test_a_bad_last_line_of_a_big_file_writes_nothing`, "
                                "`test_import_is_all_or_nothing`)",
    "T6 limits across workers": "tests/web/test_workers.py (`digest serve --workers 2`: "
                                "the sign-up limit holds across both)",
}

QUICK = {  # --quick: every step at a size that takes seconds
    "send": ["--subscribers", "2000", "--connections", "1,4", "--connections-large", "1",
             "--postgres-subscribers", "2000", "--postgres-connections", "1",
             "--million-subscribers", "5000", "--source-messages", "2000",
             "--client-messages", "500", "--smtplib-messages", "100", "--naive-messages", "20",
             "--profile-messages", "500"],
    "startup": ["--repeats", "1", "--baseline", ""],
    "import": ["--lines", "5000", "--baseline", ""],
    "burst": ["--subscribers", "4000", "--posts", "100", "--baseline", ""],
}
Verdict = tuple[str, str, str, str, bool | None]  # target, measured, baseline, needed, ok


def tested(name: str) -> Verdict:
    """A target proved by a test in the suite: the test, in place of a figure."""
    return (name, TESTED[name], "", "", None)


def run_step(label: str, script: str, args: list[str], out: Path,
             reused: list[str] | None = None) -> dict[str, Any] | None:
    """Run one benchmark as a child with `--json out`; its JSON, or None if it failed.
    With `reused` (--resume), a JSON already in `out` is taken instead, and noted there, if
    it was measured on this digest/ code (`out`.sha says which); otherwise the step runs."""
    sha = out.with_suffix(".sha")
    same = sha.exists() and sha.read_text(encoding="utf-8").strip() == code_sha()
    if reused is not None and out.exists() and same:
        stamp = datetime.fromtimestamp(out.stat().st_mtime, UTC)
        reused.append(f"{label} ({out.name}, written {stamp:%Y-%m-%d %H:%M} UTC)")
        print(f"\n## {label}: reusing {out}", flush=True)
    else:
        if reused is not None and out.exists():
            print(f"\n## {label}: {out} was measured on other digest/ code; running it again",
                  flush=True)
        out.unlink(missing_ok=True)
        sha.unlink(missing_ok=True)
        measured = code_sha()
        cmd = [sys.executable, str(REPO / "bench" / script), *args, "--json", str(out)]
        print(f"\n## {label}: {' '.join(cmd[1:])}", flush=True)
        began = time.monotonic()
        code = subprocess.run(cmd, cwd=REPO).returncode
        print(f"## {label}: exit {code} after {time.monotonic() - began:,.0f} s", flush=True)
        if code != 0 or not out.exists():
            return None
        sha.write_text(measured + "\n", encoding="utf-8")
    found: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return found


BASELINE_OF = {"T1": "smtp-source, same sessions (in the figure)",
               "T2": "SQLite, same N and connections (in the figure)",
               "T3": "the smaller runs (in the figure)"}


def send_verdicts(got: dict[str, Any] | None, million: bool) -> list[Verdict]:
    """Targets 1, 2 and 3's sends and outbox, as bench/send.py judged them."""
    if got is None:
        return [("T1–T3 sends", "bench/send.py failed", "", "", None)]
    out: list[Verdict] = [(t["name"], t["measured"], BASELINE_OF[t["name"][:2]], t["needed"],
                           t["ok"]) for t in got["targets"] if t["name"][:2] in BASELINE_OF]
    if not million:
        out.append(("T3 send to 1,000,000 and its outbox", "not measured (run with --million)",
                    "", "", None))
    return out


def startup_verdicts(got: dict[str, Any] | None) -> list[Verdict]:
    """Target 4: the start-up and peak RSS of a send with nothing to do."""
    if got is None:
        return [("T4 start-up", "bench/startup.py failed", "", "", None)]
    base = (f"floor `import sqlmodel` {got['floor_s']:.2f} s, {got['floor_mb']:.1f} MB"
            + (f"; previous send {got['baseline_s']:.2f} s, {got['baseline_mb']:.1f} MB"
               if got["baseline_s"] is not None else ""))
    return [("T4 send with nothing to do: start-up", f"{got['send_s']:.2f} s", base,
             f"< {TARGET_SECONDS} s", got["ok_s"]),
            ("T4 send with nothing to do: peak RSS", f"{got['send_mb']:.1f} MB", base,
             f"≤ {TARGET_MB:.0f} MB", got["ok_mb"])]


def import_verdicts(got: dict[str, Any] | None, million: bool) -> list[Verdict]:
    """Target 3's import: 1,000,000 lines at ≥ 100,000 rows/s, memory flat from 100,000."""
    if got is None:
        return [("T3 import", "bench/import_csv.py failed", "", "", None)]
    if not million:
        return [("T3 import of 1,000,000 lines", "not measured (run with --million)", "",
                 "", None)]
    rows = {(r["code"], r["database"], r["lines"]): r for r in got["rows"]}
    out: list[Verdict] = []
    for db in ("sqlite", "postgresql"):
        big, mid = rows.get(("this tree", db, MILLION)), rows.get(("this tree", db, 100_000))
        if big is None or mid is None:
            out.append((f"T3 import, {db}", "not measured", "", "", None))
            continue
        old = next((r for (code, d, n), r in rows.items()
                    if code != "this tree" and d == db and n == 100_000), None)
        base = (f"{old['code']}: {100_000 / old['wall_s']:,.0f} rows/s at 100,000"
                if old else "none")
        rate = MILLION / big["wall_s"]
        out.append((f"T3 import of 1,000,000 lines, {db}: rows/s (CLI wall)",
                    f"{rate:,.0f} (import phase {MILLION / big['phase_s']:,.0f})", base,
                    f"≥ {IMPORT_RATE:,}", rate >= IMPORT_RATE))
        out.append((f"T3 import of 1,000,000 lines, {db}: peak RSS",
                    f"{big['rss_mb']:.0f} MB vs {mid['rss_mb']:.0f} MB at 100,000 "
                    f"({(big['rss_mb'] / mid['rss_mb'] - 1) * 100:+.0f}%)",
                    f"{old['code']}: {old['rss_mb']:.0f} MB at 100,000" if old else "none",
                    "≤ +20%", big["rss_mb"] <= IMPORT_RSS_GROWTH * mid["rss_mb"]))
    return out


def burst_verdicts(got: dict[str, Any] | None, outbox: str) -> list[Verdict]:
    """Target 5 for each database: answers, commits, p99, and the send's rate kept."""
    if got is None:
        return [(f"T5 web burst, {outbox}", "bench/web_burst.py failed", "", "", None)]
    out: list[Verdict] = []
    for db in ("sqlite", "postgresql"):
        runs = [r for r in got["runs"] if r["database"] == db and r.get("error") is None]
        ours = [r for r in runs if r["baseline"] is None]
        burst = next((r for r in ours if r["send"] and r["posts"] > 1), None)
        alone = next((r for r in ours if not r["send"]), None)
        ref = next((r for r in ours if r["send"] and r["posts"] == 1), None)
        old = next((r for r in runs if r["baseline"] and r["send"] and r["posts"] > 1), None)
        where = f"{db}, {outbox}"
        if burst is None:
            out.append((f"T5 web burst, {where}", "not measured", "", "", None))
            continue
        base = (f"baseline {old['baseline']}: p99 {old['p99_ms']:.0f} ms, "
                f"{old['non_200']} non-200, {old['locked']} locked" if old else "none")
        out.append((f"T5 {where}: non-200 / \"database is locked\"",
                    f"{burst['non_200']} / {burst['locked']} of {burst['posts']:,}", base,
                    "0 / 0", burst["non_200"] == 0 and burst["locked"] == 0))
        out.append((f"T5 {where}: not committed / mailed after their 200",
                    f"{burst['not_committed']} / {burst['mailed_after_200']}", base, "0 / 0",
                    burst["not_committed"] == 0 and burst["mailed_after_200"] == 0))
        out.append((f"T5 {where}: p99 latency", f"{burst['p99_ms']:.0f} ms "
                     f"(p50 {burst['p50_ms']:.0f}, max {burst['max_ms']:.0f})", base,
                     f"< {P99_MS:.0f} ms", burst["p99_ms"] < P99_MS))
        # The reference: the same send with a 1-POST "burst", over the whole send (its rate
        # in the 1-POST window lasts a tenth of a second); a send stopped after the burst
        # (the 1,000,000 outbox) has only that window.
        during = burst["send_rate_during"]
        without = ref and (ref["send_rate_overall"] or ref["send_rate_during"])
        if during is not None and ref and without:
            span = "whole send" if ref["send_rate_overall"] else "its 1-POST window"
            out.append((f"T5 {where}: the send's rate during the burst",
                        f"{during:,.0f} msg/s ({during / without:.0%})",
                        f"the same send with a 1-POST burst ({span}): {without:,.0f} msg/s",
                        f"≥ {SEND_KEPT * without:,.0f}", during >= SEND_KEPT * without))
        if alone is not None:
            out.append((f"T5 {where}: the endpoint with no send (measured, no target)",
                        f"{alone['req_per_s']:,.0f} req/s, p99 {alone['p99_ms']:.0f} ms",
                        "", "", None))
    return out


def section(header: list[str], verdicts: list[Verdict], seconds: float,
            reused: list[str]) -> list[str]:
    """The generated markdown: the machine, the table, and the count of passes."""
    passed = sum(1 for v in verdicts if v[4] is True)
    failed = sum(1 for v in verdicts if v[4] is False)
    lines = ["", "_Generated by `bench/targets.py`; do not edit by hand._", "", *header,
             f"- this invocation: {seconds / 60:,.0f} min",
             *([f"- steps taken from an earlier invocation on this machine (the same "
                f"digest/ code): {'; '.join(reused)}"] if reused else []), "",
             *table(["target", "measured", "same-run baseline", "needed", "result"])]
    lines += [row(name, got, base, need, "PASS" if ok else "FAIL" if ok is False else
                  "tested (CI)" if name in TESTED else "–")
              for name, got, base, need, ok in verdicts]
    lines += ["", f"{passed} passed, {failed} failed, {len(TESTED)} proved by tests (run in "
              "CI), the rest not measured in this run.", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark, gather their verdicts, write the targets section."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--million", action="store_true",
                   help="include the 1,000,000 sends, import and outbox (target 3, 5)")
    p.add_argument("--no-doc", action="store_true", help="print only; leave the doc alone")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes, to try the plumbing in minutes (implies --no-doc; its "
                        "figures mean nothing)")
    p.add_argument("--results", type=Path,
                   help="keep each step's JSON in this folder (default: a temporary one)")
    p.add_argument("--resume", action="store_true",
                   help="with --results: take the steps whose JSON is already there as they "
                        "are, run the rest (the table names the steps taken)")
    args = p.parse_args(argv)
    if args.resume and args.results is None:
        p.error("--resume needs --results DIR")
    args.no_doc = args.no_doc or args.quick
    tiny = QUICK if args.quick else {}
    began = time.monotonic()
    header = machine()
    doc = [] if args.no_doc else ["--doc"]
    million = ["--million"] if args.million else []
    reused: list[str] | None = [] if args.resume else None
    with tempfile.TemporaryDirectory(prefix="bench-targets-") as tmp:
        out = args.results or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        no_doc = ["--no-doc"] if args.no_doc else []
        send = run_step("send", "send.py", [*million, *no_doc, *tiny.get("send", [])],
                        out / "send.json", reused)
        startup = run_step("start-up", "startup.py", [*doc, *tiny.get("startup", [])],
                           out / "startup.json", reused)
        imports = run_step("import", "import_csv.py",
                           [*([] if args.quick else million), *no_doc, *tiny.get("import", [])],
                           out / "import.json", reused)
        burst = run_step("web burst", "web_burst.py", [*doc, *tiny.get("burst", [])],
                         out / "burst.json", reused)
        verdicts = [*send_verdicts(send, args.million), tested("T2 crash bound"),
                    *import_verdicts(imports, args.million),
                    tested("T3 import all-or-nothing"),
                    *startup_verdicts(startup), *burst_verdicts(burst, "100,000 outbox rows")]
        if args.million:
            rows = "20000" if args.quick else str(MILLION - 100_000)
            big = run_step("web burst, 1,000,000 outbox rows", "web_burst.py",
                           ["--outbox-rows", rows, "--stop-send-after-burst", "--baseline", "",
                            *tiny.get("burst", [])], out / "burst-million.json", reused)
            verdicts += burst_verdicts(big, "1,000,000 outbox rows")
        else:
            verdicts.append(("T5 web burst, 1,000,000 outbox rows",
                             "not measured (run with --million)", "", "", None))
        verdicts.append(tested("T6 limits across workers"))
    lines = section(header, verdicts, time.monotonic() - began, reused or [])
    print("\n".join(lines), flush=True)
    if not args.no_doc:
        write_doc(DOC, lines, (START, END))
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

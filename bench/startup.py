"""Start-up benchmark (#17 target 4): a send with nothing to do, against its import floor.

Run from the repository root:  .venv/bin/python bench/startup.py [--doc]
Each row is a child process measured by `bench.sink.run_child` (wall time spawn to exit,
the child's own peak RSS); the rows are run round-robin, REPEATS times, after one unmeasured
round that compiles the bytecode, and the median of each is reported, so that load from
other work on the machine falls on every row alike. The send is `python -m digest.cli issue
send 2026-09` on a fresh copy of a migrated SQLite database with an approved issue and no
subscribers; the baseline runs the same command from the repository at --baseline.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `digest` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import burst_db, measure
from bench.import_csv import baseline_tree
from bench.report import REPO, machine, row, table
from bench.send import SEND_CMD, child_env
from bench.sink import ChildResult, Sink, run_child

DOC = REPO / "docs" / "performance.md"
HEADING = "# Performance: start-up floor of a send"
REPEATS = 5
TARGET_SECONDS = 0.4  # a send with nothing to do: under this wall time
TARGET_MB = 57.0  # and at most this peak RSS
IMPORTS = ("sqlalchemy", "sqlmodel", "digest.store.models", "digest.delivery.run",
           "digest.cli")
DONE = f"issue {measure.PERIOD}: 0 new outbox row(s); sent none"


@dataclass(frozen=True)
class Row:
    """One measured command: its label, and how to run it once."""

    label: str
    tree: Path  # the code it imports
    argv: tuple[str, ...]  # after the interpreter
    send: bool = False  # a send: needs its own copy of the database, and must say DONE


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", default="c0e028a",
                   help="git revision whose send is measured beside this one ('' skips it)")
    p.add_argument("--repeats", type=int, default=REPEATS, help="measured rounds (median)")
    p.add_argument("--json", type=Path, help="also write the send's figures to this file")
    p.add_argument("--doc", action="store_true",
                   help=f"rewrite the '{HEADING}' section of docs/performance.md")
    return p.parse_args(argv)


def rows_for(baseline: str, old: Path | None) -> list[Row]:
    """The commands measured: the interpreter, the import floor, the send (and the
    baseline's import and send)."""
    rows = [Row("`python -c 'pass'`", REPO, ("-c", "pass"))]
    rows += [Row(f"`python -c 'import {m}'`", REPO, ("-c", f"import {m}")) for m in IMPORTS]
    if old is not None:
        rows.append(Row(f"baseline {baseline}: `python -c 'import digest.cli'`", old,
                        ("-c", "import digest.cli")))
    rows.append(Row(f"`python -m digest.cli issue send {measure.PERIOD}` (nothing to do)",
                    REPO, tuple(SEND_CMD), send=True))
    if old is not None:
        rows.append(Row(f"baseline {baseline}: the same send", old, tuple(SEND_CMD),
                        send=True))
    return rows


def run_once(r: Row, templates: dict[Path, Path], workdir: Path, port: int) -> ChildResult:
    """Run one row's command once; a send gets a fresh copy of its tree's database."""
    run_dir = Path(tempfile.mkdtemp(prefix="startup-", dir=workdir))
    db = run_dir / "digest.db"
    if r.send:
        measure.copy_database(templates[r.tree], db)
    env = child_env(db, run_dir, port, 1)
    env["PYTHONPATH"] = str(r.tree)  # this tree's `digest` only, not the caller's
    child = run_child([sys.executable, *r.argv], env=env, cwd=run_dir, timeout=300)
    shutil.rmtree(run_dir)
    if child.returncode != 0 or (r.send and DONE not in child.output):
        raise RuntimeError(f"{r.label} failed ({child.returncode}):\n{child.output[-3000:]}")
    return child


def baseline_copy(template: Path, tree: Path, workdir: Path) -> Path:
    """The database for the baseline's send: a copy of `template`, its schema labelled with
    the baseline's newest migration when this tree's are newer (bench/burst_db.label_for:
    they only add nullable columns and tables or drop a redundant index), so that the
    baseline's upgrade-first leaves it alone instead of refusing a revision it lacks."""
    copy = workdir / "empty-baseline.db"
    measure.copy_database(template, copy)
    engine = burst_db.engine_for(copy)
    if (label := burst_db.label_for(engine, tree)) is not None:
        print(f"(the baseline's schema is labelled {label}, its newest migration)",
              file=sys.stderr)
    engine.dispose()
    return copy


def measure_rows(rows: list[Row], templates: dict[Path, Path], workdir: Path, port: int,
                 repeats: int) -> dict[str, list[ChildResult]]:
    """Each row `repeats` times, round-robin, after one unmeasured round."""
    for r in rows:
        run_once(r, templates, workdir, port)
    got: dict[str, list[ChildResult]] = {r.label: [] for r in rows}
    for i in range(repeats):
        for r in rows:
            got[r.label].append(run_once(r, templates, workdir, port))
        print(f"round {i + 1}/{repeats} done", file=sys.stderr, flush=True)
    return got


def median(runs: list[ChildResult]) -> tuple[float, float]:
    """Median wall seconds and median peak RSS (MB) of the runs."""
    return (statistics.median(r.seconds for r in runs),
            statistics.median(r.rss_mb for r in runs))


def report(rows: list[Row], got: dict[str, list[ChildResult]], baseline: str) -> list[str]:
    """The table, the comparison with the baseline, the target's verdict and its reason."""
    lines = table(["command", "wall s (median)", "wall s (range)", "peak RSS MB (median)",
                   "peak RSS MB (range)"])
    for r in rows:
        runs = got[r.label]
        s, mb = median(runs)
        lines.append(row(r.label, f"{s:.2f}",
                         f"{min(x.seconds for x in runs):.2f}–{max(x.seconds for x in runs):.2f}",
                         f"{mb:.1f}",
                         f"{min(x.rss_mb for x in runs):.1f}–{max(x.rss_mb for x in runs):.1f}"))
    by = {r.label: median(got[r.label]) for r in rows}
    figures = summary(rows, got)
    send_s, send_mb, floor_s, floor_mb = (figures.send_s, figures.send_mb, figures.floor_s,
                                          figures.floor_mb)
    models_s, models_mb = by["`python -c 'import digest.store.models'`"]
    run_s, run_mb = by["`python -c 'import digest.delivery.run'`"]
    cli_s, cli_mb = by["`python -c 'import digest.cli'`"]
    lines.append("")
    old = [r.label for r in rows if r.send and r.tree != REPO]
    if old:
        base_s, base_mb = by[old[0]]
        base_cli_s, base_cli_mb = by[f"baseline {baseline}: `python -c 'import digest.cli'`"]
        lines.append(f"Against {baseline}, same run: the send {send_s:.2f} s vs {base_s:.2f} s "
                     f"({send_s / base_s:.2f}×), {send_mb:.1f} MB vs {base_mb:.1f} MB "
                     f"({send_mb / base_mb:.2f}×); `import digest.cli` {cli_s:.2f} s vs "
                     f"{base_cli_s:.2f} s ({cli_s / base_cli_s:.2f}×), {cli_mb:.1f} MB vs "
                     f"{base_cli_mb:.1f} MB ({cli_mb / base_cli_mb:.2f}×).")
        lines.append("")
    ok_s, ok_mb = figures.ok_s, figures.ok_mb
    verdict = "PASS" if ok_s and ok_mb else "FAIL"
    lines.append(f"Target 4 (a send with nothing to do in < {TARGET_SECONDS} s and "
                 f"≤ {TARGET_MB:.0f} MB): **{verdict}**: start-up {send_s:.2f} s "
                 f"({'pass' if ok_s else 'fail'}), peak RSS {send_mb:.1f} MB "
                 f"({'pass' if ok_mb else 'fail'}).")
    lines.append("")
    lines.append(
        f"The floor is `import sqlmodel`: {floor_s:.2f} s and {floor_mb:.1f} MB on its own "
        f"({floor_s / send_s:.0%} of the send's time, {floor_mb / send_mb:.0%} of its peak "
        f"RSS), and the store's models, which every send reads and writes, are SQLModel "
        f"classes ({models_s:.2f} s, {models_mb:.1f} MB with them). No import order in "
        f"`digest/cli` brings the send under {TARGET_SECONDS} s while it loads SQLModel; "
        "that needs the send path on SQLAlchemy Core tables instead. `digest/cli` now "
        "imports each service in the command that uses it (`tests/cli/test_imports.py` "
        "keeps it so), so a send loads the CLI and the delivery modules only. What the "
        "delivery modules add over the models "
        f"(`import digest.delivery.run`: +{run_s - models_s:.2f} s, "
        f"+{run_mb - models_mb:.1f} MB) is spread over Babel (the Welsh dates), "
        "SQLAlchemy's PostgreSQL dialect (the outcome writer's `ARRAY`) and the settings "
        "(pydantic-settings); the renderer (Jinja2, MJML) is no longer among them, since "
        "`digest.issue.service` loads it only to render.")
    lines.append("")
    lines.append(
        f"Peak RSS: the models alone are {models_mb:.1f} MB, "
        f"{TARGET_MB - models_mb:.1f} MB under the {TARGET_MB:.0f} MB allowed; over them "
        f"the CLI (Typer, Click, Rich, the settings) adds {cli_mb - models_mb:.1f} MB and "
        f"the delivery modules {run_mb - models_mb:.1f} MB (the two share the settings), "
        "and the send's own work (a connection, its queries, the worker threads) the rest "
        f"of its {send_mb:.1f} MB. With SQLModel taking {floor_mb:.1f} of the {TARGET_MB:.0f} MB, "
        "the memory half fails too.")
    return lines


@dataclass(frozen=True)
class Summary:
    """The send's and the floor's medians, the baseline send's, and target 4's verdict."""

    send_s: float
    send_mb: float
    floor_s: float
    floor_mb: float
    baseline_s: float | None
    baseline_mb: float | None

    @property
    def ok_s(self) -> bool:
        """Start-up under the target."""
        return self.send_s < TARGET_SECONDS

    @property
    def ok_mb(self) -> bool:
        """Peak RSS within the target."""
        return self.send_mb <= TARGET_MB

    def as_json(self) -> dict[str, object]:
        """The figures and both verdicts, for bench/targets.py."""
        return {**asdict(self), "ok_s": self.ok_s, "ok_mb": self.ok_mb}


def summary(rows: list[Row], got: dict[str, list[ChildResult]]) -> Summary:
    """The medians target 4 is judged on."""
    by = {r.label: median(got[r.label]) for r in rows}
    send_s, send_mb = by[next(r.label for r in rows if r.send and r.tree == REPO)]
    old = [by[r.label] for r in rows if r.send and r.tree != REPO]
    floor_s, floor_mb = by["`python -c 'import sqlmodel'`"]
    return Summary(send_s, send_mb, floor_s, floor_mb, old[0][0] if old else None,
                   old[0][1] if old else None)


def write_section(path: Path, section: list[str]) -> None:
    """Replace the HEADING section (up to the next top-level heading) with `section`."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    try:
        start = lines.index(HEADING)
    except ValueError:
        raise SystemExit(f"{path}: no line {HEADING!r}") from None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("# ")),
               len(lines))
    tail = lines[end:]
    new = [HEADING, "", *section, *([""] if tail else [])]
    path.write_text("\n".join(lines[:start] + new + tail), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Measure the rows, print the report, and with --doc write it into the doc."""
    args = parse_args(argv)
    header = machine()
    print("\n".join(header), flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        old = baseline_tree(args.baseline, workdir / "baseline") if args.baseline else None
        with Sink(workdir) as sink:
            template = workdir / "empty.db"
            measure.prepare_database(template, 0, measure.bench_settings(
                template, workdir / "var", sink.port))
            templates = {REPO: template}
            if old is not None:
                templates[old] = baseline_copy(template, old, workdir)
            rows = rows_for(args.baseline, old)
            got = measure_rows(rows, templates, workdir, sink.port, args.repeats)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    lines = report(rows, got, args.baseline)
    print("\n" + "\n".join(lines), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(summary(rows, got).as_json(), indent=1), encoding="utf-8")
    if args.doc:
        intro = [
            "_Generated by `bench/startup.py --doc`; do not edit by hand._", "", *header,
            f"- each row: `bench.sink.run_child` (the child's wall time and its own peak RSS), "
            f"median of {args.repeats} rounds run round-robin after one unmeasured round; "
            "machines vary from day to day, so compare rows of this run only",
            f"- the send: `python -m digest.cli issue send {measure.PERIOD}` on a fresh copy "
            "of a migrated SQLite database with an approved issue and no subscribers "
            f"(it prints `{DONE}; …`), SMTP to a local sink it never needs"
            + (f"; the baseline rows import the repository at {args.baseline} "
               "(`git archive`, beside this run's checkout)" if args.baseline else ""),
            ""]
        write_section(DOC, [*intro, *lines])
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

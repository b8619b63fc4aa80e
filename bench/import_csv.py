"""Benchmark `digest subscribers import`: rows/s and the child's peak RSS, beside a baseline.

The baseline is the same command run from an earlier commit's tree (`git archive`, default
6fd8f32, before the streamed import) on the same file in the same run. `--million` adds a
1,000,000-line file (minutes; not run by default, nor in CI).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `digest` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import SECRET, PostgresScratch
from bench.report import REPO, machine, write_doc
from bench.sink import ChildResult, run_child
from digest.store.db import make_engine, upgrade

DOC = REPO / "docs" / "performance.md"
START, END = "<!-- import:start -->", "<!-- import:end -->"
NAMES = ["Siân Evans", "Gwŷn ap Siôn", "Rhys Price", "Angharad Jones", "Wilkins, David", ""]
DOMAINS = [f"{w}.example.{t}" for w in ("aber", "bangor", "caerdydd", "abertawe", "wrecsam")
           for t in ("org", "ac.uk", "cymru", "com")]


def write_csv(path: Path, n: int) -> None:
    """`n` distinct people: mixed case, Welsh names (some quoted), the three languages."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,name,language\n")
        for i in range(n):
            name = NAMES[i % len(NAMES)]
            name = f'"{name}"' if "," in name else name
            email = f"Person.{i}@{DOMAINS[i % len(DOMAINS)]}" if i % 7 else f"p{i}@ex.org"
            out.write(f"{email},{name},{('cy', 'en', 'both')[i % 3]}\n")


def baseline_tree(rev: str, into: Path, *paths: str) -> Path:
    """The repository at `rev` (only `paths` if given), extracted (not a worktree: nothing
    in .git changes). The web needs the whole tree: its templates are beside the package."""
    data = subprocess.run(["git", "-C", str(REPO), "archive", rev, *paths], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def fresh_db(kind: str, workdir: Path, pg: PostgresScratch | None, tag: str,
             tree: Path = REPO) -> str:
    """A database migrated by `tree`'s own migrations (a baseline's stop at its own
    revision, which its commands check), empty; returns its URL."""
    if kind == "sqlite":
        url = f"sqlite:///{workdir / f'{tag}.db'}"
    else:
        assert pg is not None
        url = pg.create(f"digest_bench_import_{tag}")
    if tree == REPO:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    migrate = ("import sys\nfrom digest.store.db import make_engine, upgrade\n"
               "engine = make_engine(sys.argv[1])\nupgrade(engine)\nengine.dispose()\n")
    child = run_child([sys.executable, "-c", migrate, url], env={
        **os.environ, "PYTHONPATH": str(tree)}, cwd=workdir, timeout=600)
    if child.returncode != 0:
        raise RuntimeError(f"migrating with {tree} failed:\n{child.output[-2000:]}")
    return url


# The import phase alone, timed inside a child running `tree`'s own code (no start-up).
TIMED = """import sys, time
from pathlib import Path
from digest.audience import csv_import
from digest.audience.keyed import Keyed
from digest.cli.common import store
from digest.store.db import session_scope
settings, engine = store()
began = time.perf_counter()
with session_scope(engine) as session:
    csv_import.import_file(session, Path(sys.argv[1]), keyed=Keyed(settings))
print(f"PHASE {time.perf_counter() - began}")
"""


def import_once(tree: Path, url: str, csv: Path, workdir: Path, *, timed: bool = False
                ) -> ChildResult:
    """One `digest subscribers import` child from `tree` (or the TIMED script); fails loudly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env.update({"PYTHONPATH": str(tree), "DIGEST_DATABASE_URL": url,
                "DIGEST_SECRET_KEY": SECRET, "DIGEST_VAR_DIR": str(workdir / "var"),
                "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "digest-bench-pyc")})
    cmd = ["-c", TIMED, str(csv)] if timed else ["-m", "digest.cli", "subscribers", "import",
                                                  str(csv)]
    child = run_child([sys.executable, *cmd], env=env, cwd=workdir, timeout=3600)
    if child.returncode != 0:
        raise RuntimeError(f"import failed ({child.returncode}):\n{child.output[-2000:]}")
    return child


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, and (unless --no-doc) write it to the doc."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--lines", type=int, default=100_000)
    p.add_argument("--million", action="store_true", help="also a 1,000,000-line file")
    p.add_argument("--baseline", default="6fd8f32", help="git revision ('' skips)")
    p.add_argument("--baseline-max", type=int, default=100_000,
                   help="run the baseline only on files up to this many lines")
    p.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                   help="server URL for PostgreSQL rows ('' skips)")
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--json", type=Path, help="also write the rows to this file")
    args = p.parse_args(argv)
    began = time.monotonic()
    rows = ["| code | database | lines | CLI wall s | rows/s (CLI wall) | import phase s | "
            "rows/s (import phase) | CLI peak RSS MB |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    found: list[dict[str, object]] = []
    pg = PostgresScratch(args.postgres) if args.postgres else None
    kinds = ["sqlite"] + (["postgresql"] if pg is not None and pg.available() is None else [])
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        workdir = Path(tmp)
        trees = [("this tree", REPO)]
        if args.baseline:
            trees.insert(0, (f"baseline {args.baseline}",
                             baseline_tree(args.baseline, workdir / "baseline", "digest")))
        sizes = [args.lines] + ([1_000_000] if args.million else [])
        one = workdir / "one.csv"
        write_csv(one, 1)
        try:
            for n in sizes:
                csv = workdir / f"{n}.csv"
                write_csv(csv, n)
                for kind in kinds:
                    for label, tree in trees:
                        if tree != REPO and n > args.baseline_max:
                            continue
                        tag = f"{kind}_{n}_{len(rows)}"
                        import_once(tree, fresh_db(kind, workdir, pg, tag + "w", tree), one,
                                    workdir)
                        got = import_once(tree, fresh_db(kind, workdir, pg, tag, tree), csv,
                                          workdir)
                        inner = import_once(tree, fresh_db(kind, workdir, pg, tag + "t", tree),
                                            csv, workdir, timed=True).output
                        phase = float(inner.rsplit("PHASE ", 1)[1].split()[0])
                        found.append({"code": label, "database": kind, "lines": n,
                                      "wall_s": got.seconds, "phase_s": phase,
                                      "rss_mb": got.rss_mb})
                        rows.append(f"| {label} | {kind} | {n:,} | {got.seconds:.2f} | "
                                    f"{n / got.seconds:,.0f} | {phase:.2f} | "
                                    f"{n / phase:,.0f} | {got.rss_mb:.0f} |")
                        print(rows[-1], flush=True)
        finally:
            if pg is not None:
                pg.close()
    text = "\n".join([
        f"- command: `{' '.join(['bench/import_csv.py', *(argv or sys.argv[1:])])}`",
        *[m for m in machine() if not m.startswith("- command")],
        f"- whole benchmark: {time.monotonic() - began:.0f} s; machines vary from day to "
        "day, so compare rows within this run only",
        "- CLI: `digest subscribers import FILE` as a child (spawn to exit, its own peak RSS); "
        "import phase: `csv_import.import_file` and its commit timed inside a child running "
        "the same tree's code on a fresh database", "", *rows])
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": found}, indent=1), encoding="utf-8")
    if not args.no_doc:
        write_doc(DOC, ["", text, ""], (START, END))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

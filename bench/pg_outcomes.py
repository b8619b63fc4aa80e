"""PostgreSQL sends from this tree and from a baseline tree, alternately, in one run.

Each send is `digest issue send` as a child into Postfix's smtp-sink, on a fresh copy
(`CREATE DATABASE ... TEMPLATE`) of one prepared database, so the two trees differ only in
their code. Prints msg/s (wall) and the number of WAL flushes the server made during the send
(`pg_stat_wal.wal_sync`, PostgreSQL 14+), which is what outcome commits cost.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `digest` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import measure
from bench.import_csv import baseline_tree
from bench.report import REPO
from bench.send import SEND_CMD, child_env
from bench.sink import Sink, run_child


def wal_syncs(pg: measure.PostgresScratch) -> int:
    """The server's WAL flushes so far."""
    with pg.admin.connect() as conn:
        return int(conn.exec_driver_sql("SELECT wal_sync FROM pg_stat_wal").scalar_one())


def main(argv: list[str] | None = None) -> int:
    """Alternate the two trees `--repeats` times; print the medians."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--subscribers", type=int, default=10_000)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--baseline", default="HEAD~1")
    p.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = p.parse_args(argv)
    pg = measure.PostgresScratch(args.postgres)
    got: dict[str, list[tuple[float, int]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp, Sink(Path(tmp)) as sink:
        work = Path(tmp)
        trees = {f"baseline {args.baseline}": baseline_tree(args.baseline, work / "old"),
                 "this tree": REPO}
        try:
            template = pg.create("digest_bench_pgout_template")
            settings = measure.bench_settings(template, work / "var", sink.port)
            measure.prepare_database(template, args.subscribers, settings)
            template = "digest_bench_pgout_template"  # a name, for CREATE DATABASE TEMPLATE
            for i in range(args.repeats):
                for label, tree in trees.items():
                    url = pg.create(f"digest_bench_pgout_{i}_{len(got.get(label, []))}_"
                                    f"{'b' if tree != REPO else 't'}", template)
                    env = child_env(url, work, sink.port, args.connections)
                    env["PYTHONPATH"] = str(tree)
                    before = wal_syncs(pg)
                    child = run_child([sys.executable, *SEND_CMD], env=env, cwd=work)
                    if child.returncode != 0:
                        raise RuntimeError(child.output[-2000:])
                    got.setdefault(label, []).append((child.seconds, wal_syncs(pg) - before))
                    print(label, child.seconds, got[label][-1][1], flush=True)
        finally:
            pg.close()
    print(f"\n{args.subscribers:,} subscribers, {args.connections} connections, "
          f"median of {args.repeats}; the machine's 2 cores were shared with other work\n")
    print("| code | wall s | msg/s (wall) | WAL flushes during the send (server-wide) |\n"
          "| --- | --- | --- | --- |")
    for label, runs in got.items():
        wall = statistics.median(r[0] for r in runs)
        print(f"| {label} | {wall:.2f} | {args.subscribers / wall:,.0f} | "
              f"{statistics.median(r[1] for r in runs):,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

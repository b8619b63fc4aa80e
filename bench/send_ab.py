"""Send A/B: `digest issue send` children from a baseline revision and from this tree,
interleaved (the order alternates each round) into one sink, with smtp-source each round.

Run from the repository root:
  .venv/bin/python bench/send_ab.py --baseline REV --subscribers 10000 --connections 1,4,8

The machine's speed varies between runs; within one run, compare the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `digest` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import measure, send
from bench.import_csv import baseline_tree
from bench.report import REPO
from bench.sink import Sink, smtp_source


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", required=True, help="the revision to compare with")
    p.add_argument("--subscribers", type=int, default=10_000)
    p.add_argument("--connections", type=send._ints, default=[1, 4, 8])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--source-messages", type=int, default=20_000)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Print each send, then a table of medians."""
    args = parse_args(argv)
    n = args.subscribers
    tree: dict[str, Path] = {}
    original = send.child_env

    def env(db: Path | str, run_dir: Path, port: int, connections: int) -> dict[str, str]:
        e = original(db, run_dir, port, connections)
        e["PYTHONPATH"] = str(tree["now"])
        return e

    send.child_env = env  # type: ignore[assignment]  # this process's sends only
    walls: dict[tuple[str, int], list[float]] = {}
    sources: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="send-ab-") as tmp, Sink(Path(tmp)) as sink:
        work = Path(tmp)
        trees = {"before": baseline_tree(args.baseline, work / "baseline", "digest"),
                 "after": REPO}
        db = work / "template.db"
        prepared = measure.prepare_database(db, n, measure.bench_settings(db, work / "var",
                                                                          sink.port))
        s = measure.bench_settings(db, work / "var", sink.port)
        size = measure.mean_wire_size(measure.templates_for(s, measure.stored_variants(s)),
                                      prepared.mix)
        startups = []
        for label, path in trees.items():
            tree["now"] = path
            (work / label).mkdir()
            startups.append(send.startup_time(work / label, sink)[0])
        startup = statistics.mean(startups)  # the same code path in both trees
        print(f"startup {startup:.2f} s (mean of both trees), message {size:,} bytes")
        for r in range(args.rounds):
            for c in args.connections:
                src = smtp_source(sink.port, c, args.source_messages, size)
                assert src is not None and src.returncode == 0, "smtp-source failed"
                sources.setdefault(c, []).append(args.source_messages / src.seconds)
                order = list(trees.items())
                for label, path in order if r % 2 == 0 else order[::-1]:
                    tree["now"] = path
                    run = send.run_send(db, work, sink, n, c, startup, 1800)
                    assert run.sent_rows == n and run.sink_delta in (None, n), run
                    walls.setdefault((label, c), []).append(run.child.seconds)
                    print(f"round {r} c={c} {label}: wall {run.child.seconds:.2f} s "
                          f"({run.rate:,.0f} msg/s), smtp-source {sources[c][-1]:,.0f} msg/s",
                          flush=True)
    print("\n| connections | smtp-source msg/s | before wall msg/s | after wall msg/s | "
          "before send phase msg/s | after send phase msg/s | after/before (wall) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for c in args.connections:
        src_rate = statistics.median(sources[c])
        b, a = (statistics.median(walls[(k, c)]) for k in ("before", "after"))
        cells = [f"{rate:,.0f} ({rate / src_rate:.0%})"
                 for rate in (n / b, n / a, n / (b - startup), n / (a - startup))]
        print(f"| {c} | {src_rate:,.0f} | {' | '.join(cells)} | {b / a:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

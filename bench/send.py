"""Send benchmark: `digest issue send` into a loopback SMTP sink, against baselines.

Run from the repository root:  .venv/bin/python bench/send.py  (see docs/performance.md).
Each measured send is its own child process, so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `digest` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import measure
from bench.report import (
    MILLION,
    REPO,
    Results,
    SendRun,
    fmt,
    judge,
    judge_scale,
    machine,
    row,
    say,
    table,
    write_doc,
)
from bench.send_parts import (
    bench_assembly,
    bench_clients,
    bench_components,
    bench_profile,
    bench_sources,
)
from bench.sink import ChildResult, Sink, run_child

DOC = REPO / "docs" / "performance.md"


def _ints(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subscribers", type=_ints, default=[10_000, 100_000],
                   help="comma-separated subscriber counts (default: 10000,100000)")
    p.add_argument("--connections", type=_ints, default=[1, 4, 8],
                   help="SMTP connections for sends at N <= 10000 (default: 1,4,8)")
    p.add_argument("--connections-large", type=_ints, default=[1, 4, 8],
                   help="SMTP connections for sends at N > 10000 (default: 1,4,8)")
    p.add_argument("--million", action="store_true",
                   help="also send to 1,000,000 subscribers on both databases (minutes; "
                        "target 3; not run by default)")
    p.add_argument("--million-subscribers", type=int, default=MILLION,
                   help="the size of the --million sends (default: 1000000; smaller to try it)")
    p.add_argument("--million-connections", type=_ints, default=[4],
                   help="SMTP connections for the 1,000,000 sends (default: 4)")
    p.add_argument("--source-messages", type=int, default=20_000,
                   help="messages per smtp-source run (default: 20000)")
    p.add_argument("--client-messages", type=int, default=10_000,
                   help="messages per client-only run (default: 10000)")
    p.add_argument("--smtplib-messages", type=int, default=2_000,
                   help="messages for the EmailMessage + smtplib loop (default: 2000)")
    p.add_argument("--naive-messages", type=int, default=300,
                   help="EmailMessage builds timed and extrapolated (default: 300)")
    p.add_argument("--profile-messages", type=int, default=8_000,
                   help="messages per in-process profiled send (default: 8000)")
    p.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                   help="server for the PostgreSQL sends ('' to skip them)")
    p.add_argument("--postgres-subscribers", type=_ints, default=[10_000, 100_000],
                   help="subscriber counts sent with PostgreSQL")
    p.add_argument("--postgres-connections", type=_ints, default=[1, 4, 8],
                   help="connection counts sent with PostgreSQL")
    p.add_argument("--doc", type=Path, default=DOC, help="markdown file to update")
    p.add_argument("--no-doc", action="store_true", help="print only; leave the doc alone")
    p.add_argument("--json", type=Path, help="also write the sends and targets to this file")
    p.add_argument("--timeout", type=float, default=1800, help="seconds allowed per send")
    return p.parse_args(argv)


def child_env(db_path: Path | str, run_dir: Path, port: int, connections: int
              ) -> dict[str, str]:
    """The environment of a measured send: no inherited DIGEST_*, this run's database."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DIGEST_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update({
        # Compiled bytecode is kept, as an installed package has it (outside the repository).
        "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "digest-bench-pycache"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        "DIGEST_DATABASE_URL": measure.database_url(db_path),
        "DIGEST_SECRET_KEY": measure.SECRET,
        "DIGEST_VAR_DIR": str(run_dir / "var"),
        "DIGEST_TRANSPORT": "smtp",
        "DIGEST_SMTP_HOST": "127.0.0.1",
        "DIGEST_SMTP_PORT": str(port),
        "DIGEST_SMTP_CONNECTIONS": str(connections),
    })
    return env


SEND_CMD = ["-m", "digest.cli", "issue", "send", measure.PERIOD]


def run_send(template: Path | str, workdir: Path, sink: Sink, n: int, connections: int,
             startup: float, timeout: float) -> SendRun:
    """One `digest issue send` child on a fresh copy of a SQLite database."""
    assert isinstance(template, Path), "PostgreSQL sends go through bench_postgres"
    run_dir = Path(tempfile.mkdtemp(prefix=f"send-{n}-{connections}-", dir=workdir))
    db = run_dir / "digest.db"
    measure.copy_database(template, db)
    result = measured_send(db, run_dir, sink, n, connections, startup, timeout)
    shutil.rmtree(run_dir)
    return result


def measured_send(db: Path | str, run_dir: Path, sink: Sink, n: int, connections: int,
                  startup: float, timeout: float) -> SendRun:
    """Run `digest issue send` on a database nobody has sent from; check what it did."""
    before = sink.received()
    child = run_child([sys.executable, *SEND_CMD], env=child_env(db, run_dir, sink.port,
                                                                  connections),
                      cwd=run_dir, timeout=timeout)
    after = sink.received()
    if child.returncode != 0:
        raise RuntimeError(f"send failed ({child.returncode}):\n{child.output[-3000:]}")
    sent = measure.sent_rows(db)
    delta = None if before is None or after is None else after - before
    return SendRun(n, connections, child, startup, sent, delta)


def startup_time(workdir: Path, sink: Sink, repeats: int = 3) -> tuple[float, float]:
    """Median wall seconds and peak RSS (MB) of a send with no subscribers (nothing due).

    One unmeasured run first: on a fresh machine it compiles the bytecode cache, which costs
    time and memory that an installed package (and every later send) does not pay.
    """
    empty = workdir / "empty.db"
    settings = measure.bench_settings(empty, workdir / "var", sink.port)
    measure.prepare_database(empty, 0, settings)
    run_send(empty, workdir, sink, 0, 4, 0.0, 300)
    runs = [run_send(empty, workdir, sink, 0, 4, 0.0, 300).child for _ in range(repeats)]
    return (statistics.median(r.seconds for r in runs),
            statistics.median(r.rss_mb for r in runs))


def import_footprint() -> list[tuple[str, ChildResult]]:
    """Wall time and peak RSS of importing the CLI, and of only the modules a send runs."""
    out = []
    for mods in ("digest.cli", "digest.delivery.run, digest.delivery.transports.smtp",
                 "sqlmodel"):
        child = run_child([sys.executable, "-c", f"import {mods}"],
                          env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
        if child.returncode != 0:  # a failed import is quick: its time would mislead
            raise RuntimeError(f"import {mods} failed:\n{child.output[-2000:]}")
        out.append((mods, child))
    return out


def bench_postgres(res: Results, args: argparse.Namespace, workdir: Path, sink: Sink,
                   startup: float) -> None:
    """The same sends with the outbox on PostgreSQL (scratch databases, dropped after)."""
    say(res, "", "### `digest issue send` (child process, PostgreSQL, into the sink)", "")
    if not args.postgres:
        say(res, "Not measured (`--postgres ''`).")
        return
    pg = measure.PostgresScratch(args.postgres)
    why = pg.available()
    if why is not None:
        say(res, f"Not measured: no PostgreSQL server at `{args.postgres}` ({why}); "
             "start one or pass `--postgres URL`.")
        return
    say(res, f"Server: PostgreSQL {pg.version()}, on this machine over TCP; a fresh database "
         "(`CREATE DATABASE … TEMPLATE`) per send. Send phase uses the SQLite startup above.",
         "", *table(["subscribers", "connections", "wall s", "msg/s (wall)",
                      "msg/s (send phase)", "peak RSS MB", "SQLite msg/s (wall), same N and "
                      "conns", "checked"]))
    sqlite = {(r.subscribers, r.connections): r.rate for r in res.sends}
    big = args.million_subscribers if args.million else None
    sizes = args.postgres_subscribers + ([big] if big else [])
    try:
        for n in sizes:
            template = f"digest_bench_template_{n}"
            url = pg.create(template)
            measure.prepare_database(url, n, measure.bench_settings(url, workdir / "var",
                                                                    sink.port))
            if n == big:
                copy = pg.create("digest_bench_outbox", template=template)
                res.outbox_seconds[("PostgreSQL", n)] = measure.outbox_creation(
                    measure.bench_settings(copy, workdir / "var", sink.port))
                pg.drop("digest_bench_outbox")
            for c in args.million_connections if n == big else args.postgres_connections:
                run_dir = Path(tempfile.mkdtemp(prefix=f"pg-{n}-{c}-", dir=workdir))
                db = pg.create("digest_bench_run", template=template)
                r = measured_send(db, run_dir, sink, n, c, startup, args.timeout)
                pg.drop("digest_bench_run")
                shutil.rmtree(run_dir)
                res.pg_sends.append(r)
                ok = r.sent_rows == n and r.sink_delta in (None, n)
                same = sqlite.get((n, c))
                say(res, row(f"{n:,}", c, fmt(r.child.seconds), fmt(r.rate), fmt(r.send_rate),
                               fmt(r.child.rss_mb), fmt(same) if same else "n/a",
                               f"{r.sent_rows:,} rows sent, sink took "
                               + (f"{r.sink_delta:,}" if r.sink_delta is not None else "?")
                               + ("" if ok else " MISMATCH")))
            pg.drop(template)
    finally:
        pg.close()


def _timed(label: str, fn: Callable[..., None], *fn_args: object) -> None:
    start = time.perf_counter()
    fn(*fn_args)
    print(f"  [{label}: {time.perf_counter() - start:,.1f} s]", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> Results:
    """The whole benchmark, in one sink's lifetime."""
    res = Results()
    sizes = sorted(args.subscribers)
    big = [args.million_subscribers] if args.million else []  # no assembly, steps, profile
    conns_for = {n: args.connections if n <= 10_000 else args.connections_large for n in sizes}
    conns_for.update({n: args.million_connections for n in big})
    all_conns = sorted({c for cs in conns_for.values() for c in cs})
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp, Sink(Path(tmp)) as sink:
        workdir = Path(tmp)
        res.sink = sink.kind
        prepared: dict[int, measure.Prepared] = {}
        for n in sizes + big:
            db = workdir / f"template-{n}.db"
            prepared[n] = measure.prepare_database(
                db, n, measure.bench_settings(db, workdir / "var", sink.port))
        first = prepared[sizes[0]]
        first_settings = measure.bench_settings(first.db_path, workdir / "var", sink.port)
        templates = measure.templates_for(first_settings, measure.stored_variants(first_settings))
        res.message_bytes = measure.mean_wire_size(templates, first.mix)
        say(res, "", f"Sink: {res.sink}. Issue: {first.plan_message}. Mean message "
             f"{res.message_bytes:,} bytes on the wire over the cy/en/both mix.")
        say(res, "", "### Message assembly (one core, in the benchmark process)", "",
             *table(["builder", "messages", "seconds", "msg/s", "µs/message"]))
        for n in sizes:
            s = measure.bench_settings(prepared[n].db_path, workdir / "var", sink.port)
            _timed(f"assembly N={n}", bench_assembly, res, s, prepared[n], args.naive_messages)
        _timed("smtp-source", bench_sources, res, sink, all_conns, args.source_messages)
        _timed("python clients", bench_clients, res, first_settings, args, all_conns)
        startup, startup_rss = startup_time(workdir, sink)
        imports = "; ".join(f"`import {m}` {r.seconds:.2f} s, {r.rss_mb:.0f} MB"
                            for m, r in import_footprint())
        say(res, "", "### `digest issue send` (child process, SQLite, into the sink)", "",
             f"Startup of a send with nothing due (0 subscribers; median of 3): "
             f"{startup:.2f} s, peak RSS {startup_rss:.0f} MB. "
             "Send phase = wall time − that startup. "
             f"Imports alone (wall, peak RSS): {imports}.", "",
             *table(["subscribers", "connections", "wall s", "msg/s (wall)", "send phase s",
                      "msg/s (send phase)", "peak RSS MB", "smtp-source msg/s, same conns",
                      "checked"]))
        for n in sizes + big:
            for c in conns_for[n]:
                def one(n: int = n, c: int = c) -> None:
                    r = run_send(prepared[n].db_path, workdir, sink, n, c, startup,
                                 args.timeout)
                    res.sends.append(r)
                    ok = r.sent_rows == n and r.sink_delta in (None, n)
                    src = res.source.get(c)
                    say(res, row(f"{n:,}", c, fmt(r.child.seconds), fmt(r.rate),
                                   fmt(r.send_seconds), fmt(r.send_rate), fmt(r.child.rss_mb),
                                   fmt(src) if src else "n/a",
                                   f"{r.sent_rows:,} rows sent, sink took "
                                   + (f"{r.sink_delta:,}" if r.sink_delta is not None else "?")
                                   + ("" if ok else " MISMATCH")))
                _timed(f"send N={n} c={c}", one)
        _timed("postgres sends", bench_postgres, res, args, workdir, sink, startup)
        say(res, "", "### Outbox steps (on a fresh outbox, in the benchmark process)", "",
             *table(["step", "time"]))
        for n in sizes:
            say(res, row(f"**N={n:,}**", ""))
            _timed(f"components N={n}", bench_components, res, prepared[n].db_path, workdir,
                   sink.port)
            say(res, row("bulk insert of the subscribers (Core executemany)",
                           f"{prepared[n].insert_seconds:.2f} s "
                           f"({n / max(prepared[n].insert_seconds, 1e-9):,.0f} rows/s)"))
        for n in big:
            copy = workdir / "outbox.db"
            measure.copy_database(Path(prepared[n].db_path), copy)
            res.outbox_seconds[("SQLite", n)] = measure.outbox_creation(
                measure.bench_settings(copy, workdir / "var", sink.port))
            copy.unlink()
            say(res, row(f"**N={n:,}**", ""), row("create outbox (INSERT…SELECT)",
                 f"{res.outbox_seconds[('SQLite', n)] * 1e3:,.0f} ms"))
        say(res, "", "### Where a send's time goes (in-process `send_issue`, first "
             f"{args.profile_messages:,} messages, outbox calls timed)", "",
             "Claims and group commits run in the worker threads, which also wait on each "
             "other for the writer lock, so the shares overlap: each is the total time inside "
             "the call, summed over workers, as a share of wall time.", "",
             *table(["subscribers", "connections", "sent", "seconds", "msg/s",
                      "in `outbox.claim`", "in group commits", "outcomes per commit"]))
        for n in sizes:
            for c in sorted({1, 4} & set(conns_for[n])):
                _timed(f"profile N={n} c={c}", bench_profile, res, prepared[n].db_path,
                       workdir, sink.port, n, c, min(n, args.profile_messages))
    judge(res, sizes)
    judge_scale(res, big[0] if big else None)
    say(res, "", "### Targets", "", *table(["target", "measured", "needed", "result"]))
    for name, got, need, ok in res.targets:
        say(res, row(name, got, need, "n/a" if ok is None else "PASS" if ok else "FAIL"))
    return res


def as_json(res: Results, header: list[str], seconds: float) -> dict[str, object]:
    """The run's sends, baselines and verdicts, for bench/targets.py."""
    def send(db: str, r: SendRun) -> dict[str, object]:
        return {"database": db, "subscribers": r.subscribers, "connections": r.connections,
                "wall_s": r.child.seconds, "rate": r.rate, "send_rate": r.send_rate,
                "rss_mb": r.child.rss_mb, "sent_rows": r.sent_rows, "sink_delta": r.sink_delta}
    return {"header": header, "seconds": seconds,
            "source": {str(c): rate for c, rate in res.source.items()},
            "sends": [send("sqlite", r) for r in res.sends]
            + [send("postgresql", r) for r in res.pg_sends],
            "outbox_seconds": [{"database": db, "subscribers": n, "seconds": t}
                               for (db, n), t in res.outbox_seconds.items()],
            "targets": [{"name": n, "measured": m, "needed": need, "ok": ok}
                        for n, m, need, ok in res.targets]}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the tables and update docs/performance.md."""
    args = parse_args(argv)
    started = time.perf_counter()
    header = machine()
    print("\n".join(header), flush=True)
    res = run(args)
    total = time.perf_counter() - started
    print(f"\nwhole benchmark: {total:,.0f} s", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(as_json(res, header, total), indent=1), encoding="utf-8")
    if not args.no_doc:
        write_doc(args.doc, ["", "_Generated by `bench/send.py`; do not edit by hand._", "",
                             *header, f"- whole benchmark: {total:,.0f} s", *res.lines, ""])
        print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One-click unsubscribes from many clients while `digest issue send` runs (SQLite, PostgreSQL).

Starts Postfix's smtp-sink, `digest serve` and, in the runs with one, a send of N subscribers
with C connections; once the send is under way it fires P RFC 8058 POSTs from K concurrent
keep-alive clients (a small asyncio HTTP/1.1 client) at subscribers the send has not reached.
It reports non-200 answers, "database is locked" in the server's log, latency percentiles,
whether every unsubscribe was committed, how many of those people were mailed after their
200 (outbox `sent_at` later than the answer), and the send's rate during the burst.

Each run has a fresh database: a SQLite file, or a scratch database on the PostgreSQL server
(dropped after the run). `--outbox-rows M` first gives it M outbox rows already sent for an
earlier issue (bench/burst_db.py), so the unsubscribe's UPDATE runs on a table of M + N rows;
`--stop-send-after-burst` stops the send (SIGTERM) once the burst is over, for a big N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

if __package__ in (None, ""):  # run as a script: make `bench` and `digest` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import burst_db, measure
from bench.import_csv import baseline_tree
from bench.report import REPO, machine, write_doc
from bench.send import child_env
from bench.sink import Sink, free_port
from digest.tokens import Purpose, Tokens

BODY = b"List-Unsubscribe=One-Click"
PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DOC = REPO / "docs" / "performance.md"
START, END = "<!-- burst:start -->", "<!-- burst:end -->"


def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x:.0f}"


def _rate(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


@dataclass(frozen=True)
class Burst:
    """What one run measured."""

    posts: int
    non_200: int
    locked: int
    latencies_ms: list[float]
    seconds: float
    not_committed: int
    mailed_after_200: int
    send_rate: float | None  # msg/s while the burst ran
    send_rate_overall: float | None  # None without a send, or when it was stopped
    outbox_rows_total: int = 0  # rows in the delivery table when the burst ended
    stopped: bool = False  # the send was stopped (SIGTERM) after the burst

    def stats(self) -> dict[str, Any]:
        """The figures of the table row and of the JSON run, percentiles derived here only."""
        lat = self.latencies_ms
        q = statistics.quantiles(lat, n=100) if len(lat) > 1 else lat * 99
        return {"posts": self.posts, "req_per_s": self.posts / self.seconds,
                "non_200": self.non_200, "locked": self.locked,
                "p50_ms": q[49] if q else None, "p95_ms": q[94] if q else None,
                "p99_ms": q[98] if q else None, "max_ms": max(lat) if lat else None,
                "not_committed": self.not_committed, "mailed_after_200": self.mailed_after_200,
                "send_rate_during": self.send_rate, "send_rate_overall": self.send_rate_overall,
                "outbox_rows_total": self.outbox_rows_total, "send_stopped": self.stopped}

    def line(self, label: str, database: str = "sqlite") -> str:
        """One markdown table row."""
        s = self.stats()
        return (f"| {label} | {database} | {s['posts']:,} | {s['req_per_s']:,.0f} | "
                f"{s['non_200']} | {s['locked']} | {_ms(s['p50_ms'])} / {_ms(s['p95_ms'])} / "
                f"{_ms(s['p99_ms'])} / {_ms(s['max_ms'])} | {s['not_committed']} | "
                f"{s['mailed_after_200']} | {_rate(s['send_rate_during'])} | "
                f"{_rate(s['send_rate_overall'])} |")


async def _client(port: int, paths: list[str], out: list[tuple[str, int, float, float]]
                  ) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for path in paths:
        began = time.time()
        try:
            writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: "
                         "application/x-www-form-urlencoded\r\nContent-Length: "
                         f"{len(BODY)}\r\n\r\n".encode("ascii") + BODY)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next((int(h.split(b":", 1)[1]) for h in head.split(b"\r\n")
                           if h.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
        except (ConnectionError, asyncio.IncompleteReadError):  # status 0: no answer
            status = 0
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        out.append((path, status, began, time.time()))
    writer.close()


def fire(port: int, paths: list[str], clients: int) -> tuple[list[tuple[str, int, float, float]],
                                                             float]:
    """POST every path, `clients` at a time; (path, status, sent, answered) and wall seconds."""
    out: list[tuple[str, int, float, float]] = []

    async def run() -> None:
        await asyncio.gather(*(_client(port, paths[i::clients], out) for i in range(clients)))

    began = time.monotonic()
    # Its own thread: the caller (a test after the browser tests) may have a loop running.
    worker = threading.Thread(target=asyncio.run, args=(run(),))
    worker.start()
    worker.join()
    return out, time.monotonic() - began


def _listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("digest serve exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("digest serve did not start")




def _last_line(log: Path) -> str:
    """The last line a child wrote to its log."""
    lines = log.read_text(errors="replace").strip().splitlines() or ["(no output)"]
    return lines[-1][:300]


def _ended(proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    """Raise if `proc` failed (exit code other than 0), with the last line of its log."""
    if proc.returncode not in (None, 0):
        raise RuntimeError(f"{what} exited {proc.returncode}: {_last_line(log)}")


def run_burst(workdir: Path, n: int, posts: int, clients: int, connections: int,
              send: bool, tree: Path | None = None, *, postgres: str | None = None,
              outbox_rows: int = 0, stop_after_burst: bool = False) -> Burst:
    """One run on a fresh database (see the module docstring): a SQLite file in `workdir`,
    or with `postgres` (a server URL) a scratch database there, dropped at the end. The
    server and the send run `tree`'s code if given (a baseline), else this checkout's."""
    with burst_db.database(workdir, postgres) as db, Sink(workdir) as sink:
        settings = measure.bench_settings(db, workdir / "var", sink.port)
        measure.prepare_database(db, n, settings)
        engine = burst_db.engine_for(db)
        try:
            burst_db.add_outbox(engine, outbox_rows)
            env = child_env(db, workdir, sink.port, connections)
            if tree is not None:
                env["PYTHONPATH"] = str(tree)
                if (label := burst_db.label_for(engine, tree)) is not None:
                    print(f"  (the baseline's schema is labelled {label}, its newest "
                          "migration: the newer ones add nullable columns and tables or "
                          "drop a redundant index)",
                          flush=True)
            return _measure(workdir, engine, env, Tokens(settings), n, posts, clients, send,
                            stop_after_burst)
        finally:
            engine.dispose()


def _measure(workdir: Path, engine: Engine, env: dict[str, str], tokens: Tokens,
             n: int, posts: int, clients: int, send: bool, stop_after_burst: bool) -> Burst:
    """Start the server (and the send), fire the burst, stop them, check the database."""
    issue = burst_db.issue_id(engine)
    port = free_port()
    env["DIGEST_SITE_URL"] = f"http://127.0.0.1:{port}"  # the only Host the app answers
    serve_log, send_log = workdir / "serve.log", workdir / "send.log"
    log = serve_log.open("wb")
    server = subprocess.Popen([sys.executable, "-m", "digest.cli", "serve", "--port",
                               str(port)], env=env, cwd=workdir, stdout=log,
                              stderr=subprocess.STDOUT)
    sender: subprocess.Popen[bytes] | None = None
    stopped = False
    try:
        try:
            _listening(port, server)
        except RuntimeError as exc:
            log.flush()
            raise RuntimeError(f"{exc}: {_last_line(serve_log)}") from None
        started = time.monotonic()
        if send:
            with send_log.open("wb") as out:
                sender = subprocess.Popen([sys.executable, "-m", "digest.cli", "issue", "send",
                                           measure.PERIOD], env=env, cwd=workdir, stdout=out,
                                          stderr=subprocess.STDOUT)
            while burst_db.sent(engine, issue) < n // 20 and sender.poll() is None:
                time.sleep(0.05)
            _ended(sender, send_log, "digest issue send")
        step = max(1, (n // 2) // posts)  # people the send has not reached yet
        ids = [n - i * step for i in range(posts)]
        paths = {f"/u/{tokens.make(Purpose.UNSUBSCRIBE, sid)}": sid for sid in ids}
        before, t0 = (burst_db.sent(engine, issue) if send else 0), time.time()
        answers, seconds = fire(port, list(paths), clients)
        during = (burst_db.sent(engine, issue) - before) / (time.time() - t0) if send else None
        total = burst_db.outbox_size(engine)
        if sender is not None:
            if stop_after_burst and sender.poll() is None:
                sender.send_signal(signal.SIGTERM)  # it ends its claims cleanly (exit 130)
                stopped = True
            sender.wait(timeout=3600)
            if not (stopped and sender.returncode == 130):
                _ended(sender, send_log, "digest issue send")
        overall = n / (time.monotonic() - started) if send and not stopped else None
    finally:
        for proc in (sender, server):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        log.close()
    answered = {paths[p]: done for p, status, _, done in answers if status == 200}
    not_committed, late = burst_db.outcome(engine, issue, ids, answered)
    server_text = serve_log.read_text(errors="replace")
    return Burst(len(answers), sum(1 for a in answers if a[1] != 200),
                 server_text.count("database is locked"),
                 [(done - sent) * 1000 for _, _, sent, done in answers], seconds,
                 not_committed, late, during, overall, total, stopped)


HEADER = ["| run | database | POSTs | req/s | non-200 | \"database is locked\" | latency ms "
          "p50 / p95 / p99 / max | not committed | mailed after their 200 | send msg/s during "
          "burst | send msg/s overall |", "| --- " * 11 + "|"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subscribers", type=int, default=100_000)
    p.add_argument("--posts", type=int, default=2_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--baseline", default="6fd8f32",
                   help="git revision whose server and send also run the burst, on every "
                   "selected database ('' skips)")
    p.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--postgres", default=PG_URL,
                   help="PostgreSQL server URL for scratch databases ('' skips PostgreSQL)")
    p.add_argument("--outbox-rows", type=int, default=0, metavar="M",
                   help="outbox rows already sent for an earlier issue, added before each run")
    p.add_argument("--stop-send-after-burst", action="store_true",
                   help="stop the send (SIGTERM) when the burst is over; no overall rate")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    p.add_argument("--doc", action="store_true",
                   help=f"write the section between the burst markers of {DOC.name}")
    return p


def _databases(args: argparse.Namespace, p: argparse.ArgumentParser) -> list[str]:
    """The databases to run on; PostgreSQL left out (one line) if skipped or absent."""
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    if "postgresql" not in kinds:
        return kinds
    why = "--postgres ''" if not args.postgres else None
    if why is None:
        scratch = measure.PostgresScratch(args.postgres)
        why = scratch.available()
        scratch.close()
    if why is None:
        return kinds
    if kinds == ["postgresql"]:
        p.error(f"PostgreSQL not available: {why}")
    print(f"PostgreSQL skipped: {why}", flush=True)
    return ["sqlite"]


def main(argv: list[str] | None = None) -> int:
    """Run the burst with and without a send, and a send without the burst, on each selected
    database; print the table (and write the JSON, the doc section, if asked)."""
    p = _parser()
    args = p.parse_args(argv)
    command = shlex.join(["bench/web_burst.py", *(sys.argv[1:] if argv is None else argv)])
    kinds = _databases(args, p)
    rows = list(HEADER)
    runs: list[dict[str, Any]] = []
    keep = Path(tempfile.mkdtemp(prefix="bench-burst-trees-"))
    plan: list[tuple[str, bool, int, Path | None]] = [
        ("burst, no send", False, args.posts, None),
        ("burst during a send", True, args.posts, None),
        ("send, a token burst of 1 POST", True, 1, None)]
    if args.baseline:
        old = baseline_tree(args.baseline, keep)
        plan += [(f"baseline {args.baseline}: burst, no send", False, args.posts, old),
                 (f"baseline {args.baseline}: burst during a send", True, args.posts, old)]
    try:
        for kind in kinds:
            for label, send, posts, tree in plan:
                record: dict[str, Any] = {"database": kind, "label": label, "send": send,
                                          "baseline": args.baseline if tree else None}
                workdir = Path(tempfile.mkdtemp(prefix="bench-burst-"))
                try:
                    got = run_burst(workdir, args.subscribers, posts,
                                    args.clients if posts > 1 else 1, args.connections, send,
                                    tree, postgres=args.postgres if kind == "postgresql" else None,
                                    outbox_rows=args.outbox_rows,
                                    stop_after_burst=args.stop_send_after_burst)
                except Exception as exc:  # a baseline that cannot run this: one line, a row
                    if tree is None:
                        raise
                    error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                    print(f"{label} on {kind} failed: {error}", flush=True)
                    runs.append({**record, **dict.fromkeys(Burst(0, 0, 0, [], 1, 0, 0, None,
                                                                 None).stats()),
                                 "posts": posts, "error": error})
                    rows.append(f"| {label} | {kind} | {posts:,} | failed: {error} |"
                                + " – |" * 7)
                    continue
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
                runs.append({**record, **got.stats(), "error": None})
                rows.append(got.line(label, kind))
                print(rows[-1], flush=True)
    finally:
        shutil.rmtree(keep, ignore_errors=True)
    about = (f"- command: `{command}`; {args.subscribers:,} subscribers, "
             f"{args.outbox_rows:,} earlier outbox rows, {args.clients} clients, "
             f"{args.connections} connections; {', '.join(kinds)}; {os.cpu_count()} cores; "
             "machines vary from day to day: compare rows of this run only")
    print(f"\n{about}\n")
    print("\n".join(rows))
    if args.json is not None:
        args.json.write_text(json.dumps({
            "command": command, "subscribers": args.subscribers, "posts": args.posts,
            "clients": args.clients, "connections": args.connections,
            "outbox_rows": args.outbox_rows, "runs": runs}, indent=2) + "\n", encoding="utf-8")
    if args.doc:
        lines = [m for m in machine() if not m.startswith("- command")]
        write_doc(DOC, ["", about, *lines, "", *rows, ""], (START, END))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

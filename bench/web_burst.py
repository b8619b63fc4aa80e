"""One-click unsubscribes from many clients while `digest issue send` runs (SQLite).

Starts Postfix's smtp-sink, `digest serve` and, unless `--no-send`, a send of N subscribers
with C connections; once the send is under way it fires P RFC 8058 POSTs from K concurrent
keep-alive clients (a small asyncio HTTP/1.1 client) at subscribers the send has not reached.
It reports non-200 answers, "database is locked" in the server's log, latency percentiles,
whether every unsubscribe was committed, how many of those people were mailed after their
200 (outbox `sent_at` later than the answer), and the send's rate during the burst.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `digest` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import measure
from bench.import_csv import baseline_tree
from bench.send import child_env
from bench.sink import Sink, free_port
from digest.tokens import Purpose, Tokens

BODY = b"List-Unsubscribe=One-Click"


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
    send_rate_overall: float | None

    def line(self, label: str) -> str:
        """One markdown table row."""
        q = (statistics.quantiles(self.latencies_ms, n=100) if len(self.latencies_ms) > 1
             else self.latencies_ms * 99)
        rate = "–" if self.send_rate is None else f"{self.send_rate:,.0f}"
        whole = "–" if self.send_rate_overall is None else f"{self.send_rate_overall:,.0f}"
        return (f"| {label} | {self.posts:,} | {self.posts / self.seconds:,.0f} | {self.non_200} |"
                f" {self.locked} | {q[49]:.0f} / {q[94]:.0f} / {q[98]:.0f} / "
                f"{max(self.latencies_ms):.0f} | {self.not_committed} | {self.mailed_after_200} |"
                f" {rate} | {whole} |")


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


def _sent(db: Path) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM delivery WHERE state = 'sent'")
                   .fetchone()[0])


def run_burst(workdir: Path, n: int, posts: int, clients: int, connections: int,
              send: bool, tree: Path | None = None) -> Burst:
    """One run on a fresh SQLite database in `workdir` (see the module docstring); the
    server and the send run `tree`'s code if given (a baseline), else this checkout's."""
    db = workdir / "digest.db"
    with Sink(workdir) as sink:
        settings = measure.bench_settings(db, workdir / "var", sink.port)
        measure.prepare_database(db, n, settings)
        env = child_env(db, workdir, sink.port, connections)
        if tree is not None:
            env["PYTHONPATH"] = str(tree)
        port = free_port()
        env["DIGEST_SITE_URL"] = f"http://127.0.0.1:{port}"  # the only Host the app answers
        log = (workdir / "serve.log").open("wb")
        server = subprocess.Popen([sys.executable, "-m", "digest.cli", "serve", "--port",
                                   str(port)], env=env, cwd=workdir, stdout=log,
                                  stderr=subprocess.STDOUT)
        sender: subprocess.Popen[bytes] | None = None
        try:
            _listening(port, server)
            started = time.monotonic()
            if send:
                sender = subprocess.Popen([sys.executable, "-m", "digest.cli", "issue", "send",
                                           measure.PERIOD], env=env, cwd=workdir,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
                while _sent(db) < n // 20 and sender.poll() is None:
                    time.sleep(0.05)
            tokens = Tokens(settings)
            step = max(1, (n // 2) // posts)  # people the send has not reached yet
            ids = [n - i * step for i in range(posts)]
            paths = {f"/u/{tokens.make(Purpose.UNSUBSCRIBE, sid)}": sid for sid in ids}
            before, t0 = (_sent(db) if send else 0), time.time()
            answers, seconds = fire(port, list(paths), clients)
            during = (_sent(db) - before) / (time.time() - t0) if send else None
            if sender is not None:
                sender.wait(timeout=3600)
            overall = n / (time.monotonic() - started) if send else None
        finally:
            for proc in (sender, server):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=30)
            log.close()
    answered = {paths[p]: done for p, status, _, done in answers if status == 200}
    with sqlite3.connect(db) as conn:
        gone = {sid for (sid,) in conn.execute(
            "SELECT id FROM subscriber WHERE state = 'unsubscribed'")}
        sent_at = dict(conn.execute(
            f"SELECT subscriber_id, sent_at FROM delivery WHERE state = 'sent' AND "
            f"subscriber_id IN ({','.join(map(str, ids))})").fetchall())
    late = sum(1 for sid, when in sent_at.items() if sid in answered and when is not None
               and datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp() > answered[sid])
    server_log = (workdir / "serve.log").read_text(errors="replace")
    return Burst(len(answers), sum(1 for a in answers if a[1] != 200),
                 server_log.count("database is locked"),
                 [(done - sent) * 1000 for _, _, sent, done in answers], seconds,
                 len(set(ids) - gone), late, during, overall)


HEADER = ["| run | POSTs | req/s | non-200 | \"database is locked\" | latency ms p50 / p95 / "
          "p99 / max | not committed | mailed after their 200 | send msg/s during burst | "
          "send msg/s overall |", "| --- " * 10 + "|"]


def main(argv: list[str] | None = None) -> int:
    """Run the burst with and without a send, and a send without the burst; print the table."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--subscribers", type=int, default=100_000)
    p.add_argument("--posts", type=int, default=2_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--baseline", default="6fd8f32",
                   help="git revision whose server and send also run the burst ('' skips)")
    args = p.parse_args(argv)
    rows = list(HEADER)
    keep = Path(tempfile.mkdtemp(prefix="bench-burst-trees-"))
    runs: list[tuple[str, bool, int, Path | None]] = [
        ("burst, no send", False, args.posts, None),
        ("burst during a send", True, args.posts, None),
        ("send, a token burst of 1 POST", True, 1, None)]
    if args.baseline:
        old = baseline_tree(args.baseline, keep)
        runs += [(f"baseline {args.baseline}: burst, no send", False, args.posts, old),
                 (f"baseline {args.baseline}: burst during a send", True, args.posts, old)]
    for label, send, posts, tree in runs:
        workdir = Path(tempfile.mkdtemp(prefix="bench-burst-"))
        try:
            got = run_burst(workdir, args.subscribers, posts, args.clients if posts > 1 else 1,
                            args.connections, send, tree)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        rows.append(got.line(label))
        print(rows[-1], flush=True)
    print(f"\n- command: `bench/web_burst.py {' '.join(argv or sys.argv[1:])}`; SQLite; "
          f"{os.cpu_count()} cores shared with other work: compare rows of this run only\n")
    print("\n".join(rows))
    shutil.rmtree(keep, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

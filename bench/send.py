"""Send benchmark: `digest issue send` into a loopback SMTP sink, against baselines.

Run from the repository root:  .venv/bin/python bench/send.py  (see docs/performance.md).
Each measured send is its own child process, so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import platform
import re
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `digest` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import measure
from bench.sink import ChildResult, Sink, run_child, smtp_source, smtp_source_command
from digest.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "performance.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
ASSEMBLY_TARGET = 50_000  # messages/s on one core
SINK_SHARE_TARGET = 0.5  # of smtp-source's messages/s with the same number of connections
RSS_GROWTH_TARGET = 1.2  # peak RSS at the largest N within 20% of the smallest N
RSS_LIMIT_MB = 150.0


@dataclass
class SendRun:
    """One measured `digest issue send` child process."""

    subscribers: int
    connections: int
    child: ChildResult
    startup: float
    sent_rows: int
    sink_delta: int | None

    @property
    def rate(self) -> float:
        """Messages per second from spawn to exit."""
        return self.subscribers / self.child.seconds

    @property
    def send_seconds(self) -> float:
        """Wall time less the startup of a send with nothing due."""
        return max(self.child.seconds - self.startup, 1e-9)

    @property
    def send_rate(self) -> float:
        """Messages per second of the send phase."""
        return self.subscribers / self.send_seconds


@dataclass
class Results:
    """Everything one benchmark run measured."""

    sink: str = ""
    message_bytes: int = 0
    lines: list[str] = field(default_factory=list)  # markdown, in order
    source: dict[int, float] = field(default_factory=dict)  # sessions -> msg/s
    assembly: dict[int, float] = field(default_factory=dict)  # N -> msg/s
    sends: list[SendRun] = field(default_factory=list)
    targets: list[tuple[str, str, str, bool | None]] = field(default_factory=list)


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
    p.add_argument("--connections-large", type=_ints, default=[1, 4],
                   help="SMTP connections for sends at N > 10000 (default: 1,4)")
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
    p.add_argument("--postgres-connections", type=_ints, default=[1, 4],
                   help="connection counts sent with PostgreSQL")
    p.add_argument("--doc", type=Path, default=DOC, help="markdown file to update")
    p.add_argument("--no-doc", action="store_true", help="print only; leave the doc alone")
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
    for mods in ("digest.cli", "digest.deliver, digest.smtp", "sqlmodel"):
        out.append((mods, run_child([sys.executable, "-c", f"import {mods}"],
                                    env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)))
    return out


def bench_postgres(res: Results, args: argparse.Namespace, workdir: Path, sink: Sink,
                   startup: float) -> None:
    """The same sends with the outbox on PostgreSQL (scratch databases, dropped after)."""
    _say(res, "", "### `digest issue send` (child process, PostgreSQL, into the sink)", "")
    if not args.postgres:
        _say(res, "Not measured (`--postgres ''`).")
        return
    pg = measure.PostgresScratch(args.postgres)
    why = pg.available()
    if why is not None:
        _say(res, f"Not measured: no PostgreSQL server at `{args.postgres}` ({why}); "
             "start one or pass `--postgres URL`.")
        return
    _say(res, f"Server: PostgreSQL {pg.version()}, on this machine over TCP; a fresh database "
         "(`CREATE DATABASE … TEMPLATE`) per send. Send phase uses the SQLite startup above.",
         "", *_table(["subscribers", "connections", "wall s", "msg/s (wall)",
                      "msg/s (send phase)", "peak RSS MB", "SQLite msg/s (wall), same N and "
                      "conns", "checked"]))
    sqlite = {(r.subscribers, r.connections): r.rate for r in res.sends}
    try:
        for n in args.postgres_subscribers:
            template = f"digest_bench_template_{n}"
            url = pg.create(template)
            measure.prepare_database(url, n, measure.bench_settings(url, workdir / "var",
                                                                    sink.port))
            for c in args.postgres_connections:
                run_dir = Path(tempfile.mkdtemp(prefix=f"pg-{n}-{c}-", dir=workdir))
                db = pg.create("digest_bench_run", template=template)
                r = measured_send(db, run_dir, sink, n, c, startup, args.timeout)
                pg.drop("digest_bench_run")
                shutil.rmtree(run_dir)
                ok = r.sent_rows == n and r.sink_delta in (None, n)
                same = sqlite.get((n, c))
                _say(res, _row(f"{n:,}", c, _f(r.child.seconds), _f(r.rate), _f(r.send_rate),
                               _f(r.child.rss_mb), _f(same) if same else "n/a",
                               f"{r.sent_rows:,} rows sent, sink took "
                               + (f"{r.sink_delta:,}" if r.sink_delta is not None else "?")
                               + ("" if ok else " MISMATCH")))
    finally:
        pg.close()


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(head: list[str]) -> list[str]:
    return [_row(*head), _row(*["---"] * len(head))]


def _f(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}" if x >= 10 else f"{x:,.2f}"


def _say(res: Results, *lines: str) -> None:
    for line in lines:
        print(line, flush=True)
        res.lines.append(line)


REPEATS = 3  # runs of each SMTP-only row and of the assembly row; the median is reported


def _median_run(fn: Callable[[], float]) -> tuple[float, str]:
    """Median seconds of REPEATS runs, and their range for the report."""
    runs = sorted(fn() for _ in range(REPEATS))
    return statistics.median(runs), f"{runs[0]:.2f}–{runs[-1]:.2f} s"


def bench_sources(res: Results, sink: Sink, sessions: list[int], messages: int) -> None:
    """Postfix smtp-source with each session count, messages as large as ours."""
    _say(res, "", f"### SMTP clients into the sink (no database; median of {REPEATS} runs)", "",
         *_table(["client", "connections", "messages", "seconds (range)", "msg/s",
                  "peak RSS MB"]))
    for s in sessions:
        runs = [smtp_source(sink.port, s, messages, res.message_bytes) for _ in range(REPEATS)]
        ok = [r for r in runs if r is not None and r.returncode == 0]
        if len(ok) < REPEATS:
            _say(res, _row(f"smtp-source -s {s}", s, messages, "failed", "n/a", "n/a"))
            continue
        seconds = statistics.median(r.seconds for r in ok)
        spread = f"{min(r.seconds for r in ok):.2f}–{max(r.seconds for r in ok):.2f} s"
        res.source[s] = messages / seconds
        cmd = smtp_source_command(sink.port, s, messages, res.message_bytes)
        _say(res, _row(f"Postfix `{cmd.replace(f'127.0.0.1:{sink.port}', '127.0.0.1:PORT')}`",
                       s, messages, f"{_f(seconds)} ({spread})", _f(res.source[s]),
                       _f(max(r.rss_mb for r in ok))))


def bench_clients(res: Results, settings_: Settings, args: argparse.Namespace,
                  connections: list[int]) -> None:
    """Python clients into the same sink: naive smtplib, smtplib and aiosmtplib with our
    bytes, ours alone."""
    variants = measure.stored_variants(settings_)
    rcpts = measure.recipients(settings_)
    n = min(args.smtplib_messages, len(rcpts))
    seconds = measure.smtplib_naive_loop(settings_, variants, rcpts[:n])
    _say(res, _row("smtplib `send_message` of an EmailMessage built per message (1 run)",
                   1, n, _f(seconds), _f(n / seconds), "-"))
    templates = measure.templates_for(settings_, variants)
    prebuilt = [templates[lang].build(r) for lang, r in rcpts[:600]]
    count = args.client_messages
    seconds, spread = _median_run(
        functools.partial(measure.smtplib_prebuilt_loop, settings_, prebuilt, count))
    _say(res, _row("smtplib `sendmail` of our prebuilt bytes", 1, count,
                   f"{_f(seconds)} ({spread})", _f(count / seconds), "-"))
    clients = [
        ("aiosmtplib `sendmail` of our prebuilt bytes, an asyncio task per connection",
         measure.aiosmtplib_clients),
        ("digest `SMTPTransport` alone, prebuilt wire bytes, a thread per connection",
         measure.transport_only),
    ]
    for label, client in clients:
        for c in connections:
            seconds, spread = _median_run(
                functools.partial(client, settings_, prebuilt, count, c))
            _say(res, _row(label, c, count, f"{_f(seconds)} ({spread})",
                           _f(count / seconds), "-"))


def bench_assembly(res: Results, settings_: Settings, prepared: measure.Prepared,
                   naive_n: int) -> None:
    """MessageTemplate.build over N recipients, and the EmailMessage way over a few hundred."""
    variants = measure.stored_variants(settings_)
    templates = measure.templates_for(settings_, variants)
    rcpts = measure.recipients(settings_)
    runs = sorted(measure.assembly(templates, rcpts) for _ in range(REPEATS))
    seconds = statistics.median(runs)
    res.assembly[prepared.subscribers] = len(rcpts) / seconds
    spread = "–".join(f"{r / len(rcpts) * 1e6:.1f}" for r in (runs[0], runs[-1]))
    _say(res, _row(f"`MessageTemplate.build` (splice; median of {REPEATS} runs, "
                   f"{spread} µs/message)",
                   f"{len(rcpts):,}", _f(seconds),
                   _f(len(rcpts) / seconds), f"{seconds / len(rcpts) * 1e6:.1f}"))
    ids = [r.subscriber_id for _, r in rcpts]
    current, once = measure.token_costs(settings_, ids)
    _say(res, _row("of which: the two `Tokens.make` calls per message", f"{len(ids):,}",
                   _f(current), _f(len(ids) / current), f"{current / len(ids) * 1e6:.1f}"),
         _row("(same two tokens with the signing key derived once; bench-only code)",
              f"{len(ids):,}", _f(once), _f(len(ids) / once), f"{once / len(ids) * 1e6:.1f}"))
    k = min(naive_n, len(rcpts))
    seconds = measure.naive_assembly(settings_, variants, rcpts[:k])
    _say(res, _row("`EmailMessage` + `as_bytes` per message (naive; timed over "
                   f"{k}, extrapolated)", f"{len(rcpts):,}", _f(seconds / k * len(rcpts)),
                   _f(k / seconds), f"{seconds / k * 1e6:,.0f}"))


def bench_components(res: Results, template: Path, workdir: Path, port: int) -> None:
    """Outbox steps timed on a scratch copy of the database."""
    scratch = workdir / "components.db"
    measure.copy_database(template, scratch)
    c = measure.components(measure.bench_settings(scratch, workdir / "var", port))
    scratch.unlink()
    groups = ", ".join(f"group of {g}: {ms:.2f} ms" for g, ms in c.record_ms.items())
    _say(res, _row("create outbox (INSERT…SELECT)",
                   f"{c.create_seconds * 1e3:,.0f} ms"),
         _row(f"`outbox.claim` of {c.claim_batch} rows, fresh outbox",
              f"{c.claim_ms:.2f} ms ({c.claim_ms / c.claim_batch * 1e3:,.0f} µs/row)"),
         _row(f"`outbox.claim` of {c.claim_batch} rows, 90% of the outbox sent",
              f"{c.claim_late_ms:.2f} ms ({c.claim_late_ms / c.claim_batch * 1e3:,.0f} µs/row)"),
         _row("SQLite plan of the claim's SELECT", f"`{c.claim_plan}`"),
         _row("`OutcomeWriter.write` per commit", groups))


def bench_profile(res: Results, template: Path, workdir: Path, port: int, n: int,
                  connections: int, limit: int) -> None:
    """An in-process send of the first `limit` messages with claims and group commits timed."""
    db = workdir / "profile.db"
    measure.copy_database(template, db)
    p = measure.profile_send(measure.bench_settings(db, workdir / "var", port), connections,
                             limit)
    db.unlink()
    claims, claim_s = p.calls["claim"]
    commits, record_s = p.calls["record"]
    _say(res, _row(f"{n:,}", connections, f"{p.sent:,}", _f(p.seconds), _f(p.sent / p.seconds),
                   f"{claims:,} × {claim_s / max(claims, 1) * 1e3:.2f} ms = "
                   f"{claim_s / p.seconds:.0%}",
                   f"{commits:,} × {record_s / max(commits, 1) * 1e3:.2f} ms = "
                   f"{record_s / p.seconds:.0%}", f"{p.sent / max(commits, 1):.1f}"))


def judge(res: Results, sizes: list[int]) -> None:
    """PASS/FAIL against the issue's targets."""
    for n, rate in res.assembly.items():
        res.targets.append((f"assembly ≥ {ASSEMBLY_TARGET:,} msg/s (N={n:,})", _f(rate),
                            f"≥ {ASSEMBLY_TARGET:,}", rate >= ASSEMBLY_TARGET))
    for run in res.sends:
        src = res.source.get(run.connections)
        need = f"≥ {_f(SINK_SHARE_TARGET * src)}" if src else "n/a"
        res.targets.append((
            f"send ≥ ½ smtp-source, N={run.subscribers:,}, {run.connections} conn",
            f"{_f(run.rate)} (send phase {_f(run.send_rate)})", need,
            run.rate >= SINK_SHARE_TARGET * src if src else None))
    small, large = min(sizes), max(sizes)
    if small == large:
        return
    by = {(r.subscribers, r.connections): r.child.rss_mb for r in res.sends}
    for c in sorted({c for n, c in by if n == small} & {c for n, c in by if n == large}):
        a, b = by[(small, c)], by[(large, c)]
        res.targets.append((f"peak RSS N={large:,} within 20% of N={small:,}, {c} conn",
                            f"{b:.0f} MB vs {a:.0f} MB ({(b / a - 1) * 100:+.0f}%)",
                            "≤ +20%", b <= RSS_GROWTH_TARGET * a))
        res.targets.append((f"peak RSS N={large:,} < {RSS_LIMIT_MB:.0f} MB, {c} conn",
                            f"{b:.0f} MB", f"< {RSS_LIMIT_MB:.0f}", b < RSS_LIMIT_MB))


def machine() -> list[str]:
    """Date, machine, Python and code version for the report."""
    cpu = "unknown"
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = found.group(1) if found else cpu
    except OSError:
        pass
    mem = ""
    try:
        kb = int(re.findall(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[0])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, IndexError):
        pass
    nproc = len(os.sched_getaffinity(0))
    loop_ns, mac_us = measure.machine_speed()
    postfix = _quiet(["postconf", "-d", "-h", "mail_version"])
    commit = _quiet(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = _quiet(["git", "--no-optional-locks", "-C", str(REPO), "status", "--porcelain",
                    "--untracked-files=no", "--", "digest"])
    tree = hashlib.sha256()
    for path in sorted((REPO / "digest").rglob("*.py")):
        tree.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- command: `{shlex.join(getattr(sys, 'orig_argv', sys.argv))}`",
        f"- machine: nproc {nproc}, {cpu}{mem}, Linux {platform.release()}",
        f"- Python {platform.python_version()}; Postfix {postfix or 'not installed'}; "
        f"SQLite {sqlite3.sqlite_version}",
        f"- speed (fixed work, to compare machines): a pure-Python loop {loop_ns:.0f} ns per "
        f"iteration, HMAC-SHA1 of 5 bytes {mac_us:.2f} µs",
        f"- code: {commit or '?'}" + (" with uncommitted changes in digest/" if dirty else "")
        + f"; sha256 of digest/**/*.py {tree.hexdigest()[:12]}",
    ]


def _quiet(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def write_doc(path: Path, section: list[str]) -> None:
    """Replace the generated section between the markers; the prose around it stays."""
    body = "\n".join([START, *section, END])
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + body + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text, encoding="utf-8")


def _timed(label: str, fn: Callable[..., None], *fn_args: object) -> None:
    start = time.perf_counter()
    fn(*fn_args)
    print(f"  [{label}: {time.perf_counter() - start:,.1f} s]", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> Results:
    """The whole benchmark, in one sink's lifetime."""
    res = Results()
    sizes = sorted(args.subscribers)
    conns_for = {n: args.connections if n <= 10_000 else args.connections_large for n in sizes}
    all_conns = sorted({c for cs in conns_for.values() for c in cs})
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp, Sink(Path(tmp)) as sink:
        workdir = Path(tmp)
        res.sink = sink.kind
        prepared: dict[int, measure.Prepared] = {}
        for n in sizes:
            db = workdir / f"template-{n}.db"
            prepared[n] = measure.prepare_database(
                db, n, measure.bench_settings(db, workdir / "var", sink.port))
        first = prepared[sizes[0]]
        first_settings = measure.bench_settings(first.db_path, workdir / "var", sink.port)
        templates = measure.templates_for(first_settings, measure.stored_variants(first_settings))
        res.message_bytes = measure.mean_wire_size(templates, first.mix)
        _say(res, "", f"Sink: {res.sink}. Issue: {first.plan_message}. Mean message "
             f"{res.message_bytes:,} bytes on the wire over the cy/en/both mix.")
        _say(res, "", "### Message assembly (one core, in the benchmark process)", "",
             *_table(["builder", "messages", "seconds", "msg/s", "µs/message"]))
        for n in sizes:
            s = measure.bench_settings(prepared[n].db_path, workdir / "var", sink.port)
            _timed(f"assembly N={n}", bench_assembly, res, s, prepared[n], args.naive_messages)
        _timed("smtp-source", bench_sources, res, sink, all_conns, args.source_messages)
        _timed("python clients", bench_clients, res, first_settings, args, all_conns)
        startup, startup_rss = startup_time(workdir, sink)
        imports = "; ".join(f"`import {m}` {r.seconds:.2f} s, {r.rss_mb:.0f} MB"
                            for m, r in import_footprint())
        _say(res, "", "### `digest issue send` (child process, SQLite, into the sink)", "",
             f"Startup of a send with nothing due (0 subscribers; median of 3): "
             f"{startup:.2f} s, peak RSS {startup_rss:.0f} MB. "
             "Send phase = wall time − that startup. "
             f"Imports alone (wall, peak RSS): {imports}.", "",
             *_table(["subscribers", "connections", "wall s", "msg/s (wall)", "send phase s",
                      "msg/s (send phase)", "peak RSS MB", "smtp-source msg/s, same conns",
                      "checked"]))
        for n in sizes:
            for c in conns_for[n]:
                def one(n: int = n, c: int = c) -> None:
                    r = run_send(prepared[n].db_path, workdir, sink, n, c, startup,
                                 args.timeout)
                    res.sends.append(r)
                    ok = r.sent_rows == n and r.sink_delta in (None, n)
                    src = res.source.get(c)
                    _say(res, _row(f"{n:,}", c, _f(r.child.seconds), _f(r.rate),
                                   _f(r.send_seconds), _f(r.send_rate), _f(r.child.rss_mb),
                                   _f(src) if src else "n/a",
                                   f"{r.sent_rows:,} rows sent, sink took "
                                   + (f"{r.sink_delta:,}" if r.sink_delta is not None else "?")
                                   + ("" if ok else " MISMATCH")))
                _timed(f"send N={n} c={c}", one)
        _timed("postgres sends", bench_postgres, res, args, workdir, sink, startup)
        _say(res, "", "### Outbox steps (on a fresh outbox, in the benchmark process)", "",
             *_table(["step", "time"]))
        for n in sizes:
            _say(res, _row(f"**N={n:,}**", ""))
            _timed(f"components N={n}", bench_components, res, prepared[n].db_path, workdir,
                   sink.port)
            _say(res, _row("bulk insert of the subscribers (Core executemany)",
                           f"{prepared[n].insert_seconds:.2f} s "
                           f"({n / max(prepared[n].insert_seconds, 1e-9):,.0f} rows/s)"))
        _say(res, "", "### Where a send's time goes (in-process `send_issue`, first "
             f"{args.profile_messages:,} messages, outbox calls timed)", "",
             "Claims and group commits run in the worker threads, which also wait on each "
             "other for the writer lock, so the shares overlap: each is the total time inside "
             "the call, summed over workers, as a share of wall time.", "",
             *_table(["subscribers", "connections", "sent", "seconds", "msg/s",
                      "in `outbox.claim`", "in group commits", "outcomes per commit"]))
        for n in sizes:
            for c in sorted({1, 4} & set(conns_for[n])):
                _timed(f"profile N={n} c={c}", bench_profile, res, prepared[n].db_path,
                       workdir, sink.port, n, c, min(n, args.profile_messages))
    judge(res, sizes)
    _say(res, "", "### Targets", "", *_table(["target", "measured", "needed", "result"]))
    for name, got, need, ok in res.targets:
        _say(res, _row(name, got, need, "n/a" if ok is None else "PASS" if ok else "FAIL"))
    return res


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the tables and update docs/performance.md."""
    args = parse_args(argv)
    started = time.perf_counter()
    header = machine()
    print("\n".join(header), flush=True)
    res = run(args)
    total = time.perf_counter() - started
    print(f"\nwhole benchmark: {total:,.0f} s", flush=True)
    if not args.no_doc:
        write_doc(args.doc, ["", "_Generated by `bench/send.py`; do not edit by hand._", "",
                             *header, f"- whole benchmark: {total:,.0f} s", *res.lines, ""])
        print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

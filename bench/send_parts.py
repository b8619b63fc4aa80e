"""The send benchmark's in-process parts: smtp-source and the Python clients into the sink,
message assembly, the outbox steps and the profiled send (the child sends are in send.py)."""

from __future__ import annotations

import argparse
import functools
import statistics
from collections.abc import Callable
from pathlib import Path

from bench import baselines, measure
from bench.report import Results, fmt, row, say, table
from bench.sink import Sink, smtp_source, smtp_source_command
from digest.settings import Settings

REPEATS = 3  # runs of each SMTP-only row and of the assembly row; the median is reported


def _median_run(fn: Callable[[], float]) -> tuple[float, str]:
    """Median seconds of REPEATS runs, and their range for the report."""
    runs = sorted(fn() for _ in range(REPEATS))
    return statistics.median(runs), f"{runs[0]:.2f}–{runs[-1]:.2f} s"


def bench_sources(res: Results, sink: Sink, sessions: list[int], messages: int) -> None:
    """Postfix smtp-source with each session count, messages as large as ours."""
    say(res, "", f"### SMTP clients into the sink (no database; median of {REPEATS} runs)", "",
         *table(["client", "connections", "messages", "seconds (range)", "msg/s",
                  "peak RSS MB"]))
    for s in sessions:
        runs = [smtp_source(sink.port, s, messages, res.message_bytes) for _ in range(REPEATS)]
        ok = [r for r in runs if r is not None and r.returncode == 0]
        if len(ok) < REPEATS:
            say(res, row(f"smtp-source -s {s}", s, messages, "failed", "n/a", "n/a"))
            continue
        seconds = statistics.median(r.seconds for r in ok)
        spread = f"{min(r.seconds for r in ok):.2f}–{max(r.seconds for r in ok):.2f} s"
        res.source[s] = messages / seconds
        cmd = smtp_source_command(sink.port, s, messages, res.message_bytes)
        say(res, row(f"Postfix `{cmd.replace(f'127.0.0.1:{sink.port}', '127.0.0.1:PORT')}`",
                       s, messages, f"{fmt(seconds)} ({spread})", fmt(res.source[s]),
                       fmt(max(r.rss_mb for r in ok))))


def bench_clients(res: Results, settings_: Settings, args: argparse.Namespace,
                  connections: list[int]) -> None:
    """Python clients into the same sink: naive smtplib, smtplib and aiosmtplib with our
    bytes, ours alone."""
    variants = measure.stored_variants(settings_)
    rcpts = measure.recipients(settings_)
    n = min(args.smtplib_messages, len(rcpts))
    seconds = baselines.smtplib_naive_loop(settings_, variants, rcpts[:n])
    say(res, row("smtplib `send_message` of an EmailMessage built per message (1 run)",
                   1, n, fmt(seconds), fmt(n / seconds), "-"))
    templates = measure.templates_for(settings_, variants)
    prebuilt = [templates[lang].build(r) for lang, r in rcpts[:600]]
    count = args.client_messages
    seconds, spread = _median_run(
        functools.partial(baselines.smtplib_prebuilt_loop, settings_, prebuilt, count))
    say(res, row("smtplib `sendmail` of our prebuilt bytes", 1, count,
                   f"{fmt(seconds)} ({spread})", fmt(count / seconds), "-"))
    clients = [
        ("aiosmtplib `sendmail` of our prebuilt bytes, an asyncio task per connection",
         baselines.aiosmtplib_clients),
        ("digest `SMTPTransport` alone, prebuilt wire bytes, a thread per connection",
         baselines.transport_only),
    ]
    for label, client in clients:
        for c in connections:
            seconds, spread = _median_run(
                functools.partial(client, settings_, prebuilt, count, c))
            say(res, row(label, c, count, f"{fmt(seconds)} ({spread})",
                           fmt(count / seconds), "-"))


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
    say(res, row(f"`MessageTemplate.build` (splice; median of {REPEATS} runs, "
                   f"{spread} µs/message)",
                   f"{len(rcpts):,}", fmt(seconds),
                   fmt(len(rcpts) / seconds), f"{seconds / len(rcpts) * 1e6:.1f}"))
    ids = [r.subscriber_id for _, r in rcpts]
    current, once = measure.token_costs(settings_, ids)
    say(res, row("of which: the two `Tokens.make` calls per message", f"{len(ids):,}",
                   fmt(current), fmt(len(ids) / current), f"{current / len(ids) * 1e6:.1f}"),
         row("(same two tokens with the signing key derived once; bench-only code)",
              f"{len(ids):,}", fmt(once), fmt(len(ids) / once), f"{once / len(ids) * 1e6:.1f}"))
    k = min(naive_n, len(rcpts))
    seconds = baselines.naive_assembly(settings_, variants, rcpts[:k])
    say(res, row("`EmailMessage` + `as_bytes` per message (naive; timed over "
                   f"{k}, extrapolated)", f"{len(rcpts):,}", fmt(seconds / k * len(rcpts)),
                   fmt(k / seconds), f"{seconds / k * 1e6:,.0f}"))


def bench_components(res: Results, template: Path, workdir: Path, port: int) -> None:
    """Outbox steps timed on a scratch copy of the database."""
    scratch = workdir / "components.db"
    measure.copy_database(template, scratch)
    c = measure.components(measure.bench_settings(scratch, workdir / "var", port))
    scratch.unlink()
    groups = ", ".join(f"group of {g}: {ms:.2f} ms" for g, ms in c.record_ms.items())
    say(res, row("create outbox (INSERT…SELECT)",
                   f"{c.create_seconds * 1e3:,.0f} ms"),
         row(f"`outbox.claim` of {c.claim_batch} rows, fresh outbox",
              f"{c.claim_ms:.2f} ms ({c.claim_ms / c.claim_batch * 1e3:,.0f} µs/row)"),
         row(f"`outbox.claim` of {c.claim_batch} rows, 90% of the outbox sent",
              f"{c.claim_late_ms:.2f} ms ({c.claim_late_ms / c.claim_batch * 1e3:,.0f} µs/row)"),
         row("SQLite plan of the claim's SELECT", f"`{c.claim_plan}`"),
         row("`OutcomeWriter.write` per commit", groups))


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
    say(res, row(f"{n:,}", connections, f"{p.sent:,}", fmt(p.seconds), fmt(p.sent / p.seconds),
                   f"{claims:,} × {claim_s / max(claims, 1) * 1e3:.2f} ms = "
                   f"{claim_s / p.seconds:.0%}",
                   f"{commits:,} × {record_s / max(commits, 1) * 1e3:.2f} ms = "
                   f"{record_s / p.seconds:.0%}", f"{p.sent / max(commits, 1):.1f}"))

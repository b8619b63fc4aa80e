"""The benchmark's report: its rows and tables, the targets and their verdicts, the machine
it ran on, and the generated section of docs/performance.md."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shlex
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench import measure
from bench.sink import ChildResult

REPO = Path(__file__).resolve().parent.parent
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
ASSEMBLY_TARGET = 50_000  # messages/s on one core
SINK_SHARE_TARGET = 0.5  # of smtp-source's messages/s with the same number of connections
RSS_GROWTH_TARGET = 1.2  # peak RSS at the largest N within 20% of the smallest N
RSS_LIMIT_MB = 150.0
# #17's targets
SOURCE_SHARE_TARGET = 0.9  # SQLite send, wall and send phase, of smtp-source's msg/s
POSTGRES_SHARE_TARGET = 0.8  # PostgreSQL send of SQLite's msg/s, same N and connections
MILLION = 1_000_000
MILLION_RSS_GROWTH = 1.05  # 1M send's peak RSS within 5% of the 10,000 run's
OUTBOX_SECONDS_TARGET = 10.0  # creating the 1M outbox


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
    pg_sends: list[SendRun] = field(default_factory=list)
    outbox_seconds: dict[tuple[str, int], float] = field(default_factory=dict)  # (db, N)
    targets: list[tuple[str, str, str, bool | None]] = field(default_factory=list)


def row(*cells: object) -> str:
    """One markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(head: list[str]) -> list[str]:
    """A markdown table's header and rule."""
    return [row(*head), row(*["---"] * len(head))]


def fmt(x: float) -> str:
    """A figure with as many decimals as its size needs."""
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}" if x >= 10 else f"{x:,.2f}"


def say(res: Results, *lines: str) -> None:
    """Print report lines as they come, and keep them for the doc."""
    for line in lines:
        print(line, flush=True)
        res.lines.append(line)


def judge(res: Results, sizes: list[int]) -> None:
    """PASS/FAIL against the issue's targets."""
    for n, rate in res.assembly.items():
        res.targets.append((f"assembly ≥ {ASSEMBLY_TARGET:,} msg/s (N={n:,})", fmt(rate),
                            f"≥ {ASSEMBLY_TARGET:,}", rate >= ASSEMBLY_TARGET))
    for run in res.sends:
        src = res.source.get(run.connections)
        need = f"≥ {fmt(SINK_SHARE_TARGET * src)}" if src else "n/a"
        res.targets.append((
            f"send ≥ ½ smtp-source, N={run.subscribers:,}, {run.connections} conn",
            f"{fmt(run.rate)} (send phase {fmt(run.send_rate)})", need,
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


def judge_scale(res: Results, big: int | None) -> None:
    """PASS/FAIL against #17's send targets 1–3 (the web, import and start-up ones are in
    their own benchmarks; bench/targets.py gathers them all). `big` is the 1,000,000 run's N."""
    for run in res.sends:
        src = res.source.get(run.connections)
        if run.subscribers == big or not src:
            continue
        res.targets.append((
            f"T1 SQLite send ≥ 90% of smtp-source, N={run.subscribers:,}, "
            f"{run.connections} conn",
            f"wall {fmt(run.rate)} ({run.rate / src:.0%}), send phase {fmt(run.send_rate)} "
            f"({run.send_rate / src:.0%}); smtp-source {fmt(src)}",
            f"≥ {fmt(SOURCE_SHARE_TARGET * src)} on both",
            min(run.rate, run.send_rate) >= SOURCE_SHARE_TARGET * src))
    sqlite = {(r.subscribers, r.connections): r for r in res.sends}
    for run in res.pg_sends:
        same = sqlite.get((run.subscribers, run.connections))
        if same is None:
            continue
        res.targets.append((
            f"T2 PostgreSQL send ≥ 80% of SQLite, N={run.subscribers:,}, "
            f"{run.connections} conn",
            f"{fmt(run.rate)} vs {fmt(same.rate)} msg/s wall ({run.rate / same.rate:.0%})",
            f"≥ {fmt(POSTGRES_SHARE_TARGET * same.rate)}",
            run.rate >= POSTGRES_SHARE_TARGET * same.rate))
    for db, runs in (("SQLite", res.sends), ("PostgreSQL", res.pg_sends)):
        by = {(r.subscribers, r.connections): r for r in runs}
        for (n, c), top in sorted(by.items()):
            if n != big:
                continue
            small, mid = by.get((10_000, c)), by.get((100_000, c))
            if small is not None:
                res.targets.append((
                    f"T3 {db} {n:,} send peak RSS within 5% of N=10,000, {c} conn",
                    f"{top.child.rss_mb:.1f} MB vs {small.child.rss_mb:.1f} MB "
                    f"({(top.child.rss_mb / small.child.rss_mb - 1) * 100:+.1f}%)", "≤ +5%",
                    top.child.rss_mb <= MILLION_RSS_GROWTH * small.child.rss_mb))
            if mid is not None:
                res.targets.append((
                    f"T3 {db} {n:,} send rate ≥ the N=100,000 run's, {c} conn",
                    f"{fmt(top.rate)} vs {fmt(mid.rate)} msg/s wall "
                    f"({top.rate / mid.rate:.2f}×)", f"≥ {fmt(mid.rate)}",
                    top.rate >= mid.rate))
    for (db, n), seconds in sorted(res.outbox_seconds.items()):
        if n == big:
            res.targets.append((f"T3 {db} outbox of {n:,} rows created in < 10 s",
                                f"{seconds:.2f} s", f"< {OUTBOX_SECONDS_TARGET:.0f} s",
                                seconds < OUTBOX_SECONDS_TARGET))


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
    postfix = quiet(["postconf", "-d", "-h", "mail_version"])
    commit = quiet(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = quiet(["git", "--no-optional-locks", "-C", str(REPO), "status", "--porcelain",
                    "--untracked-files=no", "--", "digest"])
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- command: `{shlex.join(getattr(sys, 'orig_argv', sys.argv))}`",
        f"- machine: nproc {nproc}, {cpu}{mem}, Linux {platform.release()}",
        f"- Python {platform.python_version()}; Postfix {postfix or 'not installed'}; "
        f"SQLite {sqlite3.sqlite_version}",
        f"- speed (fixed work, to compare machines): a pure-Python loop {loop_ns:.0f} ns per "
        f"iteration, HMAC-SHA1 of 5 bytes {mac_us:.2f} µs",
        f"- code: {commit or '?'}" + (" with uncommitted changes in digest/" if dirty else "")
        + f"; sha256 of digest/**/*.py {code_sha()}",
    ]


def code_sha() -> str:
    """The first 12 hex digits of a sha256 over digest/**/*.py (paths and contents)."""
    tree = hashlib.sha256()
    for path in sorted((REPO / "digest").rglob("*.py")):
        tree.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return tree.hexdigest()[:12]


def quiet(cmd: list[str]) -> str:
    """A command's output, or "" if it is missing or fails."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def write_doc(path: Path, section: list[str], markers: tuple[str, str] = (START, END)
              ) -> None:
    """Replace the generated section between the markers (appended at the end if they are
    absent); the prose around it stays."""
    start, end = markers
    body = "\n".join([start, *section, end])
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + body + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text, encoding="utf-8")

"""Smoke test of bench/web_burst.py: one-click unsubscribes from 50 clients during a send.

Correctness only (the timings are the benchmark's): every answer a 200, no "database is
locked", every unsubscribe committed, and at most one message per connection mailed to a
person after their 200 (the message already on the wire, docs/delivery.md). The sink is
Postfix's smtp-sink, or aiosmtpd's where Postfix is not installed (bench/sink.py).
"""

from __future__ import annotations

from pathlib import Path

from bench.web_burst import run_burst


def test_a_burst_of_unsubscribes_during_a_send(tmp_path: Path) -> None:
    got = run_burst(tmp_path, n=4_000, posts=200, clients=50, connections=4, send=True)
    assert got.posts == 200
    assert (got.non_200, got.locked, got.not_committed) == (0, 0, 0)
    assert got.mailed_after_200 <= 4

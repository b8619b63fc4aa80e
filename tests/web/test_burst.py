"""Smoke test of bench/web_burst.py: one-click unsubscribes from 50 clients during a send.

Correctness only (the timings are the benchmark's): every answer a 200, no "database is
locked", every unsubscribe committed, and at most one message per connection mailed to a
person after their 200 (the message already on the wire, docs/delivery.md). The sink is
Postfix's smtp-sink, or aiosmtpd's where Postfix is not installed (bench/sink.py). The same
on PostgreSQL (skipped without the server, a failure under DIGEST_TEST_STRICT), and on SQLite
with an outbox already holding an earlier issue's rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.measure import PostgresScratch
from bench.web_burst import Burst, run_burst
from tests.conftest import PG_ADMIN_URL, PG_HOWTO, skip_or_fail


def assert_correct(got: Burst) -> None:
    assert got.posts == 200
    assert (got.non_200, got.locked, got.not_committed) == (0, 0, 0)
    assert got.mailed_after_200 <= 4


def test_a_burst_of_unsubscribes_during_a_send(tmp_path: Path) -> None:
    got = run_burst(tmp_path, n=4_000, posts=200, clients=50, connections=4, send=True)
    assert_correct(got)
    assert got.outbox_rows_total == 4_000


@pytest.mark.postgres
def test_a_burst_of_unsubscribes_during_a_send_on_postgresql(tmp_path: Path) -> None:
    scratch = PostgresScratch(PG_ADMIN_URL)
    why = scratch.available()
    scratch.close()
    if why is not None:
        skip_or_fail(f"{PG_HOWTO} ({why})")
    got = run_burst(tmp_path, n=4_000, posts=200, clients=50, connections=4, send=True,
                    postgres=PG_ADMIN_URL)
    assert_correct(got)


def test_a_burst_beside_an_earlier_outbox(tmp_path: Path) -> None:
    got = run_burst(tmp_path, n=4_000, posts=200, clients=50, connections=4, send=True,
                    outbox_rows=20_000)
    assert_correct(got)
    assert got.outbox_rows_total > 20_000

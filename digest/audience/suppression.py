"""The suppression list: keyed hashes of erased addresses, refused by imports.

Only the person can bring an erased address back: a web sign-up links its pending
subscriber to the entry, and confirming that sign-up lifts it. Callers commit.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select

from digest.audience.keyed import Keyed
from digest.store.models import Suppression, core_table, now_utc

REFUSED = ("this address was erased at the person's request; only they can add it again, "
           "by signing up on the web")


def add(session: Session, keyed: Keyed, email: str) -> None:
    """Put an address on the list (idempotent)."""
    digest = keyed.address(email)
    if session.get(Suppression, digest) is None:
        session.add(Suppression(address_hash=digest, created_at=now_utc()))


def is_suppressed(session: Session, keyed: Keyed, email: str) -> bool:
    """Whether the address is on the list."""
    return session.get(Suppression, keyed.address(email)) is not None


def suppressed(session: Session, keyed: Keyed, emails: list[str]) -> set[str]:
    """Which of `emails` are on the list (in chunks: one query per thousand)."""
    hashes: dict[str, list[str]] = {}  # two forms of one address share a hash
    for e in emails:
        hashes.setdefault(keyed.address(e), []).append(e)
    keys = list(hashes)
    found: set[str] = set()
    for start in range(0, len(keys), 1000):
        found |= set(session.exec(select(Suppression.address_hash).where(
            col(Suppression.address_hash).in_(keys[start:start + 1000]))))
    return {e for h in found for e in hashes[h]}


def link_signup(session: Session, keyed: Keyed, email: str, subscriber_id: int) -> None:
    """A web sign-up for a suppressed address: confirming `subscriber_id` will lift it."""
    entry = session.get(Suppression, keyed.address(email))
    if entry is not None:
        entry.signup_subscriber_id = subscriber_id


def lift_for(session: Session, subscriber_id: int) -> None:
    """The person confirmed their sign-up: their address is no longer suppressed."""
    table = core_table(Suppression)
    session.execute(sa.delete(table).where(table.c.signup_subscriber_id == subscriber_id))

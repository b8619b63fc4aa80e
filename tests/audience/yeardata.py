"""A generated year of list life, made through the real services under time-machine, with a
ledger of what happened kept by plain bookkeeping (what the reports must find).

Used by tests/audience/test_reports.py and scripts/screenshots.py (the report screenshots).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import time_machine
from sqlalchemy.engine import Engine
from sqlmodel import select

from digest.audience import csv_import, engagement, gdpr, self_service
from digest.delivery import run
from digest.delivery.transports.base import Outcome, SendResult, Transport
from digest.delivery.transports.memory import MemoryTransport
from digest.issue import lifecycle, service
from digest.settings import Settings
from digest.store.db import session_scope
from digest.store.models import ActionReason, Language, Subscriber, now_utc
from digest.tokens import Tokens
from tests.factories import add_review

LANGS = [Language.CY, Language.EN, Language.BOTH]


@dataclass
class Ledger:
    """What the generator did, counted by language (cy, en, both)."""

    year: int
    at_start: Counter[str] = field(default_factory=Counter)
    month_end: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    signups: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    left: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    sent: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    bounced: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    unsubscribed: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    complaints: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    clicks: dict[str, Counter[tuple[int, str]]] = field(
        default_factory=lambda: defaultdict(Counter))


@dataclass
class Person:
    """The generator's own record of one person."""

    language: Language
    active: bool = True


class _World:
    def __init__(self, engine: Engine, settings: Settings, tmp: Path, seed: int) -> None:
        self.engine, self.settings, self.tmp = engine, settings, tmp
        self.rng = random.Random(seed)
        self.people: dict[str, Person] = {}
        self.n = 0

    def at(self, moment: datetime) -> time_machine.travel:
        return time_machine.travel(moment, tick=False)

    def active(self) -> list[str]:
        return sorted(e for e, p in self.people.items() if p.active)

    def language(self) -> Language:
        return self.rng.choices(LANGS, weights=[4, 5, 2])[0]

    def import_new(self, count: int, ledger_key: str | None, ledger: Ledger) -> None:
        lines = ["email,name,language"]
        for _ in range(count):
            self.n += 1
            lang = self.language()
            email = f"p{self.n:04d}@example.org"
            lines.append(f"{email},Person {self.n},{lang.value}")
            self.people[email] = Person(lang)
            if ledger_key:
                ledger.signups[ledger_key][lang.value] += 1
        path = self.tmp / f"import-{self.n}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with session_scope(self.engine) as session:
            csv_import.import_file(session, path)

    def web_signup(self, key: str, ledger: Ledger) -> None:
        self.n += 1
        email, lang = f"w{self.n:04d}@example.org", self.language()
        with session_scope(self.engine) as session:
            self_service.request(session, self.settings, Tokens(self.settings),
                                 email, f"Web {self.n}", lang, email, now_utc())
            sub = session.exec(select(Subscriber).where(Subscriber.email == email)).one()
            self_service.confirm(session, sub.id or 0)
        self.people[email] = Person(lang)
        ledger.signups[key][lang.value] += 1

    def leave(self, email: str, key: str, ledger: Ledger, how: str) -> None:
        person = self.people[email]
        with session_scope(self.engine) as session:
            sid = gdpr.find(session, email).id or 0
            if how == "erase":
                gdpr.erase(session, self.settings, sid, "editor")
            else:
                reason = {"link": ActionReason.LINK, "one_click": ActionReason.ONE_CLICK,
                          "complaint": ActionReason.COMPLAINT}[how]
                self_service.unsubscribe(session, sid, reason=reason)
        person.active = False
        ledger.left[key][person.language.value] += 1


def generate_year(engine: Engine, settings: Settings, tmp: Path, year: int = 2026,
                  seed: int = 16) -> Ledger:
    """Twelve months of imports, sign-ups, sends, bounces, clicks, leavers and erasures."""
    world, ledger = _World(engine, settings, tmp, seed), Ledger(year)
    with world.at(datetime(year - 1, 12, 1, 12, tzinfo=UTC)):
        world.import_new(40, None, ledger)
    ledger.at_start = Counter(p.language.value for p in world.people.values())
    for month in range(1, 13):
        key = f"{year}-{month:02d}"

        def day(d: int, h: int = 12, m: int = month) -> datetime:
            return datetime(year, m, d, h, tzinfo=UTC)

        with world.at(day(2)), session_scope(engine) as session:
            add_review(session, f"review-{key}-a", day(2, 8))
            add_review(session, f"review-{key}-b", day(2, 9))  # two items: positions 0 and 1
        with world.at(day(3)):
            world.import_new(world.rng.randint(2, 6), key, ledger)
        with world.at(day(4)):
            for _ in range(world.rng.randint(1, 4)):
                world.web_signup(key, ledger)
        with world.at(day(5)), session_scope(engine) as session:
            issue = service.plan(session, settings, day(5)).issue
            assert issue is not None and issue.period == key
            lifecycle.approve(session, issue, "editor")
            issue_id = issue.id or 0
        bounce = world.rng.choice(world.active())
        transport = MemoryTransport(script={bounce: SendResult(Outcome.PERMANENT, "550 5.1.1")})
        with world.at(day(6, 9)):
            run.send_issue(engine, settings, issue_id, _fixed(transport))
        for email in world.active():
            person = world.people[email]
            if email == bounce:
                ledger.bounced[key][person.language.value] += 1
                ledger.left[key][person.language.value] += 1
                person.active = False
            else:
                ledger.sent[key][person.language.value] += 1
        with world.at(day(6, 15)), session_scope(engine) as session:
            issue = service.get_issue(session, issue_id)
            for _ in range(world.rng.randint(3, 9)):
                position, lang = world.rng.randint(0, 1), world.rng.choice(["cy", "en"])
                engagement.count(session, issue, position, Language(lang),
                                 engagement.Verdict.COUNTED)
                ledger.clicks[key][(position, lang)] += 1
        with world.at(day(10)):
            for how in world.rng.sample(["link", "one_click", "link", "complaint"],
                                        world.rng.randint(0, 3)):
                email = world.rng.choice(world.active())
                lang = world.people[email].language.value
                (ledger.complaints if how == "complaint" else ledger.unsubscribed)[key][lang] += 1
                world.leave(email, key, ledger, how)
        with world.at(day(15)), session_scope(engine) as session:
            email = world.rng.choice(world.active())
            new = world.rng.choice([x for x in LANGS if x is not world.people[email].language])
            self_service.set_language(session, gdpr.find(session, email).id or 0, new)
            world.people[email].language = new
        if month % 4 == 0:
            with world.at(day(20)):
                world.leave(world.rng.choice(world.active()), key, ledger, "erase")
        ledger.month_end[key] = Counter(world.people[e].language.value for e in world.active())
    return ledger




def _fixed(transport: MemoryTransport) -> Callable[[], Transport]:
    """A transport factory that always gives `transport`."""
    return lambda: transport

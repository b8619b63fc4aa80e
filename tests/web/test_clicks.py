"""The click counter over HTTP: links rewritten only when enabled, targets from the frozen
items (no open redirect), per-item counts, and the scanner rule (HEAD, agents, the first
seconds after the send started)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.audience import csv_import, engagement
from digest.audience.engagement import Verdict, classify
from digest.content import files, sync
from digest.delivery import run
from digest.delivery.transports.memory import MemoryTransport
from digest.issue import checks, lifecycle, service
from digest.settings import REPO_ROOT, Settings
from digest.store.models import ClickCount, Issue
from digest.web.app import create_app
from tests.factories import AS_OF

SENT_AT = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)
BROWSER = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0.0.0 Safari/537.36")
GRACE = timedelta(seconds=60)


@pytest.mark.parametrize(("method", "agent", "after", "verdict"), [
    ("GET", BROWSER, 3600, Verdict.COUNTED),
    ("HEAD", BROWSER, 3600, Verdict.HEAD),
    ("GET", "", 3600, Verdict.SCANNER_AGENT),
    ("GET", None, 3600, Verdict.SCANNER_AGENT),
    ("GET", "Mozilla/5.0 (compatible; Barracuda Sentinel)", 3600, Verdict.SCANNER_AGENT),
    ("GET", "Microsoft Office Existence Discovery", 3600, Verdict.SCANNER_AGENT),
    ("GET", "python-requests/2.32", 3600, Verdict.SCANNER_AGENT),
    ("GET", "Mozilla/5.0 (compatible; Googlebot/2.1)", 3600, Verdict.SCANNER_AGENT),
    ("GET", BROWSER, 59, Verdict.TOO_EARLY),
    ("GET", BROWSER, 60, Verdict.COUNTED),
    ("GET", BROWSER, -5, Verdict.NOT_SENT),
])
def test_the_scanner_rule(method: str, agent: str | None, after: int, verdict: Verdict) -> None:
    assert classify(method, agent, SENT_AT + timedelta(seconds=after), SENT_AT, GRACE) is verdict


def test_nothing_counts_before_a_send() -> None:
    assert classify("GET", BROWSER, SENT_AT, None, GRACE) is Verdict.NOT_SENT


def _setup(session: Session, settings: Settings) -> Issue:
    sync.upsert(session, files.load_dir(REPO_ROOT / "content"), settings.tz)
    csv_import.import_file(session, REPO_ROOT / "subscribers" / "example.csv")
    issue = service.plan(session, settings, AS_OF).issue
    assert issue is not None
    lifecycle.approve(session, issue, "test")
    session.commit()
    return issue


@pytest.fixture
def counted(engine: Engine, session: Session, db_settings: Settings
            ) -> Iterator[tuple[TestClient, Issue, MemoryTransport, Settings]]:
    """An issue sent at SENT_AT with click counting on, and the app."""
    settings = db_settings.model_copy(update={"click_counts": True})
    issue = _setup(session, settings)
    transport = MemoryTransport()
    with time_machine.travel(SENT_AT, tick=False):
        run.send_issue(engine, settings, issue.id or 0, lambda: transport)
    with TestClient(create_app(settings, engine, lambda: transport),
                    follow_redirects=False, base_url="https://digest.example.org") as client:
        yield client, issue, transport, settings


def _html(transport: MemoryTransport, language: str) -> str:
    for sent in transport.sent:
        msg = message_from_bytes(sent.data, policy=default)
        if msg["Content-Language"] == language:
            body = msg.get_body(("html",))
            assert body is not None
            return str(body.get_content())
    raise AssertionError(language)


def test_links_go_through_the_counter_and_carry_no_identity(
        counted: tuple[TestClient, Issue, MemoryTransport, Settings], session: Session) -> None:
    _, issue, transport, settings = counted
    site = settings.site_url
    html = _html(transport, "cy, en")
    paths = set(re.findall(re.escape(site) + r"(/r/2026-09/\d+/(?:cy|en))\"", html))
    assert paths and {p.rsplit("/", 1)[1] for p in paths} == {"cy", "en"}
    assert "/reviews/" not in html  # no direct item links left
    text = next(str(b.get_content()) for m in transport.sent
                if (b := message_from_bytes(m.data, policy=default).get_body(("plain",)))
                is not None)
    assert f"{site}/r/2026-09/0/" in text and "/reviews/" not in text
    # Every copy of a variant has the same counter links: nothing in them names a reader.
    copies = {frozenset(re.findall(r"/r/[^\"]+", _html_of(transport, i)))
              for i in range(len(transport.sent))
              if message_from_bytes(transport.sent[i].data,
                                    policy=default)["Content-Language"] == "cy"}
    assert len(copies) == 1
    # The link check still sees the real targets behind the counter.
    found = checks.issue_checks(session, issue, AS_OF, site)
    links = next(c.details for c in found if c.name == "links")
    assert links and all(not u.startswith(site) for u in links)


def _html_of(transport: MemoryTransport, i: int) -> str:
    body = message_from_bytes(transport.sent[i].data, policy=default).get_body(("html",))
    assert body is not None
    return str(body.get_content())


def test_the_web_archive_links_straight_to_the_items(
        counted: tuple[TestClient, Issue, MemoryTransport, Settings]) -> None:
    client, _, _, settings = counted
    page = client.get("/archive/2026-09/both")
    assert page.status_code == 200 and "/r/2026-09/" not in page.text
    assert f'href="{settings.site_url}/reviews/' in page.text


def test_counting_per_item_and_language_with_the_scanner_rule(
        counted: tuple[TestClient, Issue, MemoryTransport, Settings], session: Session) -> None:
    client, issue, _, settings = counted
    path = "/r/2026-09/0/cy"
    with time_machine.travel(SENT_AT + timedelta(seconds=10), tick=False):
        early = client.get(path, headers={"user-agent": BROWSER})  # a gateway's prefetch
    assert early.status_code == 302
    with time_machine.travel(SENT_AT + timedelta(hours=2), tick=False):
        for _ in range(3):
            ok = client.get(path, headers={"user-agent": BROWSER})
        head = client.head(path, headers={"user-agent": BROWSER})
        bot = client.get(path, headers={"user-agent": "Mozilla/5.0 (compatible; bingbot/2.0)"})
        english = client.get("/r/2026-09/0/en", headers={"user-agent": BROWSER})
    target = ok.headers["location"]
    assert target == f"{settings.site_url}/reviews/" + target.rsplit("/", 1)[1]
    assert "?lang=cy" in target and "?lang=en" in english.headers["location"]
    assert head.status_code == bot.status_code == 302 and head.headers["location"] == target
    assert "set-cookie" not in ok.headers and ok.headers["cache-control"] == "no-store"
    session.expire_all()
    rows = {(c.position, c.language.value): (c.clicks, c.ignored)
            for c in engagement.clicks(session, issue)}
    assert rows == {(0, "cy"): (3, 3), (0, "en"): (1, 0)}


def test_no_open_redirect_and_unknown_items(
        counted: tuple[TestClient, Issue, MemoryTransport, Settings], session: Session) -> None:
    client, _, _, _ = counted
    for path in ("/r/2026-09/999/cy", "/r/2026-10/0/cy", "/r/2026-09/0/both",
                 "/r/2026-09/0/fr", "/r/2026-09/x/cy", "/r/1/0/cy"):
        assert client.get(path, headers={"user-agent": BROWSER}).status_code in (404, 422), path
    evil = client.get("/r/2026-09/0/cy?url=https://evil.example/",
                      headers={"user-agent": BROWSER})
    assert "evil" not in evil.headers["location"]
    assert session.exec(select(ClickCount).where(ClickCount.position == 999)).first() is None


def test_links_are_direct_and_nothing_is_counted_when_off(
        engine: Engine, session: Session, db_settings: Settings) -> None:
    issue = _setup(session, db_settings)
    variant = service.variants(session, issue)
    assert all("/r/2026-09/" not in v.html and "/r/2026-09/" not in v.text
               for v in variant.values())
    with TestClient(create_app(db_settings, engine, MemoryTransport),
                    follow_redirects=False, base_url="https://digest.example.org") as client:
        assert client.get("/r/2026-09/0/cy", headers={"user-agent": BROWSER}
                          ).status_code == 302  # an old link still leads somewhere
    assert engagement.clicks(session, issue) == []

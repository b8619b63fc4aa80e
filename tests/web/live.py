"""The whole site served on loopback (uvicorn in a thread) over the demo data with its issue
sent: every page a subscriber or an editor can reach has something to show. For browser
tests and scripts/screenshots.py (no pytest here)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlmodel import Session, select

from digest import demo
from digest.delivery import run
from digest.delivery.transports.memory import MemoryTransport
from digest.issue import lifecycle, service
from digest.settings import Settings, generate_secret_key
from digest.store.db import engine_from, session_scope
from digest.store.models import Issue, Review, Subscriber
from digest.tokens import Purpose, Tokens
from digest.web.auth import hash_password

EDITOR, PASSWORD = "sian", "live site password"
# A review whose Welsh title holds the longest word in Welsh (58 letters): it must wrap.
LONG_WORD = "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch"


@dataclass(frozen=True)
class LiveSite:
    """A running site: its address, settings, and a subscriber's signed links."""

    url: str
    settings: Settings
    preferences: str  # /p/<token> of a subscriber who reads English
    unsubscribe: str  # /u/<token>
    issue_id: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def long_welsh_word(session: Session) -> None:
    """Give a review a Welsh title with the longest word in Welsh (after planning: the email
    keeps its title, the review page and the side-by-side view show this one)."""
    review = session.exec(select(Review).where(
        Review.slug == "adoption-sibling-relationships")).one()
    review.title_cy = f"{LONG_WORD}: mabwysiadu a'r berthynas rhwng brodyr a chwiorydd"


def _prepare(settings: Settings, *, send: bool, change: Callable[[Session], None]) -> int:
    engine = engine_from(settings, create=True)  # as the demo makes its database
    _, outcome = demo.prepare(engine, settings)
    assert outcome.issue is not None, outcome.message
    with session_scope(engine) as session:
        if send:
            lifecycle.approve(session, service.get_issue(session, outcome.issue.id or 0), "demo")
        change(session)
    if send:
        transport = MemoryTransport()
        run.send_issue(engine, settings, outcome.issue.id or 0, lambda: transport,
                       clock=lambda: datetime(2026, 9, 8, 9, tzinfo=UTC))
    engine.dispose()
    return outcome.issue.id or 0


@contextmanager
def live_site(workdir: Path, *, send: bool = True,
              change: Callable[[Session], None] = long_welsh_word) -> Iterator[LiveSite]:
    """The demo planned (and sent, unless `send` is False) in `workdir`, its content then
    changed by `change`, served until exit."""
    import uvicorn

    from digest.web.app import create_app

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(_env_file=None,  # type: ignore[call-arg]
                        database_url=f"sqlite:///{workdir / 'digest.db'}",
                        var_dir=workdir / "var", site_url=url,
                        secret_key=SecretStr(generate_secret_key()),  # this site's own
                        editor_accounts=f"{EDITOR}:{hash_password(PASSWORD)}")
    issue_id = _prepare(settings, send=send, change=change)
    engine = engine_from(settings)
    with session_scope(engine) as session:
        rhys = session.exec(select(Subscriber).where(
            Subscriber.email == "rhys.price@example.org")).one()
        assert session.exec(select(Issue)).one().id == issue_id
    tokens = Tokens(settings)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine, MemoryTransport),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield LiveSite(url, settings, f"/p/{tokens.make(Purpose.PREFERENCES, rhys.id or 0)}",
                       f"/u/{tokens.make(Purpose.UNSUBSCRIBE, rhys.id or 0)}", issue_id)
    finally:
        server.should_exit = True
        thread.join()
        engine.dispose()

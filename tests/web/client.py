"""What the web tests share: the site, the editor's login, tokens, and a clock moved by hand."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from digest.settings import Settings
from digest.store.models import Issue, Subscriber
from digest.tokens import Purpose, Tokens
from tests.factories import AS_OF

PASSWORD = "correct horse battery staple"
SITE = "https://digest.example.org"  # the settings' site_url: the only Host the app answers
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Clock:
    """The app's clock, moved by the test."""

    def __init__(self, start: datetime = AS_OF) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def form_csrf(html: str) -> str:
    """The CSRF token in a page's form."""
    found = CSRF.search(html)
    assert found is not None, "no CSRF field"
    return found.group(1)


def try_login(client: TestClient, name: str = "sian", password: str = PASSWORD,
              **headers: str) -> int:
    """Post the login form as a browser would (form first, for its CSRF cookie)."""
    csrf = form_csrf(client.get("/editor/login?lang=en").text)
    return client.post("/editor/login", data={"name": name, "password": password, "csrf": csrf},
                       headers=headers).status_code


def login(client: TestClient) -> str:
    """Log in as sian; returns the CSRF token of the new session's forms."""
    before = form_csrf(client.get("/editor/login?lang=en").text)  # English from here on
    done = client.post("/editor/login", data={"name": "sian", "password": PASSWORD,
                                              "csrf": before})
    assert done.status_code == 303 and done.headers["location"] == f"{SITE}/editor"
    fresh = form_csrf(client.get("/editor").text)
    assert fresh != before  # the session's own token, not the login form's
    return fresh


def issue_id(session: Session) -> int:
    """The one planned issue's id."""
    session.rollback()
    return session.exec(select(Issue)).one().id or 0


def subscriber_tokens(session: Session, settings: Settings, email: str) -> tuple[int, str, str]:
    """A subscriber's id, preferences token and unsubscribe token."""
    session.rollback()
    sub = session.exec(select(Subscriber).where(Subscriber.email == email)).one()
    tokens = Tokens(settings)
    return (sub.id or 0, tokens.make(Purpose.PREFERENCES, sub.id or 0),
            tokens.make(Purpose.UNSUBSCRIBE, sub.id or 0))


def altered(token: str) -> str:
    """`token` with one signature character changed, so it always decodes to other bytes."""
    i = len(token) - 5  # well inside the signature, whose every bit there is data
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]

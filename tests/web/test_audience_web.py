"""The audience's pages over HTTP: subscribers list, subscriber page and its actions,
exports, reports, and subscribers' own privacy pages, including every refusal."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.audience import gdpr, history
from digest.delivery import run
from digest.delivery.transports.memory import MemoryTransport
from digest.issue import lifecycle
from digest.settings import Settings
from digest.store.models import (
    ActionReason,
    Issue,
    Language,
    Subscriber,
    SubscriberAction,
    SubscriberState,
    now_utc,
)
from digest.tokens import Purpose, Tokens
from digest.web.app import create_app
from tests.web.client import login

Web = tuple[TestClient, MemoryTransport, Settings]
ELERI = "eleri.thomas@example.org"


def _sid(session: Session, email: str = ELERI) -> int:
    session.rollback()
    return gdpr.find(session, email).id or 0


def test_every_page_and_action_needs_a_login(web: Web, session: Session) -> None:
    client, _, _ = web
    sid = _sid(session)
    for path in ("/editor/subscribers", "/editor/subscribers/export.csv",
                 f"/editor/subscribers/{sid}", f"/editor/subscribers/{sid}/export.json",
                 "/editor/reports", "/editor/reports/issues/2026-09",
                 "/editor/reports/issues/2026-09.csv", "/editor/reports/years/2026",
                 "/editor/reports/years/2026.csv"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "https://digest.example.org/editor/login"
    for action, data in (("unsubscribe", {}), ("language", {"language": "en"}),
                         ("erase", {"confirm": ELERI})):
        response = client.post(f"/editor/subscribers/{sid}/{action}", data={"csrf": "x", **data})
        assert response.status_code == 303 and response.headers["location"] == "https://digest.example.org/editor/login"
    sub = session.get(Subscriber, sid)
    assert sub is not None and sub.state is SubscriberState.ACTIVE and sub.email == ELERI


def test_actions_need_the_csrf_token(web: Web, session: Session) -> None:
    client, _, _ = web
    login(client)
    sid = _sid(session)
    for action, data in (("unsubscribe", {}), ("language", {"language": "en"}),
                         ("erase", {"confirm": ELERI})):
        assert client.post(f"/editor/subscribers/{sid}/{action}", data=data
                           ).status_code in (400, 403), action
        assert client.post(f"/editor/subscribers/{sid}/{action}",
                           data={"csrf": "forged", **data}).status_code == 403, action
    session.rollback()
    sub = session.get(Subscriber, sid)
    assert sub is not None and sub.state is SubscriberState.ACTIVE and sub.email == ELERI
    assert [e.action for e in history.events_of(session, sid)] == [SubscriberAction.SUBSCRIBED]


def test_the_list_counts_searches_filters_and_exports(web: Web) -> None:
    client, _, _ = web
    login(client)
    page = client.get("/editor/subscribers?lang=en")
    assert page.status_code == 200
    assert "35 subscribers with this state and language." in page.text
    assert page.text.count('href="/editor/subscribers/') >= 35
    found = client.get("/editor/subscribers?q=ELERI&lang=en")
    assert ELERI in found.text and found.text.count("@example.org</a>") == 1
    both = client.get("/editor/subscribers?language=both&state=active&lang=en")
    rows = re.findall(r"<tr><td><a href=\"/editor/subscribers/\d+\">([^<]+)</a>", both.text)
    assert rows and len(rows) < 35
    welsh = client.get("/editor/subscribers?lang=cy")
    assert "<h1>Tanysgrifwyr</h1>" in welsh.text and 'lang="cy"' in welsh.text
    exported = client.get("/editor/subscribers/export.csv?language=both")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(r["email"] for r in lines) == sorted(rows)


def test_the_subscriber_page_and_its_actions_are_recorded_with_the_editor(
        web: Web, session: Session) -> None:
    client, _, _ = web
    csrf = login(client)
    sid = _sid(session)
    page = client.get(f"/editor/subscribers/{sid}?lang=en")
    assert page.status_code == 200 and ELERI in page.text
    assert "example.csv:" in page.text and "<dd>import</dd>" in page.text
    person = client.get(f"/editor/subscribers/{sid}/export.json")
    assert person.json()["subscriber"]["email"] == ELERI

    changed = client.post(f"/editor/subscribers/{sid}/language",
                          data={"csrf": csrf, "language": "both"})
    assert changed.status_code == 303 and "notice=language" in changed.headers["location"]
    left = client.post(f"/editor/subscribers/{sid}/unsubscribe", data={"csrf": csrf})
    assert left.status_code == 303
    session.rollback()
    events = history.events_of(session, sid)
    assert [(e.action, e.reason, e.actor) for e in events[1:]] == [
        (SubscriberAction.LANGUAGE_CHANGED, ActionReason.EDITOR, "sian"),
        (SubscriberAction.UNSUBSCRIBED, ActionReason.EDITOR, "sian")]
    assert "Unsubscribed. The change is in the history" in client.get(
        f"/editor/subscribers/{sid}?notice=unsubscribed&lang=en").text

    wrong = client.post(f"/editor/subscribers/{sid}/erase", data={"csrf": csrf,
                                                                  "confirm": "someone else"})
    assert "notice=not-erased" in wrong.headers["location"]
    session.rollback()
    assert session.get(Subscriber, sid).email == ELERI  # type: ignore[union-attr]
    erased = client.post(f"/editor/subscribers/{sid}/erase",
                         data={"csrf": csrf, "confirm": ELERI.upper()})
    assert "notice=erased" in erased.headers["location"]
    after = client.get(f"/editor/subscribers/{sid}?lang=en")
    assert ELERI not in after.text and "Erased subscriber" in after.text
    assert 'action="/editor/subscribers/' not in after.text  # no actions left
    session.rollback()
    assert history.events_of(session, sid)[-1].actor == "sian"
    assert client.post(f"/editor/subscribers/{sid}/language",
                       data={"csrf": csrf, "language": "cy"}).status_code == 404
    assert client.get("/editor/subscribers/999999").status_code == 404


def test_the_erase_confirmation_takes_either_form_of_an_idn_address(
        web: Web, session: Session) -> None:
    client, _, _ = web
    csrf = login(client)
    for stored, typed in (("anna@xn--bcher-kva.example", "Anna@BÜCHER.example"),
                          ("bob@xn--bcher-kva.example", " BOB@XN--BCHER-KVA.EXAMPLE ")):
        sub = Subscriber(email=stored, name="", language=Language.EN,
                         state=SubscriberState.ACTIVE)
        session.add(sub)
        session.commit()
        wrong = client.post(f"/editor/subscribers/{sub.id}/erase",
                            data={"csrf": csrf, "confirm": "anna@bucher.example"})
        assert "notice=not-erased" in wrong.headers["location"]
        done = client.post(f"/editor/subscribers/{sub.id}/erase",
                           data={"csrf": csrf, "confirm": typed})
        assert "notice=erased" in done.headers["location"], typed
        session.refresh(sub)
        assert sub.state is SubscriberState.ERASED


@pytest.mark.postgres
@pytest.mark.parametrize("db_settings", ["postgresql"], indirect=True)
def test_an_erasure_that_finds_the_person_erased_meanwhile_says_so(
        web: Web, session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page read the person before another request erased them (PostgreSQL: the
    erasure's locked read then finds nobody): the editor sees "erased", the person a 404."""
    client, _, settings = web
    csrf = login(client)
    real = gdpr.erase

    def erased_meanwhile(s: Session, st: Settings, sid: int, actor: str) -> gdpr.Erased:
        with Session(engine) as other:
            real(other, st, sid, "someone else")
            other.commit()
        return real(s, st, sid, actor)

    monkeypatch.setattr(gdpr, "erase", erased_meanwhile)
    sid = _sid(session)
    done = client.post(f"/editor/subscribers/{sid}/erase", data={"csrf": csrf, "confirm": ELERI})
    assert done.status_code == 303 and "notice=erased" in done.headers["location"]
    other = _sid(session, "rhys.price@example.org")
    _, action = _privacy_form(client, settings, other)
    gone = client.post(f"/privacy/{action}/erase?lang=en", data={"confirmed": "yes"})
    assert gone.status_code == 404
    session.rollback()
    for erased in (sid, other):
        assert [e.actor for e in history.events_of(session, erased)
                if e.action is SubscriberAction.ERASED] == ["someone else"]


def test_report_pages_charts_and_csv(web: Web, engine: Engine, session: Session) -> None:
    client, transport, settings = web
    login(client)
    issue = session.exec(select(Issue)).one()
    lifecycle.approve(session, issue, "sian")
    session.commit()
    run.send_issue(engine, settings, issue.id or 0, lambda: transport)
    index = client.get("/editor/reports?lang=en")
    assert 'href="/editor/reports/issues/2026-09"' in index.text
    assert 'href="/editor/reports/years/2026"' in index.text
    page = client.get("/editor/reports/issues/2026-09?lang=en")
    assert page.status_code == 200 and page.text.count("<svg") >= 1
    assert "<script" not in page.text
    sent = re.search(r"<th scope=\"row\">sent</th><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>"
                     r"<td>(\d+)</td>", page.text)
    assert sent is not None and sent.group(4) == "35"
    year = client.get("/editor/reports/years/2026?lang=cy")
    assert year.status_code == 200 and year.text.count("<svg") == 4
    assert ">Medi<" in year.text  # months in the page's language
    rows = list(csv.DictReader(io.StringIO(client.get("/editor/reports/years/2026.csv").text)))
    assert next(r for r in rows if r["table"] == "issues_sent")["total"] == "35"
    assert client.get("/editor/reports/issues/2031-01").status_code == 404
    assert client.get("/editor/reports/years/1999").status_code == 404


def _privacy_form(client: TestClient, settings: Settings, sid: int) -> tuple[str, str]:
    prefs = Tokens(settings).make(Purpose.PREFERENCES, sid)
    page = client.get(f"/p/{prefs}?lang=en")
    assert f'href="/p/{prefs}/privacy?lang=en"' in page.text
    privacy = client.get(f"/p/{prefs}/privacy?lang=en")
    assert privacy.status_code == 200 and "We never track whether you open" in privacy.text
    action = re.search(r'action="/privacy/([^/]+)/export"', privacy.text)
    assert action is not None
    return prefs, action.group(1)


def test_subscribers_export_and_erase_their_own_data(web: Web, session: Session) -> None:
    client, _, settings = web
    sid = _sid(session)
    prefs, action = _privacy_form(client, settings, sid)
    assert client.get(f"/privacy/{action}/export").status_code == 405  # scanners' GETs
    mine = client.post(f"/privacy/{action}/export")
    assert mine.status_code == 200 and mine.json()["subscriber"]["email"] == ELERI
    asked = client.post(f"/privacy/{action}/erase?lang=en")
    assert asked.status_code == 200 and "Yes, erase my data" in asked.text
    session.rollback()
    assert session.get(Subscriber, sid).email == ELERI  # type: ignore[union-attr]
    done = client.post(f"/privacy/{action}/erase?lang=en", data={"confirmed": "yes"})
    assert done.status_code == 200 and "Your data has been erased" in done.text
    session.rollback()
    sub = session.get(Subscriber, sid)
    assert sub is not None and sub.state is SubscriberState.ERASED
    assert history.events_of(session, sid)[-1].actor == "subscriber"
    for path in (f"/p/{prefs}", f"/p/{prefs}/privacy"):
        assert client.get(path).status_code == 404
    assert client.post(f"/privacy/{action}/export").status_code == 404
    token = Tokens(settings).make(Purpose.UNSUBSCRIBE, sid)
    assert client.get(f"/u/{token}").status_code == 404


def test_the_privacy_token_expires_and_is_only_for_privacy(web: Web, session: Session) -> None:
    client, _, settings = web
    sid = _sid(session)
    prefs, action = _privacy_form(client, settings, sid)
    assert client.post(f"/privacy/{prefs}/export").status_code == 400  # another purpose
    with time_machine.travel(now_utc() + timedelta(hours=2)):
        late = client.post(f"/privacy/{action}/erase", data={"confirmed": "yes"})
    assert late.status_code == 400 and "does not work" in late.text
    session.rollback()
    assert session.get(Subscriber, sid).state is SubscriberState.ACTIVE  # type: ignore[union-attr]
    assert session.exec(select(Subscriber).where(
        Subscriber.language == Language.CY)).first() is not None


def test_unsubscribe_reasons_one_click_and_page(web: Web, session: Session) -> None:
    client, _, settings = web
    tokens = Tokens(settings)
    one, page = _sid(session), _sid(session, "rhys.price@example.org")
    client.post(f"/u/{tokens.make(Purpose.UNSUBSCRIBE, one)}",
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    form = client.get(f"/u/{tokens.make(Purpose.UNSUBSCRIBE, page)}")
    assert 'name="via" value="page"' in form.text
    client.post(f"/u/{tokens.make(Purpose.UNSUBSCRIBE, page)}",
                data={"List-Unsubscribe": "One-Click", "via": "page"})
    session.rollback()
    assert history.events_of(session, one)[-1].reason is ActionReason.ONE_CLICK
    assert history.events_of(session, page)[-1].reason is ActionReason.LINK


def test_a_web_signup_keeps_the_client_ip_hashed_when_enabled(engine: Engine,
                                                              session: Session,
                                                              db_settings: Settings) -> None:
    from digest.audience.keyed import Keyed

    for keep in (False, True):
        settings = db_settings.model_copy(update={"consent_ip": keep})
        with TestClient(create_app(settings, engine, MemoryTransport),
                        base_url="https://digest.example.org") as client:
            email = f"ip-{keep}@example.org"
            assert client.post("/subscribe", data={"email": email, "language": "cy"}
                               ).status_code == 200
        session.rollback()
        consent = history.consent_of(session, gdpr.find(session, email).id or 0)
        assert consent is not None and consent.requested_at is not None
        assert consent.ip_hash == (Keyed(settings).ip("testclient") if keep else None)

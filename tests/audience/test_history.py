"""Consent records and the subscriber history, written by every path that changes a person."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.audience import csv_import, history, self_service
from digest.audience.keyed import Keyed
from digest.delivery import run
from digest.delivery.transports.base import Outcome, SendResult
from digest.delivery.transports.memory import MemoryTransport
from digest.settings import Settings
from digest.store.models import (
    ActionReason,
    Consent,
    ConsentSource,
    Language,
    Subscriber,
    SubscriberAction,
    SubscriberState,
    now_utc,
)
from digest.tokens import Tokens
from tests.conftest import DATA
from tests.factories import add_sample_content, approved_issue

GOOD = DATA / "subscribers" / "good.csv"


def _sub(session: Session, email: str) -> Subscriber:
    return session.exec(select(Subscriber).where(Subscriber.email == email)).one()


def _actions(session: Session, sub: Subscriber) -> list[tuple[str, str | None, str, str]]:
    return [(e.action.value, e.reason.value if e.reason else None, e.state.value,
             e.language.value) for e in history.events_of(session, sub.id or 0)]


def test_an_import_records_file_line_and_time(session: Session) -> None:
    csv_import.import_file(session, GOOD)
    session.commit()
    gwyn = _sub(session, "gwyn@example.org")
    consent = session.get(Consent, gwyn.id)
    assert consent is not None and consent.source is ConsentSource.IMPORT
    assert (consent.import_file, consent.import_line) == (str(GOOD), 3)
    assert consent.at is not None and consent.confirmed_at is None and consent.ip_hash is None
    assert _actions(session, gwyn) == [("subscribed", "import", "active", "cy")]


def test_a_second_import_records_only_a_language_change(session: Session, tmp_path: Path
                                                        ) -> None:
    csv_import.import_file(session, GOOD)
    changed = tmp_path / "changed.csv"
    changed.write_text("email,name,language\ngwyn@example.org,Gwŷn ap Siôn,en\n",
                       encoding="utf-8")
    csv_import.import_file(session, changed)
    csv_import.import_file(session, changed)  # unchanged: nothing more recorded
    session.commit()
    gwyn = _sub(session, "gwyn@example.org")
    assert _actions(session, gwyn) == [("subscribed", "import", "active", "cy"),
                                       ("language_changed", "import", "active", "en")]
    assert [lang for _, lang in history.language_history(history.events_of(session, gwyn.id or 0))
            ] == [Language.CY, Language.EN]
    consent = session.get(Consent, gwyn.id)
    assert consent is not None and consent.import_file == str(GOOD)  # the first basis stays


def _signup(session: Session, settings: Settings, email: str, ip: str | None = "203.0.113.9"
            ) -> Subscriber:
    self_service.request(session, settings, Tokens(settings), email, "Elin", Language.CY,
                         ip or "unknown", now_utc(), client_ip=ip)
    return _sub(session, email)


def test_a_web_signup_keeps_request_and_confirmation_times_and_no_ip_by_default(
        session: Session, db_settings: Settings) -> None:
    sub = _signup(session, db_settings, "elin@example.org")
    consent = session.get(Consent, sub.id)
    assert consent is not None and consent.source is ConsentSource.WEB
    assert consent.requested_at is not None and consent.confirmed_at is None
    self_service.confirm(session, sub.id or 0)
    self_service.confirm(session, sub.id or 0)  # idempotent: recorded once
    session.commit()
    consent = session.get(Consent, sub.id)
    assert consent is not None and consent.confirmed_at is not None
    assert consent.requested_at is not None and consent.requested_at <= consent.confirmed_at
    assert consent.ip_hash is None
    assert all(e.ip_hash is None for e in history.events_of(session, sub.id or 0))
    assert _actions(session, sub) == [("subscribed", "web", "pending", "cy"),
                                      ("confirmed", "web", "active", "cy")]


def test_the_client_ip_is_kept_hashed_only_when_enabled(session: Session,
                                                        db_settings: Settings) -> None:
    settings = db_settings.model_copy(update={"consent_ip": True})
    sub = _signup(session, settings, "elin@example.org")
    self_service.confirm(session, sub.id or 0)
    session.commit()
    consent = session.get(Consent, sub.id)
    assert consent is not None and consent.ip_hash == Keyed(settings).ip("203.0.113.9")
    assert consent.ip_hash is not None and "203.0.113" not in consent.ip_hash
    assert len(consent.ip_hash) == 64


def test_a_confirmed_signup_replaces_an_import_as_the_basis(session: Session,
                                                            db_settings: Settings) -> None:
    csv_import.import_file(session, GOOD)
    gwyn = _sub(session, "gwyn@example.org")
    self_service.unsubscribe(session, gwyn.id or 0)
    _signup(session, db_settings, "gwyn@example.org")
    consent = session.get(Consent, gwyn.id)
    assert consent is not None and consent.source is ConsentSource.IMPORT  # not confirmed yet
    self_service.confirm(session, gwyn.id or 0)
    session.commit()
    consent = session.get(Consent, gwyn.id)
    assert consent is not None and consent.source is ConsentSource.WEB
    assert consent.import_file is None and consent.confirmed_at is not None


def test_language_unsubscribe_and_resubscribe_are_recorded_with_their_reason(
        session: Session) -> None:
    csv_import.import_file(session, GOOD)
    sub = _sub(session, "gwyn@example.org")
    sid = sub.id or 0
    self_service.set_language(session, sid, Language.BOTH)
    self_service.set_language(session, sid, Language.BOTH)  # no change: nothing recorded
    self_service.unsubscribe(session, sid, reason=ActionReason.ONE_CLICK)
    self_service.unsubscribe(session, sid)  # already out: nothing recorded
    self_service.resubscribe(session, sid)
    self_service.unsubscribe(session, sid, reason=ActionReason.EDITOR, actor="sian")
    session.commit()
    assert _actions(session, sub)[1:] == [
        ("language_changed", "link", "active", "both"),
        ("unsubscribed", "one_click", "unsubscribed", "both"),
        ("resubscribed", "link", "active", "both"),
        ("unsubscribed", "editor", "unsubscribed", "both")]
    assert history.events_of(session, sid)[-1].actor == "sian"
    assert history.why(history.events_of(session, sid)).startswith("unsubscribed since ")


def test_a_permanent_failure_records_a_bounce(engine: Engine, session: Session,
                                             db_settings: Settings) -> None:
    add_sample_content(session)
    csv_import.import_file(session, GOOD)
    issue = approved_issue(session, db_settings)
    transport = MemoryTransport(script={
        "gwyn@example.org": SendResult(Outcome.PERMANENT, "550 5.1.1 <gwyn@example.org> unknown")})
    run.send_issue(engine, db_settings, issue.id or 0, lambda: transport)
    session.expire_all()
    gwyn = _sub(session, "gwyn@example.org")
    assert gwyn.state is SubscriberState.BOUNCED
    events = history.events_of(session, gwyn.id or 0)
    assert [(e.action, e.reason, e.state, e.actor) for e in events][-1] == (
        SubscriberAction.BOUNCED, ActionReason.SMTP, SubscriberState.BOUNCED, "sender")
    assert events[-1].detail is not None and events[-1].detail.startswith("550 5.1.1")
    lines = history.deliveries_of(session, gwyn.id or 0)
    assert [(d.period, d.state.value) for d in lines] == [(issue.period, "failed")]
    others = _sub(session, "rhys.price@example.org")
    assert [e.action for e in history.events_of(session, others.id or 0)] == [
        SubscriberAction.SUBSCRIBED]

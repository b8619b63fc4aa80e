"""Sign-up as a service (the pages are tested over HTTP in tests/web): its three throttles,
and the confirmation that is returned to send after the commit, not sent before it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from digest.audience import gdpr, self_service
from digest.audience.self_service import Signup
from digest.settings import Settings
from digest.store.models import Language, Subscriber, SubscriberState
from digest.tokens import Tokens
from tests.factories import AS_OF


def sign_up(session: Session, settings: Settings, email: str, client: str = "192.0.2.1",
            minutes: float = 0) -> self_service.SignupResult:
    result = self_service.request(session, settings, Tokens(settings), email, "Siân",
                                  Language.CY, client, AS_OF + timedelta(minutes=minutes))
    session.commit()
    return result


def test_signup_returns_the_confirmation_to_send_later(session: Session,
                                                       db_settings: Settings) -> None:
    result = sign_up(session, db_settings, "New@Example.org")
    assert result.outcome is Signup.CONFIRMATION_SENT and result.notice is not None
    assert result.notice.to == "new@example.org" and "/confirm/" in result.notice.body
    assert session.exec(select(Subscriber)).one().state == "pending"


def test_each_limit_holds_and_a_refusal_sends_nothing(session: Session,
                                                      db_settings: Settings) -> None:
    settings = db_settings.model_copy(update={"signup_limit_per_hour": 2,
                                              "signup_client_limit_per_hour": 3,
                                              "signup_total_limit_per_hour": 5})
    outcomes = [sign_up(session, settings, "a@example.org").outcome for _ in range(3)]
    assert outcomes[-1] is Signup.RATE_LIMITED  # per address
    third = sign_up(session, settings, "b@example.org")
    assert third.outcome is Signup.CONFIRMATION_SENT
    fourth = sign_up(session, settings, "c@example.org")  # the client's fourth sign-up
    assert fourth.outcome is Signup.RATE_LIMITED and fourth.notice is None
    assert fourth.retry_after == 3600
    for n, client in enumerate(("198.51.100.1", "198.51.100.2")):
        assert sign_up(session, settings, f"d{n}@example.org", client).outcome \
            is Signup.CONFIRMATION_SENT
    overall = sign_up(session, settings, "e@example.org", "203.0.113.9")
    assert overall.outcome is Signup.RATE_LIMITED  # five in the hour from everyone together
    later = sign_up(session, settings, "e@example.org", "203.0.113.9", minutes=61)
    assert later.outcome is Signup.CONFIRMATION_SENT


def test_names_lose_control_characters(session: Session, db_settings: Settings) -> None:
    self_service.request(session, db_settings, Tokens(db_settings), "nul@example.org",
                         "Nia\x00 Jones\r\nBcc: x", Language.EN, "192.0.2.1", AS_OF)
    session.commit()
    assert session.exec(select(Subscriber.name)).one() == "Nia  Jones  Bcc: x"


def test_a_confirmation_link_names_nobody_once_its_subscriber_is_erased(
        session: Session, db_settings: Settings) -> None:
    sign_up(session, db_settings, "gone@example.org")
    sub = session.exec(select(Subscriber)).one()
    gdpr.erase(session, db_settings, sub.id or 0, actor="editor")
    session.commit()
    with pytest.raises(LookupError):
        self_service.confirm(session, sub.id or 0)
    assert session.exec(select(Subscriber.state)).one() is SubscriberState.ERASED

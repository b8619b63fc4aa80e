"""Sign-up as a service (the pages are tested over HTTP in tests/web): its three throttles,
and the confirmation that is returned to send after the commit, not sent before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from digest.audience import gdpr, self_service
from digest.audience.self_service import Signup
from digest.delivery import outbox
from digest.settings import Settings
from digest.store.models import (
    ActionReason,
    Delivery,
    DeliveryState,
    Language,
    Subscriber,
    SubscriberAction,
    SubscriberEvent,
    SubscriberState,
)
from digest.tokens import Tokens
from tests.factories import AS_OF, add_sample_content, add_subscribers, approved_issue


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


def test_names_lose_bidirectional_controls(session: Session, db_settings: Settings) -> None:
    # A right-to-left override would show "Siân Jones" reversed in the editors' list and in
    # the To: header; the text stored is what is shown.
    self_service.request(session, db_settings, Tokens(db_settings), "rlo@example.org",
                         "\u202eSiân\u202c Jones\u2066\u200f", Language.EN, "192.0.2.1",
                         AS_OF)
    session.commit()
    assert session.exec(select(Subscriber.name)).one() == "Siân Jones"


def test_an_old_confirmation_link_does_not_undo_an_unsubscribe(
        session: Session, db_settings: Settings) -> None:
    tokens = Tokens(db_settings)
    sign_up(session, db_settings, "back@example.org")
    sub = session.exec(select(Subscriber)).one()
    signed = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    self_service.confirm(session, sub.id or 0, signed)
    self_service.unsubscribe(session, sub.id or 0)
    session.commit()
    with pytest.raises(self_service.StaleConfirmation):  # the link from before
        self_service.confirm(session, sub.id or 0, signed)
    session.rollback()
    assert session.get(Subscriber, sub.id).state is SubscriberState.UNSUBSCRIBED  # type: ignore[union-attr]
    # A new sign-up sends a new link, signed after they left: that one works.
    self_service.request(session, db_settings, tokens, "back@example.org", "", Language.CY,
                         "192.0.2.1", AS_OF)
    again = self_service.confirm(session, sub.id or 0, datetime.now(UTC) + timedelta(seconds=1))
    assert again.state is SubscriberState.ACTIVE


def test_a_confirmation_link_names_nobody_once_its_subscriber_is_erased(
        session: Session, db_settings: Settings) -> None:
    sign_up(session, db_settings, "gone@example.org")
    sub = session.exec(select(Subscriber)).one()
    gdpr.erase(session, db_settings, sub.id or 0, actor="editor")
    session.commit()
    with pytest.raises(LookupError):
        self_service.confirm(session, sub.id or 0)
    assert session.exec(select(Subscriber.state)).one() is SubscriberState.ERASED


def test_unsubscribing_many_treats_each_as_unsubscribe_does(session: Session,
                                                           db_settings: Settings) -> None:
    add_sample_content(session)
    people = add_subscribers(session, per_language=2)  # six, all active
    issue = approved_issue(session, db_settings)
    outbox.create_deliveries(session, issue.id or 0)
    active, bounced, gone, erased = people[0], people[1], people[2], people[3]
    bounced.state, gone.state = SubscriberState.BOUNCED, SubscriberState.UNSUBSCRIBED
    gdpr.erase(session, db_settings, erased.id or 0, "cli")
    left_alone = people[4]
    session.commit()
    asked = [active.id or 0, bounced.id or 0, gone.id or 0, erased.id or 0, 424242,
             active.id or 0]  # an erased one, an unknown id and a repeat among them
    left = self_service.unsubscribe_many(session, asked, ActionReason.ONE_CLICK)
    session.commit()
    assert set(left) == {active.id, bounced.id, gone.id}  # not the erased, not the unknown
    assert left[active.id or 0] == self_service.Left(active.email, active.language)
    session.expire_all()
    states = {p.id: p.state for p in session.exec(select(Subscriber))}
    assert states[active.id] is states[bounced.id] is SubscriberState.UNSUBSCRIBED
    assert states[left_alone.id] is SubscriberState.ACTIVE
    assert states[erased.id] is SubscriberState.ERASED
    # One event each for those it changed, none for the one already unsubscribed.
    events = session.exec(select(SubscriberEvent).where(
        SubscriberEvent.action == SubscriberAction.UNSUBSCRIBED)).all()
    assert sorted((e.subscriber_id, e.reason, e.state, e.language) for e in events) == sorted(
        (p.id, ActionReason.ONE_CLICK, SubscriberState.UNSUBSCRIBED, p.language)
        for p in (active, bounced))
    # Their messages not yet sent are skipped; everyone else's stay queued.
    rows: dict[int | None, DeliveryState] = {
        d.subscriber_id: d.state for d in session.exec(select(Delivery))}
    assert rows[active.id] is rows[bounced.id] is DeliveryState.SKIPPED
    assert rows[left_alone.id] is DeliveryState.PENDING


def test_unsubscribe_returns_the_subscriber_as_stored(session: Session) -> None:
    [sub, *_] = add_subscribers(session, per_language=1)
    session.commit()
    # Changes pending in the session are written first, not over the unsubscribe.
    sub.name, sub.state = "Pending change", SubscriberState.BOUNCED
    got = self_service.unsubscribe(session, sub.id or 0)
    session.commit()
    assert got is sub and got.state is SubscriberState.UNSUBSCRIBED  # the session's object
    session.expire_all()
    again = session.get(Subscriber, sub.id)
    assert again is not None and again.name == "Pending change"
    assert again.state is SubscriberState.UNSUBSCRIBED
    with pytest.raises(LookupError):
        self_service.unsubscribe(session, 424242)


def test_a_sign_up_for_a_known_address_changes_nothing_until_it_is_confirmed(
        session: Session, db_settings: Settings) -> None:
    """Anyone may type a known address into the form: the row keeps its name, language and
    state; the owner's confirmation re-activates it in the language the request asked for."""
    tokens = Tokens(db_settings)
    sign_up(session, db_settings, "dafydd@example.org")  # Siân, Welsh
    sub = session.exec(select(Subscriber)).one()
    self_service.confirm(session, sub.id or 0)
    self_service.unsubscribe(session, sub.id or 0)
    session.commit()
    self_service.request(session, db_settings, tokens, "dafydd@example.org",
                         "Attacker Chosen Name", Language.BOTH, "198.51.100.7", AS_OF)
    session.commit()
    session.refresh(sub)
    assert (sub.name, sub.language, sub.state) == ("Siân", Language.CY,
                                                   SubscriberState.UNSUBSCRIBED)
    again = self_service.confirm(session, sub.id or 0, datetime.now(UTC) + timedelta(seconds=1))
    session.commit()
    assert (again.name, again.language, again.state) == ("Siân", Language.BOTH,
                                                         SubscriberState.ACTIVE)
    history = self_service_history(session, sub.id or 0)
    assert [lang for _, lang in history] == [Language.CY, Language.BOTH]  # no phantom switch


def self_service_history(session: Session, subscriber_id: int) -> list[tuple[datetime, Language]]:
    from digest.audience import history

    return history.language_history(history.events_of(session, subscriber_id))

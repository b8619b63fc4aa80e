"""PostgreSQL: a change that reads a subscriber and then writes takes the row's lock first
(`self_service.get(..., lock=True)`), so it waits for another transaction that changed the
row and decides on what that one committed: it never re-activates someone who has just
unsubscribed or been erased, nor writes a history event with their state from before. A
bounce report decides on the state so committed, too."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.audience import csv_import, gdpr, self_service
from digest.bounces import service as bounces
from digest.bounces.events import Feedback
from digest.settings import Settings
from digest.store.models import (
    FeedbackKind,
    FeedbackSource,
    Language,
    Subscriber,
    SubscriberAction,
    SubscriberEvent,
    SubscriberState,
    now_utc,
)
from digest.tokens import Tokens

pytestmark = [pytest.mark.postgres,
              pytest.mark.parametrize("db_settings", ["postgresql"], indirect=True)]


def _person(session: Session, settings: Settings, state: SubscriberState) -> int:
    """A web sign-up (pending), confirmed when `state` is active, unsubscribed when asked."""
    self_service.request(session, settings, Tokens(settings), "nia@example.org", "Nia",
                         Language.CY, "192.0.2.5", now_utc())
    sid = gdpr.find(session, "nia@example.org").id or 0
    if state is not SubscriberState.PENDING:
        self_service.confirm(session, sid)
    if state is SubscriberState.UNSUBSCRIBED:
        self_service.unsubscribe(session, sid)
    session.commit()
    return sid


def _while_held(engine: Engine, hold: Callable[[Session], Any],
                act: Callable[[Session], Any], *, before: Callable[[Session], Any] | None = None
                ) -> tuple[bool, Any]:
    """Run `hold` in one transaction and, while it is open, `act` (then a commit) in another,
    on a thread; commit `hold`'s. Whether `act` waited for that commit, and what it returned
    or raised. `before` runs in `act`'s session first, before `hold` (a page's first read)."""
    outcome: list[Any] = []
    with Session(engine, expire_on_commit=False) as mine, \
            Session(engine, expire_on_commit=False) as theirs:
        if before is not None:
            before(mine)

        def run() -> None:
            try:
                outcome.append(act(mine))
                mine.commit()
            except Exception as exc:  # handed to the test
                mine.rollback()
                outcome.append(exc)

        hold(theirs)
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        time.sleep(0.3)
        waited = thread.is_alive()
        theirs.commit()
        thread.join(10)
        assert not thread.is_alive(), "still waiting after the other transaction committed"
    return waited, outcome[0]


def _state(engine: Engine, sid: int) -> SubscriberState:
    with Session(engine) as s:
        sub = s.get(Subscriber, sid)
        assert sub is not None
        return sub.state


def _events(engine: Engine, sid: int) -> list[tuple[SubscriberAction, SubscriberState]]:
    with Session(engine) as s:
        return [(e.action, e.state) for e in s.exec(
            select(SubscriberEvent).where(SubscriberEvent.subscriber_id == sid)
            .order_by(SubscriberEvent.id))]  # type: ignore[arg-type]


def test_a_confirmation_waits_for_an_unsubscribe_and_does_not_undo_it(
        engine: Engine, session: Session, db_settings: Settings) -> None:
    sid = _person(session, db_settings, SubscriberState.PENDING)
    signed = now_utc().replace(microsecond=0) - timedelta(seconds=2)  # the link's time
    waited, outcome = _while_held(
        engine, lambda s: self_service.unsubscribe(s, sid),
        lambda s: self_service.confirm(s, sid, signed))
    assert waited and isinstance(outcome, self_service.StaleConfirmation), outcome
    assert _state(engine, sid) is SubscriberState.UNSUBSCRIBED


def test_a_language_change_waits_for_an_unsubscribe_and_records_its_state(
        engine: Engine, session: Session, db_settings: Settings) -> None:
    sid = _person(session, db_settings, SubscriberState.ACTIVE)
    # The preferences page reads the subscriber before the change, as the web layer does.
    waited, outcome = _while_held(
        engine, lambda s: self_service.unsubscribe(s, sid),
        lambda s: self_service.set_language(s, sid, Language.EN),
        before=lambda s: self_service.get(s, sid))
    assert waited and isinstance(outcome, Subscriber), outcome
    assert _state(engine, sid) is SubscriberState.UNSUBSCRIBED
    assert _events(engine, sid)[-2:] == [
        (SubscriberAction.UNSUBSCRIBED, SubscriberState.UNSUBSCRIBED),
        (SubscriberAction.LANGUAGE_CHANGED, SubscriberState.UNSUBSCRIBED)]


@pytest.mark.parametrize("change", ["resubscribe", "confirm", "set_language"])
def test_a_change_waits_for_an_erasure_and_finds_nobody(
        engine: Engine, session: Session, db_settings: Settings, change: str) -> None:
    sid = _person(session, db_settings, SubscriberState.UNSUBSCRIBED)
    act: Callable[[Session], Any] = {
        "resubscribe": lambda s: self_service.resubscribe(s, sid),
        "confirm": lambda s: self_service.confirm(s, sid),
        "set_language": lambda s: self_service.set_language(s, sid, Language.BOTH)}[change]
    waited, outcome = _while_held(
        engine, lambda s: gdpr.erase(s, db_settings, sid, "cli"), act,
        before=lambda s: self_service.get(s, sid))
    assert waited and isinstance(outcome, LookupError), outcome
    assert _state(engine, sid) is SubscriberState.ERASED
    assert _events(engine, sid)[-1] == (SubscriberAction.ERASED, SubscriberState.ERASED)


def test_two_erasures_side_by_side_erase_once(
        engine: Engine, session: Session, db_settings: Settings) -> None:
    sid = _person(session, db_settings, SubscriberState.ACTIVE)
    waited, outcome = _while_held(
        engine, lambda s: gdpr.erase(s, db_settings, sid, "cli"),
        lambda s: gdpr.erase(s, db_settings, sid, "editor"))
    assert waited and isinstance(outcome, gdpr.NotFound), outcome
    assert [a for a, _ in _events(engine, sid)].count(SubscriberAction.ERASED) == 1


def test_a_sign_up_waits_for_a_confirmation_and_finds_the_person_active(
        engine: Engine, session: Session, db_settings: Settings) -> None:
    sid = _person(session, db_settings, SubscriberState.PENDING)
    waited, outcome = _while_held(
        engine, lambda s: self_service.confirm(s, sid),
        lambda s: self_service.request(s, db_settings, Tokens(db_settings), "NIA@example.org",
                                       "Nia", Language.EN, "192.0.2.6", now_utc()),
        before=lambda s: self_service.get(s, sid))
    assert waited and outcome.outcome is self_service.Signup.ALREADY_ACTIVE, outcome
    assert _state(engine, sid) is SubscriberState.ACTIVE
    assert _events(engine, sid)[-1] == (SubscriberAction.CONFIRMED, SubscriberState.ACTIVE)


@pytest.mark.parametrize("leave", ["unsubscribe", "erase"])
def test_a_bounce_report_waits_for_an_unsubscribe_or_erasure_and_decides_on_it(
        engine: Engine, session: Session, db_settings: Settings, leave: str) -> None:
    sid = _person(session, db_settings, SubscriberState.ACTIVE)
    hold: Callable[[Session], Any] = {
        "unsubscribe": lambda s: self_service.unsubscribe(s, sid),
        "erase": lambda s: gdpr.erase(s, db_settings, sid, "cli")}[leave]
    report = Feedback(FeedbackKind.HARD, "postmark:77", recipient="nia@example.org",
                      status="5.1.1", diagnostic="smtp; 550 5.1.1 user unknown")
    waited, outcome = _while_held(
        engine, hold, lambda s: bounces.process_feedback(s, db_settings, report,
                                                         FeedbackSource.POSTMARK))
    assert waited and isinstance(outcome, bounces.Processed), outcome
    if leave == "unsubscribe":  # matched by the address, as it was committed
        assert outcome.new_state is None and "already unsubscribed" in outcome.detail
        assert _state(engine, sid) is SubscriberState.UNSUBSCRIBED
        assert _events(engine, sid)[-1][0] is SubscriberAction.UNSUBSCRIBED
    else:
        assert outcome.new_state is None and "the subscriber was erased" in outcome.detail
        assert _state(engine, sid) is SubscriberState.ERASED


def test_an_import_waits_for_an_unsubscribe_and_leaves_the_person_alone(
        engine: Engine, session: Session, db_settings: Settings, tmp_path: Path) -> None:
    sid = _person(session, db_settings, SubscriberState.ACTIVE)
    path = tmp_path / "list.csv"
    path.write_text("email,name,language\nnia@example.org,Nia Wyn,en\nnew@example.org,New,cy\n",
                    encoding="utf-8")
    waited, outcome = _while_held(engine, lambda s: self_service.unsubscribe(s, sid),
                                  lambda s: csv_import.import_file(s, path))
    assert waited and isinstance(outcome, csv_import.ImportReport), outcome
    assert (outcome.added, outcome.updated, outcome.kept_inactive) == (1, 0, 1)
    assert _events(engine, sid)[-1] == (SubscriberAction.UNSUBSCRIBED,
                                        SubscriberState.UNSUBSCRIBED)
    with Session(engine) as s:
        nia = s.get(Subscriber, sid)
        assert nia is not None and (nia.name, nia.language) == ("Nia", Language.CY)

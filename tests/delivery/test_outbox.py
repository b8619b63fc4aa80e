"""The outbox itself, on both databases: rows, claims, leases, releases and outcome writes."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.delivery import outbox, run
from digest.delivery.outbox import Attempt, RetryPolicy
from digest.delivery.outcomes import OutcomeWriter
from digest.delivery.transports.base import Outcome, SendResult
from digest.settings import Settings
from digest.store.models import (
    Delivery,
    DeliveryState,
    Issue,
    Language,
    Subscriber,
    SubscriberState,
)
from tests.delivery.conftest import LEASE, rows
from tests.factories import AS_OF

SECOND = timedelta(seconds=1)
ACCEPTED = SendResult(Outcome.ACCEPTED, "250 2.0.0 ok")
LATER = SendResult(Outcome.TEMPORARY, "451 4.7.1 try later")
REFUSED = SendResult(Outcome.PERMANENT, "550 5.1.1 no such user")
POLICY = RetryPolicy(base=timedelta(minutes=1), cap=timedelta(hours=1),
                     deadline=timedelta(hours=24))


@pytest.fixture
def issue_id(session: Session, issue: Issue) -> int:
    """The issue's id, its outbox created and committed (9 pending rows)."""
    assert issue.id is not None
    assert outbox.create_deliveries(session, issue.id) == 9
    session.commit()
    return issue.id


def ids(session: Session, issue: Issue) -> list[int]:
    """The outbox row ids, lowest first."""
    return [r.id or 0 for r in rows(session, issue)]


def update(engine: Engine, row_ids: list[int], **values: Any) -> None:
    """Set columns of some outbox rows directly, as an earlier run would have left them."""
    with engine.begin() as conn:
        conn.execute(sa.update(Delivery).where(Delivery.id.in_(row_ids))  # type: ignore[union-attr]
                     .values(**values))


def write(engine: Engine, *attempts: Attempt, policy: RetryPolicy = POLICY) -> None:
    """Record outcomes as a send run does, on a writer of its own."""
    writer = OutcomeWriter(engine)
    try:
        writer.write(list(attempts), policy)
    finally:
        writer.close()


def by_id(session: Session, issue: Issue) -> dict[int, Delivery]:
    """The outbox rows as stored now, by id."""
    return {r.id or 0: r for r in rows(session, issue)}


# Creating rows

def test_delivery_rows_only_for_active_subscribers_and_only_once(
        session: Session, issue: Issue) -> None:
    assert issue.id is not None
    assert outbox.create_deliveries(session, issue.id) == 9
    assert outbox.create_deliveries(session, issue.id) == 0
    session.commit()
    made = rows(session, issue)
    active = {s.id for s in session.exec(select(Subscriber).where(
        Subscriber.state == SubscriberState.ACTIVE))}
    assert {r.subscriber_id for r in made} == active and len(made) == 9
    assert {(r.state, r.attempts, r.claimed_by) for r in made} == {(DeliveryState.PENDING, 0, None)}
    with pytest.raises(sa.exc.IntegrityError):  # the database itself refuses a duplicate
        session.add(Delivery(issue_id=issue.id, subscriber_id=made[0].subscriber_id,
                             state=DeliveryState.PENDING))
        session.commit()
    session.rollback()


def test_a_subscriber_confirmed_later_gets_a_row_on_the_next_run(
        session: Session, issue: Issue, issue_id: int) -> None:
    newcomer = session.exec(select(Subscriber).where(Subscriber.email == "new@example.org")).one()
    newcomer.state = SubscriberState.ACTIVE
    session.commit()
    assert outbox.create_deliveries(session, issue_id) == 1
    session.commit()
    assert newcomer.id in {r.subscriber_id for r in rows(session, issue)}


# Claiming

def test_a_claim_takes_at_most_its_limit_lowest_ids_first_and_marks_them_held(
        engine: Engine, session: Session, issue: Issue, issue_id: int) -> None:
    claimed = outbox.claim(engine, issue_id, "run-a", 4, AS_OF, LEASE)
    all_ids = ids(session, issue)
    assert [c.delivery_id for c in claimed] == all_ids[:4]
    assert {(c.attempts, c.first_attempt_at) for c in claimed} == {(1, AS_OF)}
    stored = by_id(session, issue)
    subscribers = {s.id: s for s in session.exec(select(Subscriber))}
    for c in claimed:
        row, sub = stored[c.delivery_id], subscribers[c.subscriber_id]
        assert (row.state, row.claimed_by, row.claimed_at) == (
            DeliveryState.SENDING, "run-a", AS_OF)
        assert (row.attempts, row.first_attempt_at) == (1, AS_OF)
        assert (c.email, c.name, c.language) == (sub.email, sub.name, sub.language)
    assert all(stored[i].state is DeliveryState.PENDING for i in all_ids[4:])
    assert len(outbox.claim(engine, issue_id, "run-a", 100, AS_OF, LEASE)) == 5


def test_a_claim_takes_pending_rows_then_due_retries_then_stale_claims(
        engine: Engine, session: Session, issue: Issue, issue_id: int) -> None:
    r = ids(session, issue)
    first = AS_OF - timedelta(hours=1)
    # Lowest ids: a dead run's claims; then retries, due and not due; pending last.
    stale, due, not_due, pending = r[0:2], r[2:4], r[4:5], r[5:9]
    update(engine, stale, state=DeliveryState.SENDING, claimed_by="dead", attempts=1,
           claimed_at=AS_OF - LEASE - SECOND, first_attempt_at=first)
    update(engine, due, state=DeliveryState.RETRY, attempts=2, first_attempt_at=first,
           next_attempt_at=AS_OF)
    update(engine, not_due, state=DeliveryState.RETRY, attempts=2, first_attempt_at=first,
           next_attempt_at=AS_OF + SECOND)

    taken = outbox.claim(engine, issue_id, "run", 5, AS_OF, LEASE)
    assert {c.delivery_id for c in taken} == {*pending, due[0]}
    taken = outbox.claim(engine, issue_id, "run", 2, AS_OF, LEASE)
    assert {c.delivery_id for c in taken} == {due[1], stale[0]}
    taken += outbox.claim(engine, issue_id, "run", 5, AS_OF, LEASE)
    assert {c.delivery_id for c in taken} == {due[1], *stale}
    assert outbox.claim(engine, issue_id, "run", 5, AS_OF, LEASE) == []  # not_due waits
    # A retried or taken-over row keeps its first attempt (the deadline counts from there).
    assert {(c.attempts, c.first_attempt_at) for c in taken} == {(2, first), (3, first)}
    stored = by_id(session, issue)
    assert {stored[c.delivery_id].first_attempt_at for c in taken} == {first}
    assert stored[not_due[0]].state is DeliveryState.RETRY
    assert {stored[i].claimed_by for i in stale} == {"run"}
    assert [c.delivery_id for c in outbox.claim(
        engine, issue_id, "run", 5, AS_OF + SECOND, LEASE)] == not_due


def test_a_claim_skips_the_rows_of_subscribers_who_left(
        engine: Engine, session: Session, issue: Issue, issue_id: int) -> None:
    leaver = session.exec(select(Subscriber).where(Subscriber.email == "en0@example.org")).one()
    leaver.state = SubscriberState.UNSUBSCRIBED
    session.commit()
    taken = outbox.claim(engine, issue_id, "run", 9, AS_OF, LEASE)
    assert len(taken) == 8 and leaver.id not in {c.subscriber_id for c in taken}
    row = next(r for r in rows(session, issue) if r.subscriber_id == leaver.id)
    assert (row.state, row.claimed_by) == (DeliveryState.SKIPPED, None)
    assert row.last_error == "subscriber no longer active"


def test_runs_claiming_at_the_same_time_never_get_the_same_row(
        engine: Engine, session: Session, issue: Issue, issue_id: int) -> None:
    start = threading.Barrier(4)
    got: dict[str, list[int]] = {}

    def claimer(run_id: str) -> None:
        mine = got.setdefault(run_id, [])
        start.wait()
        while taken := outbox.claim(engine, issue_id, run_id, 2, AS_OF, LEASE):
            mine += [c.delivery_id for c in taken]

    threads = [threading.Thread(target=claimer, args=(f"run-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for mine in got.values() for i in mine]
    assert sorted(every) == ids(session, issue)  # each row once, none left over
    held = {r.id: r.claimed_by for r in rows(session, issue)}
    assert all(held[i] == run_id for run_id, mine in got.items() for i in mine)


# Leases

def test_a_claim_is_taken_over_only_once_its_lease_has_run_out(
        engine: Engine, session: Session, issue: Issue, issue_id: int) -> None:
    first = outbox.claim(engine, issue_id, "run-a", 9, AS_OF, LEASE)
    assert outbox.claim(engine, issue_id, "run-b", 9, AS_OF + LEASE - SECOND, LEASE) == []
    assert outbox.claim(engine, issue_id, "run-b", 9, AS_OF + LEASE, LEASE) == []
    later = AS_OF + LEASE + timedelta(microseconds=1)
    taken = outbox.claim(engine, issue_id, "run-b", 9, later, LEASE)
    assert [c.delivery_id for c in taken] == [c.delivery_id for c in first]
    assert {(c.attempts, c.first_attempt_at) for c in taken} == {(2, AS_OF)}
    assert {(r.claimed_by, r.claimed_at) for r in rows(session, issue)} == {("run-b", later)}


def test_a_heartbeat_extends_only_its_own_runs_lease(
        engine: Engine, session: Session, issue: Issue, issue_id: int) -> None:
    a = outbox.claim(engine, issue_id, "run-a", 4, AS_OF, LEASE)
    b = outbox.claim(engine, issue_id, "run-b", 5, AS_OF, LEASE)
    beat = AS_OF + timedelta(seconds=50)
    outbox.heartbeat(engine, "run-a", beat)
    taken = outbox.claim(engine, issue_id, "run-c", 9, AS_OF + LEASE + SECOND, LEASE)
    assert {c.delivery_id for c in taken} == {c.delivery_id for c in b}  # a's are alive
    stored = by_id(session, issue)
    assert {stored[c.delivery_id].claimed_at for c in a} == {beat}
    taken = outbox.claim(engine, issue_id, "run-c", 9, beat + LEASE + SECOND, LEASE)
    assert {c.delivery_id for c in taken} == {c.delivery_id for c in a}


# Releasing

def test_release_gives_rows_back_without_counting_the_attempt(
        engine: Engine, session: Session, issue: Issue, issue_id: int) -> None:
    claimed = outbox.claim(engine, issue_id, "run-a", 4, AS_OF, LEASE)
    outbox.release(engine, claimed)
    stored = by_id(session, issue)
    for c in claimed:
        row = stored[c.delivery_id]
        assert (row.state, row.claimed_by, row.claimed_at, row.attempts) == (
            DeliveryState.PENDING, None, None, 0)
    again = outbox.claim(engine, issue_id, "run-b", 4, AS_OF, LEASE)  # at once, no lease
    assert [c.delivery_id for c in again] == [c.delivery_id for c in claimed]
    assert {c.attempts for c in again} == {1}
    outbox.release(engine, [])  # nothing to give back: no statement


def test_release_leaves_finished_rows_and_other_runs_claims_alone(
        engine: Engine, session: Session, issue: Issue, issue_id: int) -> None:
    stale = outbox.claim(engine, issue_id, "run-a", 9, AS_OF, LEASE)  # run A froze
    write(engine, Attempt(stale[0], ACCEPTED, "<a@x>", AS_OF))
    later = AS_OF + LEASE + SECOND
    taken = outbox.claim(engine, issue_id, "run-b", 9, later, LEASE)  # B took the rest over
    assert len(taken) == 8
    outbox.release(engine, stale)  # A wakes up and stops cleanly
    stored = by_id(session, issue)
    assert stored[stale[0].delivery_id].state is DeliveryState.SENT
    assert {(stored[c.delivery_id].state, stored[c.delivery_id].claimed_by) for c in taken} == {
        (DeliveryState.SENDING, "run-b")}
    assert outbox.claim(engine, issue_id, "run-c", 9, later, LEASE) == []


# Recording outcomes

def test_outcome_writer_stores_what_the_orm_and_the_claims_read_back(
        engine: Engine, session: Session, db_settings: Settings, issue: Issue,
        issue_id: int) -> None:
    sent, retry, bounce = outbox.claim(engine, issue_id, "run", 3, AS_OF, LEASE)
    at = AS_OF + timedelta(seconds=1, microseconds=5)
    policy = run.retry_policy(db_settings)
    write(engine, Attempt(sent, ACCEPTED, "<a@x>", at), Attempt(retry, LATER, "<b@x>", at),
          Attempt(bounce, REFUSED, "<c@x>", at), policy=policy)
    stored = by_id(session, issue)
    done = stored[sent.delivery_id]
    assert (done.state, done.sent_at, done.message_id) == (DeliveryState.SENT, at, "<a@x>")
    assert (done.relay_reply, done.last_error, done.language) == (
        ACCEPTED.reply, None, sent.language)
    due = policy.next_attempt(retry.attempts, retry.first_attempt_at, at)
    assert due is not None
    again = stored[retry.delivery_id]
    assert (again.state, again.next_attempt_at, again.last_error, again.sent_at) == (
        DeliveryState.RETRY, due, LATER.reply, None)
    refused = stored[bounce.delivery_id]
    assert (refused.state, refused.last_error) == (DeliveryState.FAILED, REFUSED.reply)
    assert session.get(Subscriber, bounce.subscriber_id).state is SubscriberState.BOUNCED  # type: ignore[union-attr]
    assert session.get(Subscriber, sent.subscriber_id).state is SubscriberState.ACTIVE  # type: ignore[union-attr]
    assert all(r.claimed_by is None for r in stored.values()
               if r.state is not DeliveryState.PENDING)
    # The stored due time compares as a time in the claim's query: not due a microsecond
    # early, due exactly on time.
    pending = [i for i, r in stored.items() if r.state is DeliveryState.PENDING]
    update(engine, pending, state=DeliveryState.SENT)
    assert outbox.claim(engine, issue_id, "run", 9, due - timedelta(microseconds=1), LEASE) == []
    later = outbox.claim(engine, issue_id, "run", 9, due, LEASE)
    assert [c.delivery_id for c in later] == [retry.delivery_id]


def test_a_group_without_a_bounce_is_stored_as_one_with_a_bounce(
        engine: Engine, session: Session, issue: Issue, issue_id: int) -> None:
    # On PostgreSQL the first group is one statement (UPDATE ... FROM VALUES); a bounce
    # makes the second an explicit transaction of several. They must store the same.
    one, two, three, four, five = outbox.claim(engine, issue_id, "run", 5, AS_OF, LEASE)
    at = AS_OF + timedelta(seconds=2, microseconds=7)
    write(engine, Attempt(one, ACCEPTED, "<m@x>", at), Attempt(two, LATER, "<m@x>", at))
    write(engine, Attempt(three, ACCEPTED, "<m@x>", at), Attempt(four, LATER, "<m@x>", at),
          Attempt(five, REFUSED, "<m@x>", at))
    stored = by_id(session, issue)

    def kept(did: int) -> tuple[Any, ...]:
        r = stored[did]
        return (r.state, r.sent_at, r.message_id, r.relay_reply, r.last_error,
                r.next_attempt_at, r.claimed_by, r.attempts)

    assert kept(one.delivery_id) == kept(three.delivery_id)
    assert kept(two.delivery_id) == kept(four.delivery_id)
    assert kept(one.delivery_id)[:2] == (DeliveryState.SENT, at)
    assert kept(two.delivery_id)[0] is DeliveryState.RETRY
    assert [stored[r.delivery_id].language for r in (one, two)] == [one.language, two.language]


def test_a_temporary_failure_past_the_deadline_is_final(
        engine: Engine, session: Session, issue: Issue, issue_id: int) -> None:
    row, kept = outbox.claim(engine, issue_id, "run", 2, AS_OF, LEASE)
    short = RetryPolicy(base=timedelta(minutes=1), cap=timedelta(hours=1),
                        deadline=timedelta(seconds=90))
    write(engine, Attempt(row, LATER, "<a@x>", AS_OF + timedelta(seconds=31)),  # due at 91 s
          Attempt(kept, LATER, "<b@x>", AS_OF + timedelta(seconds=30)), policy=short)
    stored = by_id(session, issue)
    assert stored[row.delivery_id].state is DeliveryState.FAILED
    assert stored[row.delivery_id].last_error == f"gave up after 1 attempts: {LATER.reply}"
    assert stored[row.delivery_id].next_attempt_at is None
    assert stored[kept.delivery_id].state is DeliveryState.RETRY
    assert stored[kept.delivery_id].next_attempt_at == AS_OF + timedelta(seconds=90)


def test_retry_delays_double_up_to_the_cap_and_stop_at_the_deadline() -> None:
    first = AS_OF
    assert [POLICY.next_attempt(n, first, first) for n in (1, 2, 3)] == [
        first + timedelta(minutes=m) for m in (1, 2, 4)]
    assert POLICY.next_attempt(12, first, first) == first + timedelta(hours=1)
    last_chance = first + timedelta(hours=23, minutes=59)  # due exactly at the deadline
    assert POLICY.next_attempt(1, first, last_chance) == first + timedelta(hours=24)
    assert POLICY.next_attempt(1, first, last_chance + SECOND) is None


def test_an_outcome_is_written_only_to_a_row_its_run_still_holds(
        engine: Engine, session: Session, issue: Issue, issue_id: int) -> None:
    stale = outbox.claim(engine, issue_id, "run-a", 9, AS_OF, LEASE)  # run A froze
    later = AS_OF + LEASE + SECOND
    taken = outbox.claim(engine, issue_id, "run-b", 8, later, LEASE)  # B takes 8 over
    given_back = stale[8]
    outbox.release(engine, [given_back])  # ...and A's last claim went back to pending
    before = by_id(session, issue)
    write(engine, Attempt(stale[0], ACCEPTED, "<a0@x>", later),  # late, all of them
          Attempt(stale[1], LATER, "<a1@x>", later), Attempt(stale[2], REFUSED, "<a2@x>", later),
          Attempt(given_back, ACCEPTED, "<a8@x>", later))
    after = by_id(session, issue)
    assert [r.model_dump() for r in after.values()] == [r.model_dump() for r in before.values()]
    assert session.get(Subscriber, stale[2].subscriber_id).state is SubscriberState.BOUNCED  # type: ignore[union-attr]
    write(engine, Attempt(taken[0], ACCEPTED, "<b0@x>", later))  # the holder's own outcome
    row = by_id(session, issue)[taken[0].delivery_id]
    assert (row.state, row.message_id) == (DeliveryState.SENT, "<b0@x>")


def test_a_late_outcome_from_a_run_that_lost_its_claims_overwrites_nothing(
        engine: Engine, session: Session, issue: Issue, issue_id: int) -> None:
    stale = outbox.claim(engine, issue_id, "run-a", 9, AS_OF, LEASE)  # run A froze
    later = AS_OF + LEASE + SECOND
    taken = outbox.claim(engine, issue_id, "run-b", 9, later, LEASE)  # B takes them over
    assert [c.delivery_id for c in taken] == [c.delivery_id for c in stale]
    write(engine, Attempt(taken[0], ACCEPTED, "<b@x>", later))
    write(engine, Attempt(stale[0], LATER, "<a@x>", later))
    row = by_id(session, issue)[taken[0].delivery_id]
    assert (row.state, row.relay_reply, row.message_id) == (DeliveryState.SENT, ACCEPTED.reply,
                                                            "<b@x>")


# Reporting

def test_open_work_counts_each_kind_of_unfinished_row(
        engine: Engine, session: Session, issue: Issue, issue_id: int) -> None:
    r = ids(session, issue)
    soon, later = AS_OF + timedelta(minutes=5), AS_OF + timedelta(hours=2)
    update(engine, r[0:1], state=DeliveryState.RETRY, next_attempt_at=AS_OF)
    update(engine, r[1:2], state=DeliveryState.RETRY, next_attempt_at=later)
    update(engine, r[2:3], state=DeliveryState.RETRY, next_attempt_at=soon)
    update(engine, r[3:4], state=DeliveryState.SENDING, claimed_by="x", claimed_at=AS_OF)
    update(engine, r[4:5], state=DeliveryState.SENDING, claimed_by="x",
           claimed_at=AS_OF - LEASE - SECOND)
    update(engine, r[5:6], state=DeliveryState.SENT)
    update(engine, r[6:7], state=DeliveryState.FAILED)
    update(engine, r[7:8], state=DeliveryState.SKIPPED)
    session.rollback()
    work = outbox.open_work(session, issue_id, AS_OF, LEASE)
    assert work == outbox.OpenWork(pending=1, retry_due=1, retry_later=2, next_retry_at=soon,
                                   in_flight=1, stale=1)
    assert work.total == 6
    assert outbox.open_work(session, issue_id + 1, AS_OF, LEASE) == outbox.OpenWork()


def test_open_work_leaves_a_runs_own_claims_out_of_in_flight_when_asked(
        engine: Engine, session: Session, issue_id: int) -> None:
    outbox.claim(engine, issue_id, "run-a", 2, AS_OF, LEASE)
    outbox.claim(engine, issue_id, "run-b", 3, AS_OF, LEASE)
    session.rollback()
    everyone = outbox.open_work(session, issue_id, AS_OF, LEASE)
    seen_by_a = outbox.open_work(session, issue_id, AS_OF, LEASE, "run-a")
    assert (everyone.in_flight, everyone.pending) == (5, 4)
    assert (seen_by_a.in_flight, seen_by_a.pending) == (3, 4)
    assert everyone.total == 9


def test_status_counts_by_state_and_language_and_lists_the_latest_errors(
        engine: Engine, session: Session, issue: Issue, issue_id: int) -> None:
    claimed = {c.email: c for c in outbox.claim(engine, issue_id, "run", 9, AS_OF, LEASE)}
    write(engine, Attempt(claimed["cy0@example.org"], ACCEPTED, "<a@x>", AS_OF),
          Attempt(claimed["en0@example.org"], LATER, "<b@x>", AS_OF),
          Attempt(claimed["en1@example.org"], REFUSED, "<c@x>", AS_OF))
    # A sent row counts in the language it was sent in, whatever the subscriber chose since.
    moved = session.exec(select(Subscriber).where(Subscriber.email == "cy0@example.org")).one()
    moved.language = Language.EN
    session.commit()
    report = outbox.status(session, issue_id)
    assert report.counts == {"sent": {"cy": 1}, "retry": {"en": 1}, "failed": {"en": 1},
                             "sending": {"cy": 2, "en": 1, "both": 3}}
    newest_first = sorted([(claimed["en1@example.org"].delivery_id, "en1@example.org", "failed",
                            REFUSED.reply),
                           (claimed["en0@example.org"].delivery_id, "en0@example.org", "retry",
                            LATER.reply)], reverse=True)
    assert report.errors == [(email, state, err) for _, email, state, err in newest_first]
    assert outbox.status(session, issue_id, error_limit=1).errors == report.errors[:1]


def test_audience_counts_active_subscribers_by_language(session: Session, issue: Issue) -> None:
    assert outbox.audience(session) == {"cy": 3, "en": 3, "both": 3}

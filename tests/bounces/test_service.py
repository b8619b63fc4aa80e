"""Recording reports and applying the policy, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from digest.audience import csv_import, gdpr, history
from digest.bounces import service
from digest.bounces.events import Feedback
from digest.delivery import verp
from digest.settings import Settings
from digest.store.models import (
    BounceEvent,
    Delivery,
    DeliveryState,
    FeedbackKind,
    FeedbackOutcome,
    FeedbackSource,
    Issue,
    IssueState,
    Language,
    MatchedBy,
    Subscriber,
    SubscriberAction,
    SubscriberState,
)
from tests.bounces import reports

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
MAILBOX = FeedbackSource.MAILBOX


@dataclass
class Sent:
    """A message we sent: its row, where it bounces to and its Message-ID."""

    delivery: Delivery
    sender: str  # the VERP envelope sender
    message_id: str
    email: str


class World:
    """Subscribers and sent deliveries inserted directly (each issue one period)."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session, self.settings = session, settings
        self.key = verp.derive_key(settings.signing_key())
        self.issues: dict[str, Issue] = {}

    def subscriber(self, email: str, state: SubscriberState = SubscriberState.ACTIVE
                   ) -> Subscriber:
        sub = Subscriber(email=email, language=Language.CY, state=state)
        self.session.add(sub)
        self.session.flush()
        return sub

    def issue(self, period: str) -> Issue:
        if period not in self.issues:
            issue = Issue(period=period, cutoff_at=T0, since_at=T0, state=IssueState.SENT)
            self.session.add(issue)
            self.session.flush()
            self.issues[period] = issue
        return self.issues[period]

    def sent(self, sub: Subscriber, period: str = "2026-09",
             state: DeliveryState = DeliveryState.SENT) -> Sent:
        issue = self.issue(period)
        mid = f"<digest.{issue.id}.{sub.id}@example.org>"
        row = Delivery(issue_id=issue.id or 0, subscriber_id=sub.id or 0, state=state,
                       message_id=mid if state is DeliveryState.SENT else None,
                       sent_at=T0 if state is DeliveryState.SENT else None)
        self.session.add(row)
        self.session.flush()
        sender = verp.envelope_sender("bounces@example.org", verp.make_tag(row.id or 0, self.key))
        return Sent(row, sender, mid, sub.email)

    def process(self, raw: bytes, source: FeedbackSource = MAILBOX,
                now: datetime = T0) -> list[service.Processed]:
        found = service.process_raw(self.session, self.settings, raw, source, now=now)
        self.session.commit()
        return found

    def state(self, sub: Subscriber) -> SubscriberState:
        self.session.expire_all()
        row = self.session.get(Subscriber, sub.id)
        assert row is not None
        return row.state

    def events(self) -> list[BounceEvent]:
        self.session.expire_all()
        return list(self.session.exec(select(BounceEvent).order_by(BounceEvent.id)))  # type: ignore[arg-type]


@pytest.fixture
def cfg(db_settings: Settings) -> Settings:
    return db_settings.model_copy(update={"bounce_address": "bounces@example.org"})


@pytest.fixture
def world(session: Session, cfg: Settings) -> World:
    return World(session, cfg)


def test_hard_bounce_with_a_verp_tag_bounces_at_once_and_skips_unsent_mail(
        world: World, session: Session) -> None:
    sub, other = world.subscriber("gwen@example.net"), world.subscriber("ifan@example.net")
    sent = world.sent(sub)
    waiting = world.sent(sub, "2026-10", DeliveryState.PENDING).delivery
    others = world.sent(other, "2026-10", DeliveryState.PENDING).delivery
    [done] = world.process(reports.dsn(sent.sender, "gwen@example.net", None))
    assert (done.outcome, done.new_state, done.new) == (
        FeedbackOutcome.APPLIED, SubscriberState.BOUNCED, True)
    assert done.delivery_id == sent.delivery.id and done.subscriber_id == sub.id
    assert world.state(sub) is SubscriberState.BOUNCED
    assert world.state(other) is SubscriberState.ACTIVE
    skipped = session.get(Delivery, waiting.id)
    assert skipped is not None and skipped.state is DeliveryState.SKIPPED
    assert skipped.last_error == "hard bounce: bounced"
    still = session.get(Delivery, others.id)
    assert still is not None and still.state is DeliveryState.PENDING
    [event] = world.events()
    assert (event.kind, event.matched_by, event.status, event.issue_id) == (
        FeedbackKind.HARD, MatchedBy.VERP, "5.1.1", world.issues["2026-09"].id)
    assert event.raw is not None and b"Final-Recipient" in event.raw


@pytest.mark.parametrize("kind", ["hard", "complaint"])
def test_a_late_report_about_an_erased_subscriber_leaves_them_erased(
        world: World, kind: str) -> None:
    sub = world.subscriber("gwen@example.net")
    sent = world.sent(sub)
    gdpr.erase(world.session, world.settings, sub.id or 0, "cli")
    world.session.commit()
    raw = (reports.dsn(sent.sender, "gwen@example.net", None) if kind == "hard"
           else reports.arf(sent.sender, "gwen@example.net", sent.message_id))
    [done] = world.process(raw)
    assert (done.new_state, done.subscriber_id) == (None, sub.id)
    assert "erased" in done.detail
    assert world.state(sub) is SubscriberState.ERASED
    actions = [e.action for e in history.events_of(world.session, sub.id or 0)]
    assert actions[-1] is SubscriberAction.ERASED
    [event] = world.events()  # kept, without a word of theirs
    assert (event.subscriber_id, event.recipient, event.diagnostic, event.raw) == (
        sub.id, None, None, None)


def test_the_same_report_twice_changes_nothing(world: World) -> None:
    sub = world.subscriber("gwen@example.net")
    raw = reports.dsn(world.sent(sub).sender, "gwen@example.net", None)
    first = world.process(raw)
    world.session.get(Subscriber, sub.id).state = SubscriberState.ACTIVE  # type: ignore[union-attr]
    world.session.commit()  # a person re-activated them meanwhile
    [again] = world.process(raw)
    assert again.new is False and again.event_id == first[0].event_id
    assert again.outcome is FeedbackOutcome.APPLIED
    assert world.state(sub) is SubscriberState.ACTIVE  # not bounced a second time
    assert len(world.events()) == 1


def test_soft_bounces_count_messages_within_the_window(world: World) -> None:
    sub = world.subscriber("gwen@example.net")
    first, second, third = (world.sent(sub, p) for p in ("2026-07", "2026-08", "2026-09"))

    def delayed(sent: Sent, n: int) -> bytes:
        return reports.dsn(sent.sender, sub.email, None, status="4.4.7", action="delayed",
                           unique=str(n))

    # The same message reported on three retries is one soft-bounced message.
    for n in range(3):
        [done] = world.process(delayed(first, n), now=T0 + timedelta(hours=n))
        assert done.outcome is FeedbackOutcome.APPLIED and done.new_state is None
    assert "1 of 3 messages in 30 days" in done.detail
    assert world.state(sub) is SubscriberState.ACTIVE
    # The second message, 31 days on: the first has left the window.
    [done] = world.process(delayed(second, 9), now=T0 + timedelta(days=31))
    assert "1 of 3" in done.detail and world.state(sub) is SubscriberState.ACTIVE
    [done] = world.process(delayed(third, 10), now=T0 + timedelta(days=32))
    assert "2 of 3" in done.detail and world.state(sub) is SubscriberState.ACTIVE
    fourth = world.sent(sub, "2026-10")
    [done] = world.process(delayed(fourth, 11), now=T0 + timedelta(days=33))
    assert done.new_state is SubscriberState.BOUNCED and "3 of 3" in done.detail
    assert world.state(sub) is SubscriberState.BOUNCED


def test_a_complaint_unsubscribes_and_a_later_import_leaves_it(
        world: World, session: Session, tmp_path: Path) -> None:
    sub = world.subscriber("gwen@example.net")
    sent = world.sent(sub)
    [done] = world.process(reports.arf(sent.sender, sub.email, sent.message_id))
    assert (done.kind, done.outcome, done.new_state) == (
        FeedbackKind.COMPLAINT, FeedbackOutcome.APPLIED, SubscriberState.UNSUBSCRIBED)
    assert done.detail == "complaint: unsubscribed"
    csv = tmp_path / "again.csv"
    csv.write_text("email,name,language\ngwen@example.net,Gwen,cy\n", encoding="utf-8")
    report = csv_import.import_file(session, csv)
    session.commit()
    assert (report.added, report.updated, report.kept_inactive) == (0, 0, 1)
    assert world.state(sub) is SubscriberState.UNSUBSCRIBED
    reason = service.left_because(session, session.get(Subscriber, sub.id))  # type: ignore[arg-type]
    assert reason is not None and reason.kind is FeedbackKind.COMPLAINT


def test_a_complaint_turns_a_bounce_into_an_unsubscribe_but_not_the_other_way(
        world: World) -> None:
    bounced = world.subscriber("b@example.net", SubscriberState.BOUNCED)
    left = world.subscriber("u@example.net", SubscriberState.UNSUBSCRIBED)
    b, u = world.sent(bounced), world.sent(left)
    world.process(reports.arf(b.sender, b.email, b.message_id))
    [hard] = world.process(reports.dsn(u.sender, u.email, None))
    assert world.state(bounced) is SubscriberState.UNSUBSCRIBED
    assert world.state(left) is SubscriberState.UNSUBSCRIBED
    assert hard.new_state is None and hard.detail == "hard bounce: already unsubscribed"


def test_an_auto_reply_is_recorded_as_ignored_and_never_counts(world: World) -> None:
    sub = world.subscriber("gwen@example.net")
    settings = world.settings.model_copy(update={"soft_bounce_limit": 1})
    world.settings = settings
    sent = world.sent(sub)
    [done] = world.process(reports.auto_reply(sent.sender, sub.email, sent.message_id))
    assert (done.kind, done.outcome, done.new_state) == (
        FeedbackKind.AUTO_REPLY, FeedbackOutcome.IGNORED, None)
    assert world.state(sub) is SubscriberState.ACTIVE
    # One soft bounce is the limit here: the auto-reply did not count as one.
    [soft] = world.process(reports.dsn(sent.sender, sub.email, None, status="4.2.2",
                                       action="delayed"))
    assert "1 of 1" in soft.detail and world.state(sub) is SubscriberState.BOUNCED


def test_a_message_nobody_can_read_is_held(world: World) -> None:
    [done] = world.process(reports.person_writes("bounces@example.org"))
    assert (done.kind, done.outcome) == (FeedbackKind.UNKNOWN, FeedbackOutcome.HELD)
    [event] = world.events()
    assert event.raw is not None and event.subscriber_id is None


def test_a_forged_bounce_without_a_tag_is_unmatched(world: World) -> None:
    sub = world.subscriber("gwen@example.net")
    sent = world.sent(sub)
    forged = [
        reports.dsn("bounces@example.org", sub.email, None),  # the address alone
        reports.dsn("bounces+aaaaaaaaaaaaaaaaa@example.org", sub.email, None),  # a bad tag
        reports.dsn("bounces@example.org", sub.email, sent.message_id),  # a guessable id
        reports.arf("bounces@example.org", sub.email, sent.message_id),
    ]
    for raw in forged:
        [done] = world.process(raw)
        assert done.outcome is FeedbackOutcome.UNMATCHED, done
        assert done.detail.startswith("not trusted"), done.detail
    assert world.state(sub) is SubscriberState.ACTIVE
    assert {e.matched_by for e in world.events()} == {MatchedBy.RECIPIENT, MatchedBy.MESSAGE_ID}


def test_without_verp_our_message_id_is_the_evidence(world: World) -> None:
    world.settings = world.settings.model_copy(update={"bounce_address": None})
    sub, other = world.subscriber("gwen@example.net"), world.subscriber("ifan@example.net")
    sent = world.sent(sub)
    never = world.sent(other, state=DeliveryState.PENDING)  # no message went with its id
    [done] = world.process(reports.dsn("digest@example.org", sub.email, sent.message_id))
    assert done.new_state is SubscriberState.BOUNCED
    assert world.events()[0].matched_by is MatchedBy.MESSAGE_ID
    guessed = f"<digest.{never.delivery.issue_id}.{other.id}@example.org>"
    [done] = world.process(reports.dsn("digest@example.org", other.email, guessed))
    assert done.outcome is FeedbackOutcome.UNMATCHED
    assert world.state(other) is SubscriberState.ACTIVE


def test_an_authenticated_webhook_may_match_by_address(world: World) -> None:
    sub = world.subscriber("gwen@example.net")
    world.sent(sub, "2026-08")
    latest = world.sent(sub, "2026-09")
    feedback = Feedback(FeedbackKind.HARD, "postmark:1234", recipient="GWEN@example.net",
                        status="5.1.1", diagnostic="smtp; 550 5.1.1 user unknown")
    done = service.process_feedback(world.session, world.settings, feedback,
                                    FeedbackSource.POSTMARK, now=T0)
    world.session.commit()
    assert done.new_state is SubscriberState.BOUNCED
    assert done.delivery_id == latest.delivery.id  # counted against the latest issue
    [event] = world.events()
    assert (event.matched_by, event.source, event.raw) == (
        MatchedBy.RECIPIENT, FeedbackSource.POSTMARK, None)


@pytest.mark.parametrize("named", [
    "\u212a@example.net",  # KELVIN SIGN: str.lower() made it k@example.net
    "K@example.net, ifan@example.net", "ifan@example.net <k@example.net>",  # which one?
    "k\u200b@example.net", "ｋ@example.net",
])
def test_an_address_that_only_resembles_a_subscriber_s_matches_nobody(
        world: World, named: str) -> None:
    """An authenticated webhook matches by address, so the address must be exactly one, and
    read as the store reads addresses: a look-alike that lower-casing (or taking the first of
    a list) turned into a subscriber's address bounced that subscriber."""
    from digest.bounces.webhooks.fields import address

    sub = world.subscriber("k@example.net")
    world.sent(sub)
    feedback = Feedback(FeedbackKind.HARD, f"postmark:{named}", recipient=address(named),
                        status="5.1.1")
    done = service.process_feedback(world.session, world.settings, feedback,
                                    FeedbackSource.POSTMARK, now=T0)
    world.session.commit()
    assert (done.outcome, done.subscriber_id) == (FeedbackOutcome.UNMATCHED, None)
    assert world.state(sub) is SubscriberState.ACTIVE
    [event] = world.events()
    assert event.recipient != "k@example.net"


def test_a_report_may_name_an_idn_address_in_either_form(world: World) -> None:
    sub = world.subscriber("anna@xn--bcher-kva.example")
    latest = world.sent(sub, "2026-09")
    feedback = Feedback(FeedbackKind.HARD, "postmark:5678", recipient="Anna@Bücher.example",
                        status="5.1.1", diagnostic="smtp; 550 5.1.1 user unknown")
    done = service.process_feedback(world.session, world.settings, feedback,
                                    FeedbackSource.POSTMARK, now=T0)
    world.session.commit()
    assert done.new_state is SubscriberState.BOUNCED
    assert done.delivery_id == latest.delivery.id


def test_a_report_naming_an_idn_address_before_they_joined_is_theirs_to_see_and_erase(
        world: World) -> None:
    feedback = Feedback(FeedbackKind.HARD, "postmark:9012", recipient="Anna@Bücher.example",
                        status="5.1.1", diagnostic="smtp; 550 5.1.1 <Anna@Bücher.example>")
    done = service.process_feedback(world.session, world.settings, feedback,
                                    FeedbackSource.POSTMARK, now=T0)
    assert done.outcome is FeedbackOutcome.UNMATCHED
    [event] = world.events()
    assert event.recipient == "anna@xn--bcher-kva.example"  # as the store keeps addresses
    sub = world.subscriber("anna@xn--bcher-kva.example")
    world.session.commit()
    # A report recorded before recipients were kept in that form names the Unicode one.
    older = BounceEvent(event_id="postmark:older", kind=FeedbackKind.HARD,
                        source=FeedbackSource.POSTMARK, outcome=FeedbackOutcome.UNMATCHED,
                        recipient="anna@bücher.example", received_at=T0)
    world.session.add(older)
    world.session.commit()
    assert len(gdpr.export_person(world.session, sub.id or 0)["bounce_reports"]) == 2
    gdpr.erase(world.session, world.settings, sub.id or 0, "cli")
    world.session.commit()
    assert [(e.recipient, e.diagnostic) for e in world.events()] == [(None, None)] * 2


def test_a_report_about_someone_not_on_the_list_is_unmatched(world: World) -> None:
    [done] = world.process(reports.dsn("bounces@example.org", "nobody@example.net", None))
    assert done.outcome is FeedbackOutcome.UNMATCHED and done.subscriber_id is None
    assert done.detail == "no delivery or subscriber of ours matches"


def test_an_incomplete_message_is_held_once(world: World) -> None:
    first = service.record_problem(world.session, MAILBOX, b"Subject: big\r\n\r\n", "too big",
                                   now=T0)
    again = service.record_problem(world.session, MAILBOX, b"Subject: big\r\n\r\n", "too big",
                                   now=T0)
    world.session.commit()
    assert (first.outcome, first.new, again.new) == (FeedbackOutcome.HELD, True, False)
    [event] = world.events()
    assert event.diagnostic == "too big"


def test_purge_drops_old_raw_messages_but_keeps_the_records(world: World) -> None:
    sub = world.subscriber("gwen@example.net")
    world.process(reports.dsn(world.sent(sub).sender, sub.email, None), now=T0)
    world.process(reports.person_writes("bounces@example.org"), now=T0)
    world.process(reports.auto_reply("bounces@example.org", sub.email, "<x@y>"),
                  now=T0 + timedelta(days=29))
    assert service.claim_nonce(world.session, "mailgun:old", T0)
    assert service.claim_nonce(world.session, "mailgun:new", T0 + timedelta(days=30))
    purged = service.purge(world.session, world.settings, now=T0 + timedelta(days=31))
    world.session.commit()
    assert (purged.raw, purged.nonces) == (1, 1)
    assert [e.raw is None for e in world.events()] == [True, False, False]
    assert service.purge(world.session, world.settings, now=T0 + timedelta(days=31),
                         held=True).raw == 1
    world.session.commit()
    assert [e.raw is None for e in world.events()] == [True, True, False]
    assert service.claim_nonce(world.session, "mailgun:old", T0 + timedelta(days=31))
    assert not service.claim_nonce(world.session, "mailgun:new", T0 + timedelta(days=31))


def test_issue_feedback_counts_messages_and_rates(world: World) -> None:
    subs = [world.subscriber(f"s{n}@example.net") for n in range(8)]
    sent = [world.sent(s) for s in subs]
    world.sent(world.subscriber("refused@example.net"), state=DeliveryState.FAILED)
    world.process(reports.dsn(sent[0].sender, subs[0].email, None))
    world.process(reports.dsn(sent[0].sender, subs[0].email, None, unique="again"))
    world.process(reports.dsn(sent[1].sender, subs[1].email, None, status="4.2.2",
                              action="delayed"))
    world.process(reports.arf(sent[2].sender, subs[2].email, sent[2].message_id))
    world.process(reports.dsn("bounces@example.org", subs[3].email, None))  # untrusted
    stats = service.issue_feedback(world.session, world.issues["2026-09"].id or 0)
    assert (stats.sent, stats.refused, stats.hard, stats.soft, stats.complaints) == (
        8, 1, 1, 1, 1)
    assert (stats.bounced, stats.unsubscribed) == (1, 1)
    assert stats.complaint_rate == pytest.approx(1 / 8) and stats.over_complaint_line
    assert stats.bounce_rate == pytest.approx(1 / 8)
    history = service.history_for(world.session, subs[0].id or 0)
    assert [(h.kind, h.outcome, h.new_state, h.issue) for h in history] == [
        (FeedbackKind.HARD, FeedbackOutcome.APPLIED, SubscriberState.BOUNCED, "2026-09"),
        (FeedbackKind.HARD, FeedbackOutcome.APPLIED, None, "2026-09")]
    assert service.issue_feedback(world.session, 999) == service.IssueFeedback()


def test_complaint_line_is_gmails() -> None:
    assert not service.IssueFeedback(sent=1000, complaints=2).over_complaint_line
    assert service.IssueFeedback(sent=1000, complaints=3).over_complaint_line
    assert not service.IssueFeedback().over_complaint_line


def test_stored_keys_fit_the_column_and_stay_distinct() -> None:
    short = "postmark:" + "x" * 191
    assert service.stored_key(short) == short and len(short) == 200
    longer = [short + "y", short + "z", "a" * 5000, "a" * 5001]
    keys = [service.stored_key(value) for value in longer]
    assert all(len(key) == 200 for key in keys) and len(set(keys)) == 4
    assert keys[0].startswith("postmark:x")  # still readable in a listing
    assert service.stored_key(longer[0]) == keys[0]  # the same value, the same key


def test_long_nonces_that_share_their_start_are_not_replays(world: World) -> None:
    now = datetime(2026, 9, 1, tzinfo=UTC)
    first, second = "n" * 250 + "1", "n" * 250 + "2"
    assert service.claim_nonce(world.session, first, now)
    assert service.claim_nonce(world.session, second, now)  # was a "replay" when cut at 200
    assert not service.claim_nonce(world.session, first, now)

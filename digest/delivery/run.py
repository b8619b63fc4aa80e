"""Deliver stage: send an issue's outbox through a transport with several connections.

One worker thread per connection claims a small batch of due rows, builds each message (a
splice, microseconds) just before sending it, and records every outcome before the relay may
accept its next message: with SMTP it sends all of the next message but its final dot, waits
until the previous outcome is committed, then sends the dot. So at any moment at most one
accepted message per connection is unrecorded: the only duplicates a crash can cause.
The next message is built before the dot goes out, so that its envelope can travel with it
(an envelope commits the relay to nothing).
Outcomes are committed in groups: a worker that finds no commit running writes every outcome
waiting at that moment, its siblings' included (`GroupCommit`).
Invariant (no mail after an unsubscribe): each message's row is read again in the group commit
that runs while the message is staged, before its final dot; a row skipped since its claim
(its subscriber unsubscribed or bounced) is dropped there, its message abandoned unfinished.
So once an unsubscribe commits, at most the message already on the wire per connection can
still be accepted (docs/delivery.md).
A relay that cannot be reached (refused, timed out, bad greeting, TLS or login refused) is
not a recipient's failure: the worker keeps its message, tries again a few times, then gives
its claims back and stops; the report carries the relay's error (`relay_error`).
The main thread refreshes this run's claims (so other senders leave them alone) and reports
progress. A stop (SIGTERM, Ctrl-C) ends claiming, lets each worker finish the message it has
started, gives unattempted claims back and leaves the issue resumable.
"""

from __future__ import annotations

import functools
import itertools
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.engine import Engine

from digest.delivery import outbox
from digest.delivery.finish import Finisher
from digest.delivery.messages import MessageTemplate, Recipient, envelope_parts
from digest.delivery.outbox import Attempt, Claimed, RetryPolicy
from digest.delivery.outcomes import OutcomeWriter, Pending
from digest.delivery.transports.base import (
    Misfit,
    Outcome,
    Outgoing,
    SendResult,
    Transport,
)
from digest.issue import checks, lifecycle
from digest.issue.service import get_issue, variants
from digest.settings import Settings
from digest.store.db import session_scope
from digest.store.group_commit import GroupCommit
from digest.store.models import IssueState, Language, now_utc
from digest.tokens import Tokens

R = TypeVar("R")
PROGRESS_SECONDS = 0.2  # how often the main thread reports progress
WATCH = 2  # rows a worker has read again at each commit: the one staged, and the next
CONNECT_TRIES = 3  # a worker gives up on a relay it cannot reach after this many tries...
CONNECT_PAUSE = 0.5  # ...pausing this long before the second, twice as long before the third


@dataclass
class SendReport:
    """What one send run did."""

    issue_period: str
    created: int = 0
    sent: Counter[str] = field(default_factory=Counter)  # by language
    failed: int = 0
    retry: int = 0
    stopped: bool = False
    already_sent: bool = False  # the issue was sent before this run: nothing was done
    relay_error: str | None = None  # the relay could not be reached: why, in one line
    internal_error: Exception | None = None  # a transport raised (a bug): the run stopped
    left: outbox.OpenWork = field(default_factory=outbox.OpenWork)

    @property
    def total_sent(self) -> int:
        """Messages the relay accepted in this run."""
        return sum(self.sent.values())


def retry_policy(settings: Settings) -> RetryPolicy:
    """The backoff from the settings."""
    return RetryPolicy(base=timedelta(seconds=settings.retry_base_seconds),
                       cap=timedelta(seconds=settings.retry_max_seconds),
                       deadline=timedelta(hours=settings.retry_deadline_hours))


def preflight(settings: Settings) -> tuple[Tokens, Finisher]:
    """What the configuration alone can refuse, checked before a send writes anything: the
    secret key (InsecureSecretKey), the DKIM key file and the VERP base (SettingInvalid)."""
    tokens, finisher = Tokens(settings), Finisher(settings)
    envelope_parts(settings)
    return tokens, finisher


def prepare_issue(engine: Engine, issue_id: int, actor: str, site: str = "",
                  now: datetime | None = None) -> tuple[str, int | None]:
    """Check the issue can be sent, create its outbox rows and mark it sending; the rows
    this call inserted, or None for an issue already sent (nothing to do). The run that
    starts the send keeps the pre-send checks as they are at that moment (`site`: ours)."""
    with session_scope(engine, write=True) as session:
        issue = get_issue(session, issue_id)
        if issue.state is IssueState.SENT:
            return issue.period, None
        if (refusal := lifecycle.can_send(issue)) is not None:
            raise ValueError(refusal)
        lifecycle.refuse_first_send(session, issue)
        created = outbox.create_deliveries(session, issue_id)
        if lifecycle.start_send(session, issue, actor, created):
            checks.store_send_checks(session, issue, now or now_utc(), site)
        return issue.period, created


def send_issue(
    engine: Engine,
    settings: Settings,
    issue_id: int,
    transport_factory: Callable[[], Transport],
    *,
    connections: int = 1,
    clock: Callable[[], datetime] = now_utc,
    stop: threading.Event | None = None,
    wait_for_retries: bool = False,
    on_progress: Callable[[SendReport], None] | None = None,
    actor: str = "cli",
) -> SendReport:
    """Send every due message of an issue; resumable, safe to run in several processes."""
    # A refused configuration leaves the issue as it was, not half started (marked sending,
    # its outbox rows made, and nothing sendable).
    tokens, finisher = preflight(settings)
    period, created = prepare_issue(engine, issue_id, actor, settings.site_url, clock())
    if created is None:
        return SendReport(period, already_sent=True)
    with session_scope(engine) as session:
        stored = variants(session, get_issue(session, issue_id))
    templates = {lang: MessageTemplate(settings, issue_id, v, tokens)
                 for lang, v in stored.items()}
    run = _Run(engine, settings, issue_id, templates, clock, stop or threading.Event(),
               SendReport(period, created), wait_for_retries, finisher)
    run.execute(transport_factory, connections, on_progress)
    return run.report


class _Run:
    """One send run: the workers, their group commit and the heartbeat."""

    def __init__(self, engine: Engine, settings: Settings, issue_id: int,
                 templates: dict[Language, MessageTemplate], clock: Callable[[], datetime],
                 stop: threading.Event, report: SendReport, wait_for_retries: bool,
                 finisher: Finisher) -> None:
        self.engine, self.settings, self.issue_id = engine, settings, issue_id
        self.templates, self.clock, self.stop = templates, clock, stop
        self.run_id = uuid.uuid4().hex
        self.lease = settings.claim_lease
        self.policy = retry_policy(settings)
        self.finisher = finisher
        self.report = report
        self.batch = settings.batch_size  # rows a worker claims at a time
        self.commits = GroupCommit(self._write)
        self.writer: OutcomeWriter | None = None  # opened by the first group commit
        # Group commits and heartbeats both write rows this run holds: on PostgreSQL, run side
        # by side they lock the same rows in different orders and deadlock. One at a time.
        self.holding = threading.Lock()
        self.unattempted: list[Claimed] = []  # claimed, never attempted: given back at the end
        self.lock = threading.Lock()
        self.failure: BaseException | None = None  # the database failed: re-raised at the end
        self.wait_for_retries = wait_for_retries

    def execute(self, factory: Callable[[], Transport], connections: int,
                on_progress: Callable[[SendReport], None] | None) -> None:
        workers = [threading.Thread(target=self._worker, args=(factory,), name=f"smtp-{i}",
                                    daemon=True) for i in range(connections)]
        for t in workers:
            t.start()
        interval = self.lease.total_seconds() / 3
        last_beat = self.clock()
        try:
            while alive := [t for t in workers if t.is_alive()]:
                alive[0].join(timeout=min(PROGRESS_SECONDS, interval))
                now = self.clock()
                if (now - last_beat).total_seconds() >= interval:
                    with self.holding:
                        self._guard(outbox.heartbeat, self.engine, self.run_id, now)
                    last_beat = now
                if on_progress:
                    on_progress(self.report)
        finally:
            if any(t.is_alive() for t in workers):  # interrupted: let the workers wind down
                self.stop.set()
            for t in workers:
                t.join()
            if self.writer is not None:
                self.writer.close()
            self._guard(outbox.release, self.engine, self.unattempted)
        if self.failure is not None:
            raise self.failure
        with session_scope(self.engine, write=True) as session:
            self.report.left = outbox.open_work(session, self.issue_id, self.clock(), self.lease)
            lifecycle.finish_send(session, get_issue(session, self.issue_id),
                                  self.report.left.total)
        self.report.stopped = self.stop.is_set()

    def _worker(self, factory: Callable[[], Transport]) -> None:
        transport = factory()
        rows: deque[Claimed] = deque()
        # The previous outcome (or, after a claim, a bare look at the rows), submitted for
        # commit: the commit also reads again the rows in its watch, the next to be sent.
        last: Pending | None = None
        upcoming: Outgoing | None = None  # rows[0]'s message, built early for complete()
        tries = 0  # connection attempts in a row that could not reach the relay
        try:
            while not self.stop.is_set():
                if not rows:
                    self.commits.settle(last)  # ours are recorded before judging what is left
                    last = None
                    rows.extend(self._guard(outbox.claim, self.engine, self.issue_id,
                                            self.run_id, self.batch, self.clock(), self.lease)
                                or [])
                    if not rows and self._finished():
                        return
                    last = self._look(rows)
                    continue
                row = rows.popleft()
                message, upcoming = upcoming or self._build(row), None
                # All of the message but its end goes out while the previous outcome is
                # committed (and this row read again); the relay accepts it only at complete().
                early = self._call(transport.stage, message,
                                   functools.partial(self.commits.settle, last))
                self.commits.settle(last)  # settled already, unless staging raised
                if self.failure is not None and early is None:
                    transport.abandon()  # the previous outcome is unrecorded: go no further
                    rows.appendleft(row)
                    return
                gone = last.gone if last is not None else set()
                if gone:  # skipped since the claim: their subscribers left
                    rows = deque(r for r in rows if r.delivery_id not in gone)
                    if row.delivery_id in gone:
                        if early is None:
                            transport.abandon()  # its end never goes: the relay discards it
                        last = self._look(rows)
                        continue
                if early is None and rows:
                    upcoming = self._build(rows[0])  # its envelope may follow the dot
                result = early if early is not None else self._call(transport.complete, upcoming)
                if result.unreachable:
                    rows.appendleft(row)  # not an attempt: nothing reached a relay
                    upcoming = None
                    tries += 1
                    if tries >= CONNECT_TRIES or isinstance(result, Misfit):
                        self._give_up(result.reply, rows)
                        rows.clear()
                        return
                    if not self.stop.wait(CONNECT_PAUSE * 2 ** (tries - 1)):
                        last = self._look(rows)
                    continue  # (a stop meanwhile ends the loop: the rows are given back)
                tries = 0
                last = self.commits.submit(Pending(
                    Attempt(row, result, message.message_id, self.clock()), self._ids(rows)))
        finally:
            self.commits.settle(last)
            with self.lock:
                self.unattempted.extend(rows)
            transport.close()

    @staticmethod
    def _ids(rows: deque[Claimed]) -> list[int]:
        return [r.delivery_id for r in itertools.islice(rows, WATCH)]

    def _look(self, rows: deque[Claimed]) -> Pending | None:
        """Submit a look at the next rows alone, for the next message's staging to settle."""
        return self.commits.submit(Pending(None, self._ids(rows))) if rows else None

    def _give_up(self, reason: str, rows: deque[Claimed]) -> None:
        """The relay cannot be reached from this worker: say why, hand its claims back."""
        with self.lock:
            self.report.relay_error = reason
        self._guard(outbox.release, self.engine, list(rows))

    def _build(self, row: Claimed) -> Outgoing:
        """The finished message (redirected and signed if configured) for a claimed row."""
        return self.finisher.finish(self.templates[row.language].build(
            Recipient(row.subscriber_id, row.email, row.name, row.delivery_id)))

    def _finished(self) -> bool:
        """Nothing to claim now: True if this worker is done, after a pause if not yet."""
        with session_scope(self.engine) as session:
            left = outbox.open_work(session, self.issue_id, self.clock(), self.lease,
                                    self.run_id)
        if left.pending or left.retry_due or left.stale:
            return False  # freed by a stop elsewhere, or due meanwhile
        # Rows our sibling workers hold are theirs to finish (a 4xx among them becomes a
        # retry that they wait for); rows another sender holds may come back if it stops.
        if left.in_flight:
            self.stop.wait(min(0.2, self.lease.total_seconds() / 4))
            return False
        if left.retry_later and self.wait_for_retries and left.next_retry_at:
            pause = (left.next_retry_at - self.clock()).total_seconds()
            self.stop.wait(max(0.05, min(pause, 5.0)))
            return False
        return True

    def _call(self, call: Callable[..., R], *args: object) -> R | SendResult:
        """Call the transport; a transport bug is recorded as a retry and stops the run."""
        try:
            return call(*args)
        except Exception as exc:
            self.report.internal_error = self.report.internal_error or exc  # (either will do)
            self.stop.set()
            return SendResult(Outcome.TEMPORARY, f"internal error: {exc!r}")

    def _guard(self, call: Callable[..., R], *args: object) -> R | None:
        """Call the database; a failure stops the run and is re-raised at its end."""
        try:
            return call(*args)
        except Exception as exc:
            self._fail(exc)
            return None

    def _fail(self, exc: BaseException) -> None:
        with self.lock:
            self.failure = self.failure or exc
        self.stop.set()

    def _write(self, group: list[Pending]) -> None:
        """Commit a group of outcomes (one group at a time) and read its watched rows again;
        a failure leaves them unrecorded, to be sent again once the lease runs out, like
        after a crash."""
        attempts = [p.attempt for p in group if p.attempt is not None]
        try:
            with self.holding:
                self.writer = self.writer or OutcomeWriter(self.engine, self.run_id)
                gone = self.writer.write(attempts, self.policy,
                                         [i for p in group for i in p.watch])
        except Exception as exc:
            self._fail(exc)
            return
        for p in group:
            p.gone = gone
        for a in attempts:
            if a.result.outcome is Outcome.ACCEPTED:
                self.report.sent[a.row.language.value] += 1
            elif a.result.outcome is Outcome.TEMPORARY:
                self.report.retry += 1
            else:
                self.report.failed += 1

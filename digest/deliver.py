"""Deliver stage: send an issue's outbox through a transport with several connections.

Threads of one send run:
- the main thread claims due rows in batches and builds each message (a splice, microseconds);
- one worker per connection transmits a message, hands the outcome to the recorder and waits
  until it is committed before taking the next one, so at any moment at most one accepted
  message per connection is unrecorded (the only duplicates a crash can cause);
- the recorder commits outcomes in groups (one transaction for whatever has arrived) and
  refreshes this run's claims so that other senders leave them alone.
A stop (SIGTERM, Ctrl-C) ends claiming, lets the workers finish what they hold, gives
unattempted claims back and leaves the issue resumable.
"""

from __future__ import annotations

import queue
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine

from digest import lifecycle, outbox
from digest.db import session_scope
from digest.issues import get_issue, variants
from digest.messages import MessageTemplate, Recipient
from digest.models import IssueAction, IssueState, Language, now_utc
from digest.outbox import Attempt, Claimed, RetryPolicy
from digest.settings import Settings
from digest.signing import Finisher
from digest.tokens import Tokens
from digest.transport import (
    FileTransport,
    Outcome,
    Outgoing,
    SendResult,
    StagedTransport,
    Transport,
)

R = TypeVar("R")
SENDABLE = (IssueState.APPROVED, IssueState.SENDING, IssueState.SENT)


@dataclass
class SendReport:
    """What one send run did."""

    issue_period: str
    created: int = 0
    sent: Counter[str] = field(default_factory=Counter)  # by language
    failed: int = 0
    retry: int = 0
    stopped: bool = False
    left: outbox.OpenWork = field(default_factory=outbox.OpenWork)

    @property
    def total_sent(self) -> int:
        """Messages the relay accepted in this run."""
        return sum(self.sent.values())


@dataclass
class _Job:
    row: Claimed
    message: Outgoing
    recorded: threading.Event = field(default_factory=threading.Event)
    attempt: Attempt | None = None


def retry_policy(settings: Settings) -> RetryPolicy:
    """The backoff from the settings."""
    return RetryPolicy(base=timedelta(seconds=settings.retry_base_seconds),
                       cap=timedelta(seconds=settings.retry_max_seconds),
                       deadline=timedelta(hours=settings.retry_deadline_hours))


def prepare_issue(engine: Engine, issue_ref: str | int, actor: str) -> tuple[int, str, int]:
    """Check the issue can be sent, create its outbox rows and mark it sending."""
    with session_scope(engine, write=True) as session:
        issue = get_issue(session, issue_ref)
        if issue.state not in SENDABLE:
            hint = "; approve it first" if issue.state is IssueState.DRAFT else ""
            raise ValueError(f"issue {issue.period} is {issue.state.value}; it cannot be sent"
                             + hint)
        assert issue.id is not None
        created = outbox.create_deliveries(session, issue.id)
        if issue.state is IssueState.APPROVED and lifecycle.move(
                session, issue, IssueState.SENDING):
            lifecycle.record(session, issue, actor, IssueAction.SEND_STARTED,
                             f"{created} outbox row(s)")
        return issue.id, issue.period, created


def send_issue(
    engine: Engine,
    settings: Settings,
    issue_ref: str | int,
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
    issue_id, period, created = prepare_issue(engine, issue_ref, actor)
    with session_scope(engine) as session:
        stored = variants(session, get_issue(session, issue_id))
    tokens = Tokens(settings)
    templates = {lang: MessageTemplate(settings, issue_id, v, tokens)
                 for lang, v in stored.items()}
    run = _Run(engine, settings, issue_id, templates, clock, stop or threading.Event(),
               SendReport(period, created))
    run.execute(transport_factory, connections, wait_for_retries, on_progress)
    return run.report


class _Run:
    """One send run: the claim loop, the workers and the recorder."""

    def __init__(self, engine: Engine, settings: Settings, issue_id: int,
                 templates: dict[Language, MessageTemplate], clock: Callable[[], datetime],
                 stop: threading.Event, report: SendReport) -> None:
        self.engine, self.settings, self.issue_id = engine, settings, issue_id
        self.templates, self.clock, self.stop = templates, clock, stop
        self.run_id = uuid.uuid4().hex
        self.lease = timedelta(seconds=settings.claim_lease_seconds)
        self.policy = retry_policy(settings)
        self.finisher = Finisher(settings)
        self.report = report
        self.unattempted: list[Claimed] = []  # taken from the queue after a stop
        self.lock = threading.Lock()
        self.failure: BaseException | None = None  # the recorder could not write (database gone)

    def execute(self, factory: Callable[[], Transport], connections: int,
                wait_for_retries: bool,
                on_progress: Callable[[SendReport], None] | None) -> None:
        batch = max(1, min(self.settings.batch_size, 16 * connections + 32))
        work: queue.Queue[_Job | None] = queue.Queue(maxsize=2 * batch)
        results: queue.Queue[_Job | None] = queue.Queue()
        workers = [threading.Thread(target=self._worker, args=(factory, work, results),
                                    name=f"smtp-{i}", daemon=True) for i in range(connections)]
        recorder = threading.Thread(target=self._recorder, args=(results, on_progress),
                                    name="recorder", daemon=True)
        for t in [*workers, recorder]:
            t.start()
        # Outcomes hop between threads on every message: a short GIL switch interval keeps the
        # hand-offs from waiting behind the claim loop's CPU work (default 5 ms).
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, 0.0005))
        try:
            self._feed(work, batch, wait_for_retries)
        finally:
            leftovers = []
            while True:
                try:
                    job = work.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    leftovers.append(job.row)
            for _ in workers:
                work.put(None)
            for t in workers:
                t.join()
            results.put(None)
            recorder.join()
            outbox.release(self.engine, leftovers + self.unattempted)
            sys.setswitchinterval(switch)
        if self.failure is not None:
            raise self.failure
        with session_scope(self.engine, write=True) as session:
            self.report.left = outbox.open_work(session, self.issue_id, self.clock(), self.lease)
            issue = get_issue(session, self.issue_id)
            if self.report.left.total == 0 and issue.state is IssueState.SENDING and \
                    lifecycle.move(session, issue, IssueState.SENT):
                lifecycle.record(session, issue, "sender", IssueAction.SENT)
        self.report.stopped = self.stop.is_set()

    def _feed(self, work: queue.Queue[_Job | None], batch: int, wait_for_retries: bool) -> None:
        while not self.stop.is_set():
            rows = outbox.claim(self.engine, self.issue_id, self.run_id, batch, self.clock(),
                                self.lease)
            for row in rows:
                message = self.templates[row.language].build(
                    Recipient(row.subscriber_id, row.email, row.name))
                work.put(_Job(row, self.finisher.finish(message)))
            if rows:
                continue
            work.join()  # our own messages are all recorded before we judge what is left
            with session_scope(self.engine) as session:
                left = outbox.open_work(session, self.issue_id, self.clock(), self.lease)
            if left.pending or left.retry_due or left.stale:
                continue  # freed by a stop elsewhere, or due meanwhile
            if left.in_flight:
                self.stop.wait(min(0.2, self.settings.claim_lease_seconds / 4))
            elif left.retry_later and wait_for_retries and left.next_retry_at:
                pause = (left.next_retry_at - self.clock()).total_seconds()
                self.stop.wait(max(0.05, min(pause, 5.0)))
            else:
                return

    def _worker(self, factory: Callable[[], Transport], work: queue.Queue[_Job | None],
                results: queue.Queue[_Job | None]) -> None:
        transport = factory()
        # Decided once: a runtime Protocol check costs tens of microseconds per call.
        staged_transport = transport if isinstance(transport, StagedTransport) else None
        job = work.get()
        early: SendResult | None = None  # the outcome of staging `job`, if staging failed
        staged = False
        try:
            while job is not None:
                if self.stop.is_set() and not staged:  # stopping: hand the claim back
                    with self.lock:
                        self.unattempted.append(job.row)
                    work.task_done()
                    job = work.get()
                    continue
                if not staged:
                    result = self._guarded(transport.send, job.message)
                elif early is not None:
                    result = early
                else:
                    assert staged_transport is not None
                    result = self._guarded(staged_transport.complete)
                job.attempt = Attempt(job.row, result, job.message.message_id, self.clock())
                results.put(job)
                # While this outcome is committed, stage the next message (all but its final
                # dot). The relay accepts it only at complete(), after the commit, so at most
                # one accepted message per connection is ever unrecorded.
                nxt, staged, early = None, False, None
                if staged_transport is not None and not self.stop.is_set():
                    try:
                        nxt = work.get_nowait()
                    except queue.Empty:
                        nxt = None
                    if nxt is not None:
                        early = self._guarded(staged_transport.stage, nxt.message)
                        staged = True
                job.recorded.wait()
                work.task_done()
                job = nxt if nxt is not None else work.get()
        finally:
            work.task_done()  # the None that ended the loop
            transport.close()

    def _guarded(self, call: Callable[..., R], *args: Outgoing) -> R | SendResult:
        """Call the transport; a transport bug is recorded as a retry and stops the run."""
        try:
            return call(*args)
        except Exception as exc:
            self.stop.set()
            return SendResult(Outcome.TEMPORARY, f"internal error: {exc!r}")

    def _recorder(self, results: queue.Queue[_Job | None],
                  on_progress: Callable[[SendReport], None] | None) -> None:
        interval = self.settings.claim_lease_seconds / 3
        last_beat = self.clock()
        finished = False
        conn: Connection | None = None  # held for the run: no pool checkout per commit
        try:
            while not finished:
                jobs: list[_Job] = []
                try:  # wait for one outcome, then take whatever else has arrived: group commit
                    item = results.get(timeout=interval)
                    while True:
                        if item is None:
                            finished = True  # sent after every worker has stopped
                        else:
                            jobs.append(item)
                        item = results.get_nowait()
                except queue.Empty:
                    pass
                try:
                    if jobs:
                        conn = conn or self.engine.connect()
                        self._commit(conn, jobs)
                except Exception as exc:  # re-raised by execute() once every thread stopped
                    self.failure = self.failure or exc
                    self.stop.set()
                    for job in jobs:  # unrecorded: resent after the lease, like a crash
                        job.recorded.set()
                now = self.clock()
                if (now - last_beat).total_seconds() >= interval:
                    outbox.heartbeat(self.engine, self.run_id, now)
                    last_beat = now
                if jobs and on_progress:
                    on_progress(self.report)
        finally:
            if conn is not None:
                conn.close()

    def _commit(self, conn: Connection, jobs: list[_Job]) -> None:
        attempts = [j.attempt for j in jobs if j.attempt is not None]
        outbox.record(conn, attempts, self.policy)
        for a in attempts:
            if a.result.outcome is Outcome.ACCEPTED:
                self.report.sent[a.row.language.value] += 1
            elif a.result.outcome is Outcome.TEMPORARY:
                self.report.retry += 1
            else:
                self.report.failed += 1
        for j in jobs:
            j.recorded.set()


def transport_factory(settings: Settings) -> Callable[[], Transport]:
    """Transports for the configured kind: one SMTP connection per call, or the shared file."""
    if settings.transport == "smtp":
        from digest.smtp import RateLimiter, SMTPTransport

        limiter = RateLimiter(settings.smtp_rate_limit)  # one budget for all connections
        return lambda: SMTPTransport(settings, limiter)
    shared = FileTransport(settings.outbox_dir)
    return lambda: shared


def send_tests(settings: Settings, engine: Engine, issue_ref: str | int,
               addresses: list[str], transport: Transport,
               languages: list[Language] | None = None) -> list[tuple[str, str, str]]:
    """Send each variant (or those in `languages`) to each address, marked as a test;
    the outbox is not touched."""
    with session_scope(engine) as session:
        issue = get_issue(session, issue_ref)
        stored = {lang: v for lang, v in variants(session, issue).items()
                  if languages is None or lang in languages}
    tokens = Tokens(settings)
    finisher = Finisher(settings, redirect=False)
    results = []
    for language, variant in stored.items():
        marked = _TestVariant(language, "[PRAWF / TEST] " + variant.subject, variant.html,
                              variant.text)
        template = MessageTemplate(settings, 0, marked, tokens)
        for n, address in enumerate(addresses):
            test_id = f"<digest-test.{uuid.uuid4().hex}.{n}@{settings.sender_domain}>"
            message = template.build(Recipient(0, address, ""), message_id=test_id)
            result = transport.send(finisher.finish(message))
            results.append((address, language.value, result.reply))
    transport.close()
    return results


@dataclass(frozen=True)
class _TestVariant:
    language: Language
    subject: str
    html: str
    text: str

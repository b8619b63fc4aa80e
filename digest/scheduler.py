"""The monthly schedule on APScheduler 3: a plan job and a send job in a persistent job store.

- The jobs live in the same database (`apscheduler_jobs`), with `coalesce` and a misfire grace
  time: after downtime, a missed fire runs once when the scheduler is back, never twice.
- Existing jobs are never replaced at start-up (that would recompute their next fire time and
  lose a missed run); only a changed schedule in the settings reschedules them.
- Job functions are idempotent and safe to run in two processes at once: planning a period
  that has an issue does nothing (unique period), a send only takes an approved issue through
  a conditional state change, and the outbox sends each message once.
- The bounce job (every DIGEST_BOUNCE_POLL_MINUTES, only while a bounce mailbox is
  configured) reads the mailbox and purges old raw messages; reading twice is harmless.
- Job functions are stored by reference, so they find their settings, engine and transport in
  the module's runtime, set by `make_scheduler`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from apscheduler.executors.debug import DebugExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from digest.bounces import intake
from digest.bounces import service as bounce_service
from digest.bounces.sources.base import SourceError
from digest.delivery import run
from digest.delivery.notices import notify_editors, preview_url
from digest.delivery.transports.base import Transport
from digest.issue import lifecycle, service
from digest.issue.planner import end_of_month
from digest.settings import SettingInvalid, Settings
from digest.store.db import session_scope
from digest.store.models import FeedbackSource, Issue, IssueAction, IssueState, now_utc

log = logging.getLogger("digest.scheduler")
JOBSTORE_TABLE = "apscheduler_jobs"


@dataclass
class Runtime:
    """What the jobs need; built at the edge and handed to `make_scheduler`."""

    settings: Settings
    engine: Engine
    transport_factory: Callable[[], Transport]
    clock: Callable[[], datetime] = now_utc
    stop: threading.Event = field(default_factory=threading.Event)


_runtime: Runtime | None = None


def _rt() -> Runtime:
    if _runtime is None:
        raise RuntimeError("scheduler jobs need make_scheduler() to have set the runtime")
    return _runtime


CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")


def cron_fields(text: str) -> dict[str, str]:
    """Parse `day=1st mon; hour=9; minute=0` into CronTrigger keyword arguments."""
    fields: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{part!r} is not field=value (e.g. day=1st mon)")
        if key.strip() not in CRON_FIELDS:
            raise ValueError(f"{key.strip()!r} is not a field (use {', '.join(CRON_FIELDS)})")
        if key.strip() in fields:  # the last would quietly win, as a .env's typo would
            raise ValueError(f"{key.strip()!r} is given twice")
        if not value.isascii() or not value.isprintable():
            # APScheduler reads its numbers with `\d` and int(), which take any script's
            # digits (`hour=٩` is 9): a value no cron syntax spells is refused here.
            raise ValueError(f"{key.strip()}={value.strip()!r}: use ASCII digits and names "
                             "(e.g. hour=9)")
        fields[key.strip()] = value.strip()
    if not fields:  # APScheduler would fire every minute
        raise ValueError("is empty: give the fields of a schedule (e.g. day=1st mon; hour=9)")
    return fields


def trigger(text: str, settings: Settings) -> CronTrigger:
    """A cron trigger in the editorial time zone (APScheduler fields, not crontab syntax)."""
    return CronTrigger(**cron_fields(text), timezone=settings.tz)  # type: ignore[arg-type]


class _Firing(threading.local):
    """The fire time the job running in this thread was due at (None outside a job)."""

    due: datetime | None = None


_firing = _Firing()


class FireTimeExecutor(DebugExecutor):  # type: ignore[misc]
    """APScheduler's DebugExecutor (jobs run in the calling thread, one at a time), telling
    each job the fire time it runs for: after downtime that is not now (`plan_as_of`)."""

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        _firing.due = run_times[-1]  # coalesced: the latest of the missed fire times
        try:
            super()._do_submit_job(job, run_times)
        finally:
            _firing.due = None


def plan_as_of(now: datetime, due: datetime | None, settings: Settings) -> datetime:
    """The moment the plan job plans as of: now, but never past the end of the month its
    fire was due in. A fire at 23:30 on the last day, missed and run after midnight, would
    otherwise plan the next month (with this month's items) and leave this month without
    an issue."""
    if due is None:
        return now
    return min(now, end_of_month(due, settings.tz))


def plan_job() -> None:
    """Plan the issue of the month the fire was due in if it has none; notify editors, or
    auto-approve (policy)."""
    rt = _rt()
    settings = rt.settings
    now = plan_as_of(rt.clock(), _firing.due, settings)
    with session_scope(rt.engine, write=True) as session:
        outcome = service.plan(session, settings, now, actor="scheduler", record_skip=True)
        issue = outcome.issue
        if not outcome.created or issue is None:
            log.info("plan job: %s", outcome.message)
            return
        if issue.state is IssueState.SKIPPED:
            log.info("plan job: skipped %s: %s", issue.period, outcome.message)
            return
        problems = lifecycle.check_translations(session, issue)
        auto = settings.policy == "auto" and not problems
        if auto:
            lifecycle.approve(session, issue, "scheduler (auto policy)")
        issue_id, period = issue.id or 0, issue.period
    log.info("plan job: %s; %s", outcome.message,
             "approved by the auto policy" if auto else
             f"waiting for approval ({len(problems)} translation problem(s))")
    if auto:
        return
    body = (f"Mae rhifyn {period} yn barod i'w gymeradwyo / Issue {period} is ready for "
            f"approval:\n{preview_url(settings, issue_id)}\n\n{outcome.message}\n")
    if problems:
        body += "\nTranslation check / Gwirio cyfieithu:\n" + "\n".join(problems) + "\n"
    _notify(issue_id, f"[digest] {period}: drafft yn barod / draft ready", body)


def send_job() -> None:
    """Send every approved issue whose time has come; report drafts that missed approval."""
    rt = _rt()
    settings, now = rt.settings, rt.clock()
    with session_scope(rt.engine) as session:
        due = session.exec(select(Issue).where(
            col(Issue.state).in_(lifecycle.AWAITING_SEND),
            col(Issue.send_after) <= now).order_by(col(Issue.period))).all()
        refs = [(i.id or 0, i.period, i.state) for i in due]
    if not refs:
        log.info("send job: nothing due")
    for issue_id, period, state in refs:
        if state is IssueState.DRAFT:
            _tell_once(issue_id, period, IssueAction.APPROVAL_MISSED, "waiting for approval",
                       "heb ei gymeradwyo / not approved", f"Nid yw rhifyn {period} wedi'i "
                       "gymeradwyo, felly nid yw wedi'i anfon.\n" f"Issue {period} has not been "
                       "approved, so it has not been sent.\n")
            continue
        try:
            report = run.send_issue(
                rt.engine, settings, issue_id, rt.transport_factory,
                connections=settings.send_connections,
                clock=rt.clock, stop=rt.stop, actor="scheduler")
        except lifecycle.WithdrawnItems as exc:
            _tell_once(issue_id, period, IssueAction.SEND_HELD, str(exc),
                       "heb ei anfon / not sent", f"Nid yw rhifyn {period} wedi'i anfon: mae "
                       "eitem wedi'i thynnu'n ôl ynddo.\n" f"Issue {period} has not been sent: "
                       f"it carries a withdrawn item.\n{exc}\n")
            continue
        except ValueError as exc:  # e.g. cancelled meanwhile by an editor
            log.info("send job: %s not sent: %s", period, exc)
            continue
        except sa.exc.DBAPIError as exc:  # the rows it could not record stay claimed
            first = next((ln for ln in str(exc.orig or exc).splitlines() if ln.strip()), "")
            log.error("send job: %s stopped: the database failed: %s; nothing is lost: the "
                      "send job resumes it once the database is back", period, first.strip())
            return
        if report.relay_error and report.left.total:
            _relay_failed(issue_id, period, report)
            continue
        if (bug := report.internal_error) is not None:
            log.error("send job: %s: sent %d, then stopped: internal error in the transport: "
                      "%s: %s; %d left", period, report.total_sent, bug.__class__.__name__, bug,
                      report.left.total, exc_info=bug)
            continue
        log.info("send job: %s: sent %d, %d failed, %d left", period, report.total_sent,
                 report.failed, report.left.total)


def _relay_failed(issue_id: int, period: str, report: run.SendReport) -> None:
    """Log the relay's error as `digest issue send` prints it, and tell the editors."""
    line = (f"{report.relay_error}; {report.left.total} left, resume with: digest issue send "
            f"{period} (the send job also resumes it when it next runs)")
    log.error("send job: %s: sent %d, then stopped: %s", period, report.total_sent, line)
    _notify(issue_id, f"[digest] {period}: methodd anfon / send failed",
            f"Methodd anfon rhifyn {period}: ni ellid cyrraedd y gweinydd post.\n"
            f"Sending issue {period} stopped: the mail relay could not be reached.\n\n"
            f"{line}\n\nSent so far: {report.total_sent}\n")
def bounce_job() -> None:
    """Read the bounce mailbox once, then purge raw messages past their retention."""
    rt = _rt()
    settings = rt.settings
    try:
        with intake.imap_source(settings) as source:
            report = intake.take(rt.engine, settings, source, FeedbackSource.MAILBOX,
                                 clock=rt.clock)
    except SourceError as exc:  # one line; the next run tries again
        log.warning("bounce job: %s", exc)
        return
    with session_scope(rt.engine, write=True) as session:
        purged = bounce_service.purge(session, settings, now=rt.clock())
    log.info("bounce job: %s; %d raw message(s) purged", report.summary(), purged.raw)


def _tell_once(issue_id: int, period: str, action: IssueAction, why: str, subject: str,
               body: str) -> None:
    """Record `action` and tell the editors, the first time the send job finds it for `why`."""
    rt = _rt()
    with session_scope(rt.engine, write=True) as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        first = not lifecycle.has_event(session, issue, action, why)  # again if `why` changes
        if first:
            lifecycle.record(session, issue, "scheduler", action, why, at=rt.clock())
    log.log(logging.INFO if action is IssueAction.APPROVAL_MISSED else logging.WARNING,
            "send job: %s not sent: %s%s", period, why, "" if first else " (editors already told)")
    if first:
        _notify(issue_id, f"[digest] {period}: {subject}",
                f"{body}{preview_url(rt.settings, issue_id)}\n")


def _notify(issue_id: int, subject: str, body: str) -> None:
    rt = _rt()
    if not rt.settings.editor_addresses:
        log.warning("no editors configured (DIGEST_EDITORS): nobody was told: %s", subject)
        return
    transport = rt.transport_factory()
    try:
        accepted = notify_editors(rt.settings, transport, subject, body)
    finally:
        transport.close()
    with session_scope(rt.engine, write=True) as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None
        lifecycle.record(session, issue, "scheduler", IssueAction.EDITORS_NOTIFIED,
                         f"{subject} ({accepted} of {len(rt.settings.editor_addresses)} "
                         "accepted)", at=rt.clock())


class StepScheduler(BaseScheduler):  # type: ignore[misc]
    """An APScheduler scheduler whose loop is ours: `run_pending` processes what is due now.

    This is how APScheduler's own event-loop schedulers integrate; the daemon, `--once` and the
    tests all drive it, and jobs run in the calling thread (DebugExecutor), one at a time.
    """

    def wakeup(self) -> None:
        """Nothing to wake: the loop calls run_pending."""

    def shutdown(self, wait: bool = True) -> None:
        """Stop and release the job store (abstract in BaseScheduler)."""
        super().shutdown(wait)

    def run_pending(self) -> float | None:
        """Run every due job (coalesced, within the misfire grace); seconds until the next."""
        return self._process_jobs()  # type: ignore[no-any-return]


def make_scheduler(runtime: Runtime) -> StepScheduler:
    """A started scheduler on the database's job store, with the plan and send jobs in it."""
    global _runtime
    _runtime = runtime
    settings = runtime.settings
    schedules(settings)  # a schedule APScheduler refuses: said before the job store is touched
    scheduler = StepScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=runtime.engine,
                                                 tablename=JOBSTORE_TABLE)},
        executors={"default": FireTimeExecutor()},
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": int(settings.misfire_grace_hours * 3600)},
        timezone=settings.tz,
    )
    scheduler.start()
    ensure_jobs(scheduler, settings)
    return scheduler


def schedules(settings: Settings) -> tuple[CronTrigger, CronTrigger]:
    """The plan and send triggers; raises SettingInvalid naming a schedule that will not do."""
    built = []
    now = datetime.now(settings.tz)
    for name in ("plan_schedule", "send_schedule"):
        try:
            trig = trigger(getattr(settings, name), settings)
        except ValueError as exc:
            raise SettingInvalid(name, str(exc).split("\n")[0]) from None
        if trig.get_next_fire_time(None, now) is None:  # day=31; month=2, or a past year
            raise SettingInvalid(name, f"never fires from now on ({trig}); the job would "
                                 "stay paused for ever")
        built.append(trig)
    return built[0], built[1]


def ensure_jobs(scheduler: BaseScheduler, settings: Settings) -> None:
    """Add missing jobs; reschedule only those whose schedule changed in the settings."""
    plan, send = schedules(settings)
    wanted: list[tuple[str, Callable[[], None], BaseTrigger]] = [
        ("plan", plan_job, plan), ("send", send_job, send)]
    if settings.bounce_imap_configured and settings.bounce_poll_minutes > 0:
        wanted.append(("bounces", bounce_job, IntervalTrigger(
            minutes=settings.bounce_poll_minutes, timezone=settings.tz)))
    elif scheduler.get_job("bounces") is not None:
        scheduler.remove_job("bounces")  # the mailbox was unconfigured, or polling turned off
        log.info("removed bounces job")
    for job_id, func, trig in wanted:
        job = scheduler.get_job(job_id)
        if job is None:
            scheduler.add_job(func, trig, id=job_id, name=f"{job_id} job")
            log.info("added %s job: %s", job_id, trig)
        elif str(job.trigger) != str(trig):
            scheduler.reschedule_job(job_id, trigger=trig)
            log.info("rescheduled %s job: %s", job_id, trig)


def jobs(scheduler: BaseScheduler) -> list[tuple[str, str, datetime | None]]:
    """(id, schedule, next fire time) of each job."""
    return [(j.id, str(j.trigger), j.next_run_time) for j in scheduler.get_jobs()]


def run_once(scheduler: StepScheduler, now: datetime, tz: Any) -> str | None:
    """Run the jobs due at `now` (`scheduler --once`); None if any ran, else a line saying
    that nothing was due and when the next job fires."""
    rows = jobs(scheduler)
    if any(when is not None and when <= now for _, _, when in rows):
        scheduler.run_pending()
        return None
    upcoming = sorted((when, job_id) for job_id, _, when in rows if when is not None)
    if not upcoming:
        return "nothing due; every job is paused"
    when, job_id = upcoming[0]
    return (f"nothing due; next: {job_id} job at "
            f"{when.astimezone(tz).strftime('%a %d %b %Y %H:%M %Z')}")


def next_fire_times(text: str, settings: Settings, start: datetime, count: int) -> list[datetime]:
    """The next `count` fire times of a schedule after `start` (to check an expression)."""
    trig = trigger(text, settings)
    out: list[datetime] = []
    previous: datetime | None = None
    moment = start
    while len(out) < count:
        fire = trig.get_next_fire_time(previous, moment)
        if fire is None:
            break
        out.append(fire)
        previous, moment = fire, fire + timedelta(seconds=1)
    return out


def run_forever(scheduler: StepScheduler, stop: threading.Event,
                max_sleep: float = 60.0) -> None:
    """The daemon loop: run what is due, sleep until the next fire (or a stop), repeat."""
    log.info("scheduler started: %s", "; ".join(
        f"{i} next at {t.isoformat() if t else '-'}" for i, _, t in jobs(scheduler)))
    while not stop.is_set():
        wait = scheduler.run_pending()
        # Wake at least every max_sleep: another process may have changed the job store.
        stop.wait(max(0.0, min(wait if wait is not None else max_sleep, max_sleep)))
    log.info("scheduler stopped")


def describe(job_rows: list[tuple[str, str, datetime | None]], tz: Any) -> list[str]:
    """Human lines for `digest scheduler jobs`."""
    return [f"{job_id:5} {schedule:45} next: "
            + (when.astimezone(tz).strftime("%a %d %b %Y %H:%M %Z") if when else "paused")
            for job_id, schedule, when in job_rows]

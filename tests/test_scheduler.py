"""The scheduler through a whole year with a controlled clock (time-machine), on both databases.

APScheduler reads the time through `datetime.now`, which time-machine moves; the test jumps
from one fire time to the next and lets the scheduler run what is due, as the daemon would.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from digest import scheduler
from digest.delivery.transports.base import Outcome, Outgoing, SendResult
from digest.delivery.transports.memory import MemoryTransport
from digest.issue import lifecycle
from digest.settings import Settings
from digest.store.models import (
    Delivery,
    Issue,
    IssueAction,
    IssueEvent,
    IssueItem,
    IssueState,
    Review,
    Subscriber,
)
from tests.factories import add_review, add_subscribers

LONDON = ZoneInfo("Europe/London")
START = datetime(2027, 1, 1, tzinfo=UTC)
END = datetime(2028, 1, 1, tzinfo=UTC)
UNAPPROVED = "2027-03"  # the editors never approve this one
DOWN = "2027-06"  # the machine is down when this month's plan job should fire
QUIET = 7  # nothing is published in July, so the August issue has nothing new


def first_monday(year: int, month: int) -> date:
    day = date(year, month, 1)
    return day + timedelta(days=(7 - day.weekday()) % 7)


def test_default_plan_schedule_is_the_first_monday_at_nine_local(settings: Settings) -> None:
    fires = scheduler.next_fire_times(settings.plan_schedule, settings, START, 12)
    assert [f.astimezone(LONDON).date() for f in fires] == [
        first_monday(2027, m) for m in range(1, 13)]
    assert {f.astimezone(LONDON).hour for f in fires} == {9}
    # 09:00 in Cardiff is 09:00 UTC in winter and 08:00 UTC in summer.
    assert [f.astimezone(UTC).hour for f in fires] == [9, 9, 9, 8, 8, 8, 8, 8, 8, 8, 9, 9]


def test_crontab_weekday_trap_is_avoided(settings: Settings) -> None:
    from apscheduler.triggers.cron import CronTrigger

    trap = CronTrigger.from_crontab("0 9 1-7 * 1", timezone=LONDON)
    fire = trap.get_next_fire_time(None, START)
    assert fire is not None and fire.astimezone(LONDON).weekday() == 1  # a Tuesday!
    ours = scheduler.next_fire_times(settings.plan_schedule, settings, START, 1)[0]
    assert ours.astimezone(LONDON).weekday() == 0


def test_a_schedule_that_fires_only_in_a_later_year_is_accepted(settings: Settings) -> None:
    plan, _ = scheduler.schedules(settings.model_copy(update={"plan_schedule": "year=2199"}))
    assert "2199" in str(plan)


def test_cron_fields_are_validated() -> None:
    assert scheduler.cron_fields("day=1st mon; hour=9") == {"day": "1st mon", "hour": "9"}
    with pytest.raises(ValueError, match="field=value"):
        scheduler.cron_fields("0 9 * * mon")


@pytest.fixture
def year(session: Session, db_settings: Settings) -> Settings:
    """Three subscribers and two reviews published mid-month, except in July."""
    add_subscribers(session, per_language=1)
    for month in range(1, 13):
        if month == QUIET:
            continue
        for day in (10, 20):
            add_review(session, f"r-{month}-{day}", datetime(2027, month, day, 12, tzinfo=UTC))
    add_review(session, "dec-2026", datetime(2026, 12, 15, tzinfo=UTC))
    session.commit()
    return db_settings.model_copy(update={"editors": "editor@example.org"})


def run_year(settings: Settings, engine: Engine, transport: MemoryTransport) -> list[str]:
    """Jump from fire time to fire time through 2027; approve drafts like an editor would."""
    log: list[str] = []
    with time_machine.travel(START, tick=False) as clock:
        sched = scheduler.make_scheduler(scheduler.Runtime(settings, engine, lambda: transport))
        while True:
            upcoming = [t for _, _, t in scheduler.jobs(sched) if t is not None]
            nxt = min(upcoming)
            if nxt >= END:
                break
            period = nxt.astimezone(LONDON).strftime("%Y-%m")
            job = next(i for i, _, t in scheduler.jobs(sched) if t == nxt)
            if job == "plan" and period == DOWN:
                # The machine is down at fire time and comes back five hours later.
                sched.shutdown()
                clock.move_to(nxt + timedelta(hours=5))
                sched = scheduler.make_scheduler(
                    scheduler.Runtime(settings, engine, lambda: transport))
                log.append(f"restart {period}")
            else:
                clock.move_to(nxt)
            sched.run_pending()
            sched.run_pending()  # a second pass at the same moment must do nothing
            log.append(f"{job} {period}")
            if job == "plan":
                approve_draft(engine, period)
        sched.shutdown()
    return log


def approve_draft(engine: Engine, period: str) -> None:
    with Session(engine) as session:
        issue = session.exec(select(Issue).where(Issue.period == period)).first()
        if issue is not None and issue.state is IssueState.DRAFT and period != UNAPPROVED:
            lifecycle.approve(session, issue, "editor")
            session.commit()


def test_a_year_of_issues(engine: Engine, session: Session, year: Settings) -> None:
    transport = MemoryTransport()
    log = run_year(year, engine, transport)
    assert "restart 2027-06" in log

    session.rollback()
    issues = {i.period: i for i in session.exec(select(Issue).order_by(col(Issue.period)))}
    assert list(issues) == [f"2027-{m:02}" for m in range(1, 13)]
    states = {p: i.state for p, i in issues.items()}
    assert states["2027-08"] is IssueState.SKIPPED  # nothing new after the July issue
    assert states[UNAPPROVED] is IssueState.DRAFT  # never approved, never sent
    sent = [p for p, s in states.items() if s is IssueState.SENT]
    assert len(sent) == 10

    # Planned on the first Monday at 09:00 local time, across both DST changes...
    for period, issue in issues.items():
        local = issue.cutoff_at.astimezone(LONDON)
        year_, month = map(int, period.split("-"))
        assert local.date() == first_monday(year_, month), period
        # ...except June, planned once when the machine came back at 14:00.
        assert (local.hour, local.minute) == ((14, 0) if period == DOWN else (9, 0)), period

    events = session.exec(select(IssueEvent)).all()
    per_issue = Counter((e.issue_id, e.action) for e in events
                        if e.action is not IssueAction.EDITORS_NOTIFIED)
    assert all(n == 1 for n in per_issue.values()), per_issue  # nothing happened twice
    by_period = {i.id: p for p, i in issues.items()}
    sends = {by_period[e.issue_id]: e.at.astimezone(LONDON) for e in events
             if e.action is IssueAction.SEND_STARTED}
    assert sorted(sends) == sent
    for period, at in sends.items():
        plan_day = issues[period].cutoff_at.astimezone(LONDON).date()
        assert at.date() == plan_day + timedelta(days=1) and at.hour == 10, period
    missed = [by_period[e.issue_id] for e in events if e.action is IssueAction.APPROVAL_MISSED]
    assert missed == [UNAPPROVED]

    digests = [m for m in transport.sent if m.message_id.startswith("<digest.")]
    assert len(digests) == 10 * 3  # ten issues, three subscribers, once each
    assert len({(m.message_id) for m in digests}) == 30
    notices = [m for m in transport.sent if m.recipient == "editor@example.org"]
    # one "draft ready" per planned issue, one "not approved" for March
    assert len(notices) == 11 + 1


def test_auto_policy_sends_without_an_editor(engine: Engine, session: Session,
                                             year: Settings) -> None:
    transport = MemoryTransport()
    auto = year.model_copy(update={"policy": "auto"})
    with time_machine.travel(datetime(2027, 1, 4, 9, tzinfo=UTC), tick=False) as clock:
        sched = scheduler.make_scheduler(scheduler.Runtime(auto, engine, lambda: transport))
        sched.run_pending()
        clock.move_to(datetime(2027, 1, 5, 10, tzinfo=UTC))
        sched.run_pending()
        sched.shutdown()
    session.rollback()
    issue = session.exec(select(Issue)).one()
    assert issue.state is IssueState.SENT
    assert [e.actor for e in lifecycle.history(session, issue)][:2] == [
        "scheduler", "scheduler (auto policy)"]
    assert not [m for m in transport.sent if m.recipient == "editor@example.org"]


def test_a_month_end_plan_missed_until_after_midnight_plans_the_month_it_was_due_in(
        engine: Engine, session: Session, db_settings: Settings) -> None:
    """Due at 23:30 on 31 July, run at 00:10 on 1 August (the machine was down): it planned
    "2027-08" with July's review, July had no issue, and August's own plan job then found
    its month taken and planned nothing."""
    july = add_review(session, "july", datetime(2027, 7, 15, 12, tzinfo=UTC))
    august = add_review(session, "august", datetime(2027, 8, 15, 12, tzinfo=UTC))
    session.commit()
    ids = {july.id: "july", august.id: "august"}
    settings = db_settings.model_copy(update={"plan_schedule": "day=last; hour=23; minute=30"})
    transport = MemoryTransport()

    def start() -> scheduler.StepScheduler:
        return scheduler.make_scheduler(scheduler.Runtime(settings, engine, lambda: transport))

    with time_machine.travel(datetime(2027, 7, 20, tzinfo=UTC), tick=False) as clock:
        sched = start()
        assert dict((i, t) for i, _, t in scheduler.jobs(sched))["plan"] == datetime(
            2027, 7, 31, 22, 30, tzinfo=UTC)  # 23:30 BST
        sched.shutdown()
        clock.move_to(datetime(2027, 7, 31, 23, 10, tzinfo=UTC))  # 00:10 BST on 1 August
        sched = start()
        sched.run_pending()
        clock.move_to(datetime(2027, 8, 31, 22, 30, tzinfo=UTC))  # August's, on time
        sched.run_pending()
        sched.shutdown()
    session.rollback()
    issues = {i.period: i for i in session.exec(select(Issue))}
    assert sorted(issues) == ["2027-07", "2027-08"]
    carried = {p: sorted(ids[row.item_id] for row in session.exec(
        select(IssueItem).where(IssueItem.issue_id == i.id))) for p, i in issues.items()}
    assert carried == {"2027-07": ["july"], "2027-08": ["august"]}
    # As of the last moment of July (the latest it could be and still be July's).
    assert issues["2027-07"].cutoff_at.astimezone(LONDON) == datetime(
        2027, 7, 31, 23, 59, 59, 999999, tzinfo=LONDON)


@pytest.mark.parametrize(("due", "now", "as_of"), [
    # on time, or late within its month: as of now (the June restart of the year test)
    (datetime(2027, 6, 7, 8, tzinfo=UTC), datetime(2027, 6, 7, 8, tzinfo=UTC), None),
    (datetime(2027, 6, 7, 8, tzinfo=UTC), datetime(2027, 6, 7, 13, tzinfo=UTC), None),
    # late into the next month: the end of its own, in local time (GMT in December)
    (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), datetime(2027, 1, 2, 9, tzinfo=UTC),
     datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    # outside a job (`issue plan`, a test calling plan_job): now
    (None, datetime(2027, 1, 2, 9, tzinfo=UTC), None),
])
def test_plan_as_of_is_now_but_never_past_the_month_due(
        settings: Settings, due: datetime | None, now: datetime, as_of: datetime | None) -> None:
    assert scheduler.plan_as_of(now, due, settings) == (as_of or now)


def test_restarting_does_not_reset_a_missed_fire(engine: Engine, year: Settings) -> None:
    transport = MemoryTransport()
    with time_machine.travel(datetime(2027, 1, 1, tzinfo=UTC), tick=False) as clock:
        sched = scheduler.make_scheduler(scheduler.Runtime(year, engine, lambda: transport))
        plan_at = dict((i, t) for i, _, t in scheduler.jobs(sched))["plan"]
        sched.shutdown()
        clock.move_to(datetime(2027, 1, 6, tzinfo=UTC))  # two days late, within the grace
        sched = scheduler.make_scheduler(scheduler.Runtime(year, engine, lambda: transport))
        assert dict((i, t) for i, _, t in scheduler.jobs(sched))["plan"] == plan_at
        sched.run_pending()
        after = dict((i, t) for i, _, t in scheduler.jobs(sched))["plan"]
        sched.shutdown()
    assert after is not None and after.astimezone(LONDON).date() == date(2027, 2, 1)


def test_a_relay_that_cannot_be_reached_is_logged_and_told_to_the_editors(
        engine: Engine, session: Session, year: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    session.rollback()
    down = SendResult(Outcome.TEMPORARY, "relay smtp.example.org:587 refused the connection",
                      unreachable=True)
    # The subscribers' messages find the relay down; the editors' notice gets through.
    transport = MemoryTransport(script={s.email: down for s in session.exec(select(Subscriber))})
    auto = year.model_copy(update={"policy": "auto"})
    with caplog.at_level(logging.INFO, logger="digest.scheduler"), \
            time_machine.travel(datetime(2027, 1, 4, 9, tzinfo=UTC), tick=False) as clock:
        sched = scheduler.make_scheduler(scheduler.Runtime(auto, engine, lambda: transport))
        sched.run_pending()
        clock.move_to(datetime(2027, 1, 5, 10, tzinfo=UTC))
        sched.run_pending()
        sched.shutdown()
    line = ("relay smtp.example.org:587 refused the connection; 3 left, resume with: "
            "digest issue send 2027-01")
    assert f"send job: 2027-01: sent 0, then stopped: {line}" in caplog.text
    notices = [message_from_bytes(m.data, policy=default) for m in transport.sent
               if m.recipient == "editor@example.org"]
    assert len(notices) == 1 and "send failed" in notices[0]["Subject"]
    assert isinstance(notices[0], EmailMessage) and line in notices[0].get_content()
    session.rollback()
    assert session.exec(select(Issue)).one().state is IssueState.SENDING  # resumable


def test_a_transport_that_raises_is_logged_as_an_error_with_its_traceback(
        engine: Engine, session: Session, year: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """It was logged at INFO as an ordinary run ("sent 0, 0 failed, 3 left")."""
    session.rollback()
    subscribers = {s.email for s in session.exec(select(Subscriber))}

    class Broken(MemoryTransport):
        def send(self, message: Outgoing) -> SendResult:
            if message.recipient in subscribers:
                raise RuntimeError("adapter bug")
            return super().send(message)

    transport = Broken()
    auto = year.model_copy(update={"policy": "auto"})
    with caplog.at_level(logging.INFO, logger="digest.scheduler"), \
            time_machine.travel(datetime(2027, 1, 4, 9, tzinfo=UTC), tick=False) as clock:
        sched = scheduler.make_scheduler(scheduler.Runtime(auto, engine, lambda: transport))
        sched.run_pending()
        clock.move_to(datetime(2027, 1, 5, 10, tzinfo=UTC))
        sched.run_pending()
        sched.shutdown()
    [record] = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.getMessage() == ("send job: 2027-01: sent 0, then stopped: internal error in "
                                   "the transport: RuntimeError: adapter bug; 3 left")
    session.rollback()
    assert session.exec(select(Issue)).one().state is IssueState.SENDING  # resumable


def test_a_database_failure_mid_send_is_one_logged_line(
        engine: Engine, session: Session, year: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.delivery.test_run import _refuse_sent_rows_after

    _refuse_sent_rows_after(engine, 1)
    transport = MemoryTransport()
    auto = year.model_copy(update={"policy": "auto"})
    try:
        with caplog.at_level(logging.INFO, logger="digest.scheduler"), \
                time_machine.travel(datetime(2027, 1, 4, 9, tzinfo=UTC), tick=False) as clock:
            sched = scheduler.make_scheduler(scheduler.Runtime(auto, engine, lambda: transport))
            sched.run_pending()
            clock.move_to(datetime(2027, 1, 5, 10, tzinfo=UTC))
            sched.run_pending()  # raises nothing: the job says what happened
            sched.shutdown()
    finally:
        with engine.begin() as conn:  # PostgreSQL's test database outlives this test
            conn.exec_driver_sql("DROP TRIGGER refuse_sent" + (
                " ON delivery" if engine.dialect.name == "postgresql" else ""))
    [line] = [r.getMessage() for r in caplog.records if "stopped" in r.getMessage()]
    assert line.startswith("send job: 2027-01 stopped: the database failed: ")
    assert "database refuses writes" in line and "\n" not in line
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(("setting", "value", "words"), [
    ("plan_schedule", "day=32", "higher than the maximum value (31)"),
    ("plan_schedule", "blah", "'blah' is not field=value"),
    ("plan_schedule", "fortnight=1", "'fortnight' is not a field"),
    ("plan_schedule", "jitter=abc", "'jitter' is not a field"),
    ("send_schedule", "hour=25", "higher than the maximum value (23)"),
    ("send_schedule", "day_of_week=funday", "funday"),
    ("send_schedule", "minute=*/0", "Increment must be higher than 0"),
    # An empty value (`DIGEST_SEND_SCHEDULE=` in a .env) fired every minute.
    ("send_schedule", "", "is empty"),
    ("plan_schedule", " ; ", "is empty"),
    # A field given twice: the last one quietly won.
    ("plan_schedule", "day=1st mon; hour=9; hour=10", "'hour' is given twice"),
    # A schedule with no fire time left was added as a paused job that never ran.
    ("plan_schedule", "day=31; month=2", "never fires"),
    ("plan_schedule", "day=30; month=feb; hour=9", "never fires"),
    ("send_schedule", "year=2020", "never fires"),
    # Another script's digits: APScheduler read `hour=٩` as 9 and `minute=０` as 0.
    ("send_schedule", "hour=\u0669", "use ASCII digits"),
    ("plan_schedule", "day=1st mon; hour=9; minute=\uff10", "use ASCII digits"),
    ("plan_schedule", "day=\u0661st mon", "use ASCII digits"),
    ("send_schedule", "hour=9\u200b", "use ASCII digits"),
    ("send_schedule", "hour=9\tminute=0", "use ASCII digits"),
])
def test_a_schedule_apscheduler_refuses_names_its_setting(
        settings: Settings, setting: str, value: str, words: str) -> None:
    from digest.settings import SettingInvalid

    with pytest.raises(SettingInvalid) as info:
        scheduler.schedules(settings.model_copy(update={setting: value}))
    assert info.value.field == setting and words in info.value.problem
    assert str(info.value).startswith(f"setting DIGEST_{setting.upper()}: ")


def test_an_item_withdrawn_after_approval_holds_the_send_and_the_editors_are_told_once(
        engine: Engine, session: Session, year: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    transport = MemoryTransport()
    auto = year.model_copy(update={"policy": "auto"})
    with caplog.at_level(logging.INFO, logger="digest.scheduler"), \
            time_machine.travel(datetime(2027, 1, 4, 9, tzinfo=UTC), tick=False) as clock:
        sched = scheduler.make_scheduler(scheduler.Runtime(auto, engine, lambda: transport))
        sched.run_pending()  # planned and approved by the auto policy
        session.rollback()
        review = session.exec(select(Review).where(Review.slug == "dec-2026")).one()
        review.withdrawn_at = datetime(2027, 1, 4, 12, tzinfo=UTC)
        session.add(review)
        session.commit()
        clock.move_to(datetime(2027, 1, 5, 10, tzinfo=UTC))
        sched.run_pending()
        scheduler.send_job()  # the next run finds it held again: nobody is told twice
        sched.shutdown()
    session.rollback()
    issue = session.exec(select(Issue)).one()
    assert issue.state is IssueState.APPROVED
    assert session.exec(select(Delivery)).all() == []
    why = ("issue 2027-01 carries withdrawn item(s): review dec-2026; nothing was sent; reopen "
           "it (digest issue reopen 2027-01 --reason ...), replan it and approve it again, or "
           "cancel it")
    held = [r for r in caplog.records if "not sent" in r.getMessage()]
    assert [(r.levelno, r.getMessage()) for r in held] == [
        (logging.WARNING, f"send job: 2027-01 not sent: {why}"),
        (logging.WARNING, f"send job: 2027-01 not sent: {why} (editors already told)")]
    notices = [message_from_bytes(m.data, policy=default) for m in transport.sent
               if "not sent" in str(message_from_bytes(m.data, policy=default)["Subject"])]
    assert len(notices) == 1 and notices[0]["Subject"] == \
        "[digest] 2027-01: heb ei anfon / not sent"
    assert isinstance(notices[0], EmailMessage) and why in notices[0].get_content()
    assert all(m.recipient == "editor@example.org" for m in transport.sent)

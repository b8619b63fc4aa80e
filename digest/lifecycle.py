"""The issue lifecycle: validated state transitions, the translation check, the history.

    draft --approve--> approved --send--> sending --> sent
      |  \\--replan (stays draft)     |
      \\------cancel-----> cancelled <-/          skipped: a period with nothing new

A transition is one conditional UPDATE (`... WHERE state = <from>`), so two processes racing
for the same step (a deploy overlap, two editors) cannot both take it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from digest.models import (
    Issue,
    IssueAction,
    IssueEvent,
    IssueItem,
    IssueState,
    ItemKind,
    News,
    Review,
    Seminar,
    now_utc,
)

TRANSITIONS: dict[IssueState, set[IssueState]] = {
    IssueState.DRAFT: {IssueState.APPROVED, IssueState.CANCELLED},
    IssueState.APPROVED: {IssueState.SENDING, IssueState.CANCELLED},
    IssueState.SENDING: {IssueState.SENT},
    IssueState.SENT: set(),
    IssueState.CANCELLED: set(),
    IssueState.SKIPPED: set(),
}


class TransitionError(ValueError):
    """A step the lifecycle does not allow from the issue's current state."""


class TranslationCheckFailed(ValueError):
    """Approval refused: something the email shows lacks Welsh or English text."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("translation check failed:\n" + "\n".join(problems))


@dataclass(frozen=True)
class Event:
    """A history entry as shown to people."""

    at: datetime
    actor: str
    action: str
    detail: str | None


def record(session: Session, issue: Issue, actor: str, action: IssueAction,
           detail: str | None = None, at: datetime | None = None) -> None:
    """Append to the issue's history."""
    assert issue.id is not None
    session.add(IssueEvent(issue_id=issue.id, actor=actor, action=action, detail=detail,
                           at=at or now_utc()))


def move(session: Session, issue: Issue, to: IssueState) -> bool:
    """Take the issue from its current state to `to`; False if another process got there first."""
    if to not in TRANSITIONS[issue.state]:
        raise TransitionError(f"issue {issue.period} is {issue.state.value}; "
                              f"it cannot become {to.value}")
    table = Issue.__table__  # type: ignore[attr-defined]
    result = session.execute(sa.update(table).where(
        table.c.id == issue.id, table.c.state == issue.state.value).values(state=to.value))
    session.refresh(issue)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def check_translations(session: Session, issue: Issue) -> list[str]:
    """Everything the email shows that lacks Welsh or English text, one line per gap."""
    rows = session.exec(select(IssueItem).where(IssueItem.issue_id == issue.id)
                        .order_by(col(IssueItem.position))).all()
    models: dict[ItemKind, type[Review] | type[Seminar] | type[News]] = {
        ItemKind.REVIEW: Review, ItemKind.SEMINAR: Seminar, ItemKind.NEWS: News}
    problems = []
    for row in rows:
        item = session.get(models[row.kind], row.item_id)
        assert item is not None
        fields = ["title", "teaser"] + (["location"] if row.kind is ItemKind.SEMINAR else [])
        for name in fields:
            for lang, label in (("cy", "Welsh"), ("en", "English")):
                if not getattr(item, f"{name}_{lang}"):
                    slug = getattr(item, "slug", row.item_id)
                    problems.append(f"{row.kind.value} {slug}: no {label} {name}")
    return problems


def approve(session: Session, issue: Issue, actor: str, *, force_reason: str | None = None,
            ) -> list[str]:
    """Approve a draft; refused while the translation check fails unless forced with a reason."""
    problems = check_translations(session, issue)
    if problems and not force_reason:
        raise TranslationCheckFailed(problems)
    if not move(session, issue, IssueState.APPROVED):
        raise TransitionError(f"issue {issue.period} changed meanwhile; it is now "
                              f"{issue.state.value}")
    if problems:
        record(session, issue, actor, IssueAction.FORCE_APPROVED,
               f"{force_reason}\n" + "\n".join(problems))
    else:
        record(session, issue, actor, IssueAction.APPROVED)
    return problems


def cancel(session: Session, issue: Issue, actor: str, reason: str) -> None:
    """Cancel a draft or approved issue (it will not be sent)."""
    if not move(session, issue, IssueState.CANCELLED):
        raise TransitionError(f"issue {issue.period} changed meanwhile")
    record(session, issue, actor, IssueAction.CANCELLED, reason)


def history(session: Session, issue: Issue) -> list[Event]:
    """The issue's events, oldest first."""
    rows = session.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id)
                        .order_by(col(IssueEvent.at), col(IssueEvent.id))).all()
    return [Event(r.at, r.actor, r.action.value, r.detail) for r in rows]


def has_event(session: Session, issue: Issue, action: IssueAction) -> bool:
    """Whether the history already holds `action` (for once-only notices)."""
    return session.exec(select(IssueEvent.id).where(
        IssueEvent.issue_id == issue.id, IssueEvent.action == action)).first() is not None

"""The issue lifecycle: validated state transitions, the translation check, the history.

    draft --approve--> approved --send--> sending --> sent
    draft <--reopen--- approved            (replan: a draft stays a draft)
    draft, approved --cancel--> cancelled  skipped: a period with nothing new

A transition is one conditional UPDATE (`... WHERE state = <from>`), so two processes racing
for the same step (a deploy overlap, two editors) cannot both take it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from digest.store.models import (
    CONTENT_MODELS,
    ContentRow,
    Issue,
    IssueAction,
    IssueEvent,
    IssueItem,
    IssueState,
    ItemKind,
    core_table,
    now_utc,
)

TRANSITIONS: dict[IssueState, set[IssueState]] = {
    IssueState.DRAFT: {IssueState.APPROVED, IssueState.CANCELLED},
    IssueState.APPROVED: {IssueState.SENDING, IssueState.CANCELLED, IssueState.DRAFT},
    IssueState.SENDING: {IssueState.SENT},
    IssueState.SENT: set(),
    IssueState.CANCELLED: set(),
    IssueState.SKIPPED: set(),
}


# Issues a later issue's planning follows on from (its cutoff is where the next one starts).
COUNTS_AS_PREVIOUS = (IssueState.DRAFT, IssueState.APPROVED, IssueState.SENDING, IssueState.SENT)
# Issues the send job looks at once their send time has come (a draft there missed approval).
AWAITING_SEND = (IssueState.DRAFT, IssueState.APPROVED, IssueState.SENDING)
# Issues whose outbox may be created and worked: a sent issue is resumed for retries.
SENDABLE = (IssueState.APPROVED, IssueState.SENDING, IssueState.SENT)


class TransitionError(ValueError):
    """A step the lifecycle does not allow from the issue's current state."""


class EmptyIssue(TransitionError):
    """Approval refused: the issue has no items (there is nothing to send)."""


class WithdrawnItems(TransitionError):
    """Approval or the first send refused: the issue carries items whose files now say
    `withdrawn: true`."""


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


# How a refusal names the issues a step starts from, and the step itself.
_WHICH = {IssueState.DRAFT: "a draft", IssueState.APPROVED: "an approved issue",
          IssueState.SENDING: "an issue being sent", IssueState.SENT: "a sent issue",
          IssueState.CANCELLED: "a cancelled issue", IssueState.SKIPPED: "a skipped period"}
_DOING = {IssueState.DRAFT: "reopened", IssueState.APPROVED: "approved", IssueState.SENDING: "sent",
          IssueState.SENT: "marked sent", IssueState.CANCELLED: "cancelled"}


def require_transition(issue: Issue, to: IssueState, doing: str | None = None) -> None:
    """Raise TransitionError naming the issue's state unless it may become `to`: "issue
    2026-09 is sent; only a draft can be approved" (`doing`: the step, as in that line)."""
    if to in TRANSITIONS[issue.state]:
        return
    sources = " or ".join(_WHICH[s] for s, targets in TRANSITIONS.items() if to in targets)
    if not sources:  # a state no step leads to (a draft is only ever planned)
        raise TransitionError(f"issue {issue.period} is {issue.state.value}; it cannot become "
                              f"{to.value}")
    hint = "; approve it first" if to is IssueState.SENDING and \
        issue.state is IssueState.DRAFT else ""
    raise TransitionError(f"issue {issue.period} is {issue.state.value}; only {sources} can "
                          f"be {doing or _DOING[to]}{hint}")


def move(session: Session, issue: Issue, to: IssueState) -> bool:
    """Take the issue from its current state to `to`; False if another process got there first."""
    require_transition(issue, to)
    table = core_table(Issue)
    result = session.execute(sa.update(table).where(
        table.c.id == issue.id, table.c.state == issue.state.value).values(state=to.value))
    session.refresh(issue)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def require_draft(issue: Issue, doing: str) -> None:
    """Raise TransitionError naming the issue's state unless it is a draft (only drafts are
    replanned or re-rendered: steps that leave it a draft)."""
    if issue.state is not IssueState.DRAFT:
        raise TransitionError(f"issue {issue.period} is {issue.state.value}; only a draft can "
                              f"be {doing}")


def can_send(issue: Issue) -> str | None:
    """None if the issue may be sent (or resumed); otherwise why not, in one line."""
    if issue.state in SENDABLE:
        return None
    hint = "; approve it first" if issue.state is IssueState.DRAFT else ""
    return f"issue {issue.period} is {issue.state.value}; it cannot be sent{hint}"


def can_start_sending(issue: Issue) -> str | None:
    """None if an editor may start the first send of this issue; otherwise why not."""
    try:
        require_transition(issue, IssueState.SENDING)
    except TransitionError as exc:
        return str(exc)
    return None


def start_send(session: Session, issue: Issue, actor: str, created: int) -> bool:
    """Mark an approved issue sending (once, whoever gets there first) and record it; True
    for the caller that did."""
    if issue.state is IssueState.APPROVED and move(session, issue, IssueState.SENDING):
        record(session, issue, actor, IssueAction.SEND_STARTED, f"{created} outbox row(s)")
        return True
    return False


def finish_send(session: Session, issue: Issue, work_left: int) -> None:
    """Mark a sending issue sent once nothing is left to do for it, and record it."""
    if work_left == 0 and issue.state is IssueState.SENDING and \
            move(session, issue, IssueState.SENT):
        record(session, issue, "sender", IssueAction.SENT)


@dataclass(frozen=True)
class Gap:
    """Text the email shows that is missing in one language."""

    kind: ItemKind
    slug: str
    field: str  # title, teaser or location
    lang: str  # the language it is missing in

    def line(self) -> str:
        """`review alpha: no Welsh title` (the history and the CLI say it so)."""
        label = "Welsh" if self.lang == "cy" else "English"
        return f"{self.kind.value} {self.slug}: no {label} {self.field}"


@dataclass(frozen=True)
class ShownItem:
    """An item of the issue as its content is now, and the fields the email shows of it."""

    kind: ItemKind
    slug: str
    content: ContentRow
    fields: list[str]  # title and teaser, and a seminar's location; the body is not shown

    def text(self, name: str, lang: str) -> str | None:
        """The text of field `name` in `lang` ("title", "cy": the Welsh title), or None."""
        value: str | None = getattr(self.content, f"{name}_{lang}")
        return value


def shown_items(session: Session, issue: Issue) -> list[ShownItem]:
    """The issue's items in display order, with their content as it is now."""
    rows = session.exec(select(IssueItem).where(IssueItem.issue_id == issue.id)
                        .order_by(col(IssueItem.position))).all()
    shown = []
    for row in rows:
        item = session.get(CONTENT_MODELS[row.kind], row.item_id)
        assert item is not None
        fields = ["title", "teaser"] + (["location"] if row.kind is ItemKind.SEMINAR else [])
        shown.append(ShownItem(row.kind, item.slug, item, fields))
    return shown


def translation_gaps(session: Session, issue: Issue) -> list[Gap]:
    """Everything the email shows that lacks Welsh or English text, in display order."""
    return [Gap(item.kind, item.slug, name, lang)
            for item in shown_items(session, issue)
            for name in item.fields
            for lang in ("cy", "en") if not item.text(name, lang)]


def withdrawn_items(session: Session, issue: Issue) -> list[tuple[ItemKind, str]]:
    """The (kind, slug) of each item the issue carries that has since been withdrawn."""
    found: list[tuple[ItemKind, str]] = []
    frozen = core_table(IssueItem).c
    for kind, model in CONTENT_MODELS.items():
        rows = core_table(model).c
        found += [(kind, slug) for slug in session.execute(
            sa.select(rows.slug).join(core_table(IssueItem), frozen.item_id == rows.id)
            .where(frozen.issue_id == issue.id, frozen.kind == kind.value,
                   rows.withdrawn_at.is_not(None)).order_by(rows.slug)).scalars()]
    return found


def check_translations(session: Session, issue: Issue) -> list[str]:
    """Everything the email shows that lacks Welsh or English text, one line per gap."""
    return [gap.line() for gap in translation_gaps(session, issue)]


def approve(session: Session, issue: Issue, actor: str, *, force_reason: str | None = None,
            ) -> list[str]:
    """Approve a draft that has items, none of them withdrawn; refused while the translation
    check fails unless forced with a reason."""
    require_transition(issue, IssueState.APPROVED)  # before the check: its state is the reason
    if session.exec(select(IssueItem.item_id).where(IssueItem.issue_id == issue.id)
                    ).first() is None:
        raise EmptyIssue(f"issue {issue.period} has no items; nothing to approve (replan it "
                         "when there is something new, or cancel it)")
    refuse_withdrawn(session, issue, "replan it to drop them")  # never forced: not to be sent
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


def reopen(session: Session, issue: Issue, actor: str, reason: str) -> None:
    """Take an approved issue back to draft (to replan it, e.g. after an item was withdrawn);
    it is approved again like any draft."""
    require_transition(issue, IssueState.DRAFT)
    if not move(session, issue, IssueState.DRAFT):
        raise TransitionError(f"issue {issue.period} changed meanwhile; it is now "
                              f"{issue.state.value}")
    record(session, issue, actor, IssueAction.REOPENED, reason)


def refuse_first_send(session: Session, issue: Issue) -> None:
    """Raise WithdrawnItems if the issue is approved (its send not started) and carries a
    withdrawn item; a send under way is finished as it began (half the list has it)."""
    if issue.state is IssueState.APPROVED:
        refuse_withdrawn(session, issue, "nothing was sent; reopen it (digest issue reopen "
                         f"{issue.period} --reason ...), replan it and approve it again, or "
                         "cancel it")


def refuse_withdrawn(session: Session, issue: Issue, remedy: str) -> None:
    """Raise WithdrawnItems naming each withdrawn item the issue carries, and `remedy`."""
    if withdrawn := withdrawn_items(session, issue):
        named = ", ".join(f"{kind.value} {slug}" for kind, slug in withdrawn)
        raise WithdrawnItems(f"issue {issue.period} carries withdrawn item(s): {named}; "
                             f"{remedy}")


def cancel(session: Session, issue: Issue, actor: str, reason: str) -> None:
    """Cancel a draft or approved issue (it will not be sent)."""
    require_transition(issue, IssueState.CANCELLED)
    if not move(session, issue, IssueState.CANCELLED):
        raise TransitionError(f"issue {issue.period} changed meanwhile")
    record(session, issue, actor, IssueAction.CANCELLED, reason)


def history(session: Session, issue: Issue) -> list[Event]:
    """The issue's events, oldest first."""
    rows = session.exec(select(IssueEvent).where(IssueEvent.issue_id == issue.id)
                        .order_by(col(IssueEvent.at), col(IssueEvent.id))).all()
    return [Event(r.at, r.actor, r.action.value, r.detail) for r in rows]


def has_event(session: Session, issue: Issue, action: IssueAction,
              detail: str | None = None) -> bool:
    """Whether the history already holds `action` (with `detail`, if given), for once-only
    notices."""
    query = select(IssueEvent.id).where(IssueEvent.issue_id == issue.id,
                                        IssueEvent.action == action)
    if detail is not None:
        query = query.where(IssueEvent.detail == detail)
    return session.exec(query).first() is not None

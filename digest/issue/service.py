"""Issue services: plan (and render) an issue, load its content, describe it, write previews.

Each function takes a session and leaves the commit to its caller.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from digest.issue.lifecycle import (
    COUNTS_AS_PREVIOUS,
    Event,
    check_translations,
    history,
    record,
    require_draft,
)
from digest.issue.planner import Candidate, IssuePlan, PlanRules, period_of, plan_issue
from digest.render.views import IssueContent, news_view, review_view, seminar_view
from digest.settings import Settings
from digest.store.models import (
    Delivery,
    DeliveryState,
    Issue,
    IssueAction,
    IssueItem,
    IssueState,
    IssueVariant,
    ItemKind,
    Language,
    News,
    Review,
    Seminar,
    core_table,
)
from digest.text import UNSAFE

if TYPE_CHECKING:  # a send of stored variants renders nothing: no Jinja2 or MJML
    from digest.render.renderer import Renderer


class IssueNotFound(LookupError):
    """No issue with that id or period."""


class NothingNew(ValueError):
    """A replan that would leave the issue with fewer new items than the minimum: refused."""


@dataclass(frozen=True)
class PlanOutcome:
    """What `plan` did: the issue (new or existing), or why there is none."""

    issue: Issue | None
    created: bool
    plan: IssuePlan | None
    message: str


def rules_from(settings: Settings) -> PlanRules:
    """Planner rules from the settings."""
    return PlanRules(tz=settings.tz, seminar_window=timedelta(weeks=settings.seminar_window_weeks),
                     min_new=settings.min_new_items)


def _candidates(session: Session) -> list[Candidate]:
    """Every item not withdrawn, as a light tuple (no ORM objects)."""
    review, news, seminar = core_table(Review).c, core_table(News).c, core_table(Seminar).c
    out = [Candidate(ItemKind.REVIEW, i, p) for i, p in session.execute(
        sa.select(review.id, review.published_at).where(review.withdrawn_at.is_(None)))]
    out += [Candidate(ItemKind.NEWS, i, p) for i, p in session.execute(
        sa.select(news.id, news.published_at).where(news.withdrawn_at.is_(None)))]
    out += [Candidate(ItemKind.SEMINAR, i, p, s) for i, p, s in session.execute(
        sa.select(seminar.id, seminar.published_at, seminar.starts_at)
        .where(seminar.withdrawn_at.is_(None)))]
    return out


def get_issue(session: Session, ref: str | int) -> Issue:
    """An issue by id or by period (`2026-09`)."""
    if isinstance(ref, int) or (str(ref).isascii() and str(ref).isdigit()):
        # An id past the integer column's range names no issue (and would be a database error).
        issue = session.get(Issue, int(ref)) if 0 < int(ref) <= 2**31 - 1 else None
    elif UNSAFE.search(str(ref)):  # no period holds one, and a database refuses some
        issue = None  # (a lone surrogate, from a byte in argv that is not UTF-8; NUL)
    else:
        issue = session.exec(select(Issue).where(Issue.period == str(ref))).first()
    if issue is None:
        raise IssueNotFound(f"no issue {ref!r}")
    return issue


def _select(session: Session, settings: Settings, period: str, as_of: datetime,
            exclude: int | None = None) -> IssuePlan:
    """Run the pure planner on the store's items for `period` (ignoring issue `exclude`)."""
    previous = session.exec(
        select(Issue).where(Issue.period < period,
                            col(Issue.state).in_(COUNTS_AS_PREVIOUS))
        .order_by(col(Issue.period).desc())
    ).first()
    featured_q = sa.select(IssueItem.kind, IssueItem.item_id)  # type: ignore[call-overload]
    if exclude is not None:
        featured_q = featured_q.where(IssueItem.issue_id != exclude)
    featured = {(k, i) for k, i in session.execute(featured_q)}
    return plan_issue(_candidates(session),
                      previous_cutoff=previous.cutoff_at if previous else None,
                      featured=featured, now=as_of, rules=rules_from(settings))


def _freeze(session: Session, issue: Issue, result: IssuePlan) -> None:
    """Write the plan's items into the issue, in display order."""
    assert issue.id is not None
    position = 0
    for kind, ids in ((ItemKind.REVIEW, result.reviews), (ItemKind.SEMINAR, result.seminars),
                      (ItemKind.NEWS, result.news)):
        for item_id in ids:
            session.add(IssueItem(issue_id=issue.id, kind=kind, item_id=item_id,
                                  position=position))
            position += 1
    session.flush()


def send_after(settings: Settings, as_of: datetime) -> datetime:
    """The earliest send time for an issue planned at `as_of`: the start of the local day
    `send_delay_days` later (the daily send job then sends it at its own hour)."""
    local = as_of.astimezone(settings.tz).date() + timedelta(days=settings.send_delay_days)
    return datetime.combine(local, time(0, 0), tzinfo=settings.tz).astimezone(UTC)


def _summary(result: IssuePlan) -> str:
    return (f"{len(result.reviews)} review(s), {len(result.seminars)} seminar(s), "
            f"{len(result.news)} news item(s)")


def plan(session: Session, settings: Settings, as_of: datetime,
         renderer: Renderer | None = None, *, actor: str = "cli",
         record_skip: bool = False) -> PlanOutcome:
    """Plan and render the issue for the month of `as_of`; idempotent per period.

    With nothing new, no issue is made; `record_skip` (the scheduler) stores the period as
    `skipped` so that it is decided once.
    """
    period = period_of(as_of, settings.tz)
    existing = session.exec(select(Issue).where(Issue.period == period)).first()
    if existing is not None:
        return PlanOutcome(existing, False, None,
                           f"issue {existing.period} already exists (#{existing.id}, "
                           f"{existing.state.value}); nothing changed")
    result = _select(session, settings, period, as_of)
    nothing_new = (f"nothing new for {period}: {result.new_count} new item(s), "
                   f"minimum {settings.min_new_items}")
    if not result.worth_sending and not record_skip:
        return PlanOutcome(None, False, result, nothing_new + "; no issue made")
    state = IssueState.DRAFT if result.worth_sending else IssueState.SKIPPED
    issue = Issue(period=period, since_at=result.since_at, cutoff_at=result.cutoff_at,
                  state=state, send_after=send_after(settings, as_of))
    try:
        with session.begin_nested():
            session.add(issue)
            session.flush()
    except IntegrityError:  # a concurrent planner won the race for this period
        winner = session.exec(select(Issue).where(Issue.period == period)).one()
        return PlanOutcome(winner, False, None, f"issue {period} was planned concurrently")
    if state is IssueState.SKIPPED:
        record(session, issue, actor, IssueAction.SKIPPED, nothing_new)
        return PlanOutcome(issue, True, result, nothing_new + "; period skipped")
    _freeze(session, issue, result)
    render_issue(session, settings, issue, renderer)
    record(session, issue, actor, IssueAction.PLANNED, _summary(result))
    return PlanOutcome(issue, True, result,
                       f"planned issue {period} (#{issue.id}): {_summary(result)}")


def replan(session: Session, settings: Settings, issue: Issue, as_of: datetime,
           actor: str) -> IssuePlan:
    """Re-select a draft's items as of `as_of` (same period) and re-render it; refused, with
    nothing changed, when that would leave it with nothing new (NothingNew)."""
    require_draft(issue, "replanned")
    # As the editor gave it (--as-of is local time), not as the UTC the store keeps.
    local = f"{as_of.astimezone(settings.tz):%Y-%m-%d %H:%M} {settings.timezone}"
    if period_of(as_of, settings.tz) != issue.period:
        raise ValueError(f"{local} is not in {issue.period}; an issue is replanned only as of a "
                         "moment in its own month")
    result = _select(session, settings, issue.period, as_of, exclude=issue.id)
    if not result.worth_sending:
        raise NothingNew(f"nothing new for {issue.period} as of {local}: {result.new_count} new "
                         f"item(s), minimum {settings.min_new_items}; the issue is unchanged")
    session.execute(sa.delete(IssueItem).where(IssueItem.issue_id == issue.id))  # type: ignore[arg-type]
    issue.since_at, issue.cutoff_at = result.since_at, result.cutoff_at
    _freeze(session, issue, result)
    render_issue(session, settings, issue)
    record(session, issue, actor, IssueAction.REPLANNED, _summary(result))
    return result


def load_content(session: Session, settings: Settings, issue: Issue) -> IssueContent:
    """The frozen items of an issue as render views, in display order."""
    rows = session.exec(select(IssueItem).where(IssueItem.issue_id == issue.id)
                        .order_by(col(IssueItem.position))).all()
    ids: dict[ItemKind, list[int]] = {k: [] for k in ItemKind}
    for row in rows:
        ids[row.kind].append(row.item_id)

    reviews = {r.id: r for r in session.exec(
        select(Review).where(col(Review.id).in_(ids[ItemKind.REVIEW])))}
    seminars = {s.id: s for s in session.exec(
        select(Seminar).where(col(Seminar.id).in_(ids[ItemKind.SEMINAR])))}
    news = {n.id: n for n in session.exec(
        select(News).where(col(News.id).in_(ids[ItemKind.NEWS])))}
    return IssueContent(
        period=issue.period,
        reviews=[review_view(reviews[i]) for i in ids[ItemKind.REVIEW]],
        seminars=[seminar_view(seminars[i], settings.tz) for i in ids[ItemKind.SEMINAR]],
        news=[news_view(news[i]) for i in ids[ItemKind.NEWS]],
    )


def render_issue(session: Session, settings: Settings, issue: Issue,
                 renderer: Renderer | None = None) -> list[IssueVariant]:
    """Render and store the three variants (replacing earlier renders of a draft)."""
    require_draft(issue, "re-rendered")
    issue.link_check = None  # it checked the links of the render this one replaces
    if renderer is None:
        from digest.render.renderer import Renderer
        renderer = Renderer(settings)
    content = load_content(session, settings, issue)
    stored = []
    for language in Language:
        v = renderer.render(content, language)
        row = session.get(IssueVariant, (issue.id, language))
        if row is None:
            row = IssueVariant(issue_id=issue.id, language=language, subject=v.subject,  # type: ignore[arg-type]
                               preheader=v.preheader, html=v.html, text=v.text)
            session.add(row)
        else:
            row.subject, row.preheader, row.html, row.text = v.subject, v.preheader, v.html, v.text
        stored.append(row)
    session.flush()
    return stored


def variants(session: Session, issue: Issue) -> dict[Language, IssueVariant]:
    """The stored variants of an issue by language."""
    rows = session.exec(select(IssueVariant).where(IssueVariant.issue_id == issue.id)).all()
    return {r.language: r for r in rows}


@dataclass(frozen=True)
class VariantGlance:
    """A stored variant as an inbox lists it (subject, then preview line) and its HTML size."""

    language: Language
    subject: str
    preheader: str
    html_bytes: int


@dataclass(frozen=True)
class ItemTitles:
    """An item of the issue by its kind, its slug and its Welsh and English titles (Welsh
    first): the slug is how the translation check names it, and its content files' name."""

    kind: ItemKind
    slug: str
    cy: str
    en: str


@dataclass(frozen=True)
class IssueSummary:
    """An issue at a glance: its state and window, variants, items, translation check, history."""

    id: int
    period: str
    state: IssueState
    since_at: datetime
    cutoff_at: datetime
    variants: list[VariantGlance]  # by language
    items: list[ItemTitles]  # in display order
    problems: list[str]  # the translation check's; none when it passes
    history: list[Event]  # oldest first


def describe(session: Session, settings: Settings, issue: Issue) -> IssueSummary:
    """Everything `digest issue show` prints about an issue."""
    content = load_content(session, settings, issue)
    items = [ItemTitles(kind, view.slug, view.title("cy").value, view.title("en").value)
             for kind, views in ((ItemKind.REVIEW, content.reviews),
                                 (ItemKind.SEMINAR, content.seminars),
                                 (ItemKind.NEWS, content.news))
             for view in views]
    sizes = [VariantGlance(lang, v.subject, v.preheader, len(v.html.encode()))
             for lang, v in sorted(variants(session, issue).items())]
    return IssueSummary(issue.id or 0, issue.period, issue.state, issue.since_at,
                        issue.cutoff_at, sizes, items, check_translations(session, issue),
                        history(session, issue))


def write_preview(session: Session, issue: Issue, language: Language, out_dir: Path) -> list[Path]:
    """Write a variant's HTML, text and subject to files an editor can open."""
    variant = variants(session, issue).get(language)
    if variant is None:
        raise IssueNotFound(f"issue {issue.period} has no {language.value} variant")
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "is a file, not a folder", str(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{issue.period}-{language.value}"
    html, text = stem.with_suffix(".html"), stem.with_suffix(".txt")
    html.write_text(variant.html, encoding="utf-8")
    text.write_text(f"Subject: {variant.subject}\nPreheader: {variant.preheader}\n\n{variant.text}",
                    encoding="utf-8")
    return [html, text]


@dataclass(frozen=True)
class IssueRow:
    """One line of the issue list."""

    id: int
    period: str
    state: str
    items: int
    sent: int
    open: int
    send_after: str | None


def list_issues(session: Session) -> list[IssueRow]:
    """Every issue, newest first, with item and delivery counts."""
    items: dict[int, int] = dict(session.execute(  # type: ignore[call-overload]
        sa.select(col(IssueItem.issue_id), sa.func.count())
        .group_by(col(IssueItem.issue_id))).all())
    sent: dict[int, int] = {}
    open_rows: dict[int, int] = {}
    for issue_id, state, n in session.execute(
            sa.select(Delivery.issue_id, Delivery.state, sa.func.count())  # type: ignore[call-overload]
            .group_by(Delivery.issue_id, Delivery.state)):
        if state is DeliveryState.SENT:
            sent[issue_id] = n
        elif state in (DeliveryState.PENDING, DeliveryState.RETRY, DeliveryState.SENDING):
            open_rows[issue_id] = open_rows.get(issue_id, 0) + n
    rows = session.exec(select(Issue).order_by(col(Issue.period).desc())).all()
    return [IssueRow(r.id or 0, r.period, r.state.value, items.get(r.id or 0, 0),
                     sent.get(r.id or 0, 0), open_rows.get(r.id or 0, 0),
                     r.send_after.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
                     if r.send_after else None) for r in rows]

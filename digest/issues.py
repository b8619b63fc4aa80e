"""Issue services: plan (and render) an issue, load its content, write previews.

Each function takes a session and leaves the commit to its caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from digest.models import (
    Issue,
    IssueItem,
    IssueState,
    IssueVariant,
    ItemKind,
    Language,
    News,
    Review,
    Seminar,
)
from digest.plan import Candidate, IssuePlan, PlanRules, period_of, plan_issue
from digest.render import IssueContent, Renderer, news_view, review_view, seminar_view
from digest.settings import Settings


class IssueNotFound(LookupError):
    """No issue with that id or period."""


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
    """Every item as a light tuple (no ORM objects)."""
    out = [Candidate(ItemKind.REVIEW, i, p) for i, p in
           session.execute(sa.select(Review.id, Review.published_at))]  # type: ignore[call-overload]
    out += [Candidate(ItemKind.NEWS, i, p) for i, p in
            session.execute(sa.select(News.id, News.published_at))]  # type: ignore[call-overload]
    out += [Candidate(ItemKind.SEMINAR, i, p, s) for i, p, s in session.execute(
        sa.select(Seminar.id, Seminar.published_at, Seminar.starts_at))]  # type: ignore[call-overload]
    return out


def get_issue(session: Session, ref: str | int) -> Issue:
    """An issue by id or by period (`2026-09`)."""
    if isinstance(ref, int) or str(ref).isdigit():
        issue = session.get(Issue, int(ref))
    else:
        issue = session.exec(select(Issue).where(Issue.period == str(ref))).first()
    if issue is None:
        raise IssueNotFound(f"no issue {ref!r}")
    return issue


def plan(session: Session, settings: Settings, as_of: datetime,
         renderer: Renderer | None = None) -> PlanOutcome:
    """Plan and render the issue for the month of `as_of`; idempotent per period."""
    period = period_of(as_of, settings.tz)
    existing = session.exec(select(Issue).where(Issue.period == period)).first()
    if existing is not None:
        return PlanOutcome(existing, False, None,
                           f"issue {existing.period} already exists (#{existing.id}, "
                           f"{existing.state.value}); nothing changed")
    previous = session.exec(
        select(Issue).where(Issue.period < period,
                            col(Issue.state).notin_([IssueState.CANCELLED, IssueState.SKIPPED]))
        .order_by(col(Issue.period).desc())
    ).first()
    featured = {(k, i) for k, i in session.execute(
        sa.select(IssueItem.kind, IssueItem.item_id))}  # type: ignore[call-overload]
    result = plan_issue(_candidates(session),
                        previous_cutoff=previous.cutoff_at if previous else None,
                        featured=featured, now=as_of, rules=rules_from(settings))
    if not result.worth_sending:
        return PlanOutcome(None, False, result,
                           f"nothing new for {period}: {result.new_count} new item(s), "
                           f"minimum {settings.min_new_items}; no issue made")
    issue = Issue(period=period, since_at=result.since_at, cutoff_at=result.cutoff_at,
                  state=IssueState.DRAFT)
    try:
        with session.begin_nested():
            session.add(issue)
            session.flush()
    except IntegrityError:  # a concurrent planner won the race for this period
        winner = session.exec(select(Issue).where(Issue.period == period)).one()
        return PlanOutcome(winner, False, None, f"issue {period} was planned concurrently")
    assert issue.id is not None
    position = 0
    for kind, ids in ((ItemKind.REVIEW, result.reviews), (ItemKind.SEMINAR, result.seminars),
                      (ItemKind.NEWS, result.news)):
        for item_id in ids:
            session.add(IssueItem(issue_id=issue.id, kind=kind, item_id=item_id,
                                  position=position))
            position += 1
    session.flush()
    render_issue(session, settings, issue, renderer)
    return PlanOutcome(issue, True, result,
                       f"planned issue {period} (#{issue.id}): {len(result.reviews)} review(s), "
                       f"{len(result.seminars)} seminar(s), {len(result.news)} news item(s)")


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
    if issue.state not in (IssueState.DRAFT,):
        raise ValueError(f"issue {issue.period} is {issue.state.value}; only drafts re-render")
    renderer = renderer or Renderer(settings)
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


def write_preview(session: Session, issue: Issue, language: Language, out_dir: Path) -> list[Path]:
    """Write a variant's HTML, text and subject to files an editor can open."""
    variant = variants(session, issue).get(language)
    if variant is None:
        raise IssueNotFound(f"issue {issue.period} has no {language.value} variant")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{issue.period}-{language.value}"
    html, text = stem.with_suffix(".html"), stem.with_suffix(".txt")
    html.write_text(variant.html, encoding="utf-8")
    text.write_text(f"Subject: {variant.subject}\nPreheader: {variant.preheader}\n\n{variant.text}",
                    encoding="utf-8")
    return [html, text]

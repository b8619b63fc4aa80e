"""The side-by-side comparison: every field in both languages, missing and much shorter
translations flagged, short texts (titles) allowed to differ."""

from __future__ import annotations

from sqlmodel import Session, select

from digest.issue.compare import MIN_COMPARED, compare, side_by_side
from digest.store.models import Issue, ItemKind, Review, Seminar


def test_compare_flags_missing_and_much_shorter_text() -> None:
    assert compare("title", "Teitl", "Title").flag is None
    assert compare("title", "", None).flag is None  # nothing in either: nothing to translate
    missing = compare("teaser", None, "Something happened.")
    assert (missing.flag, missing.lang, missing.share) == ("missing", "cy", 0.0)
    assert compare("teaser", "Digwyddodd rhywbeth.", "  ").lang == "en"
    english = "x" * 100
    short = compare("body", "y" * 45, english)
    assert (short.flag, short.lang, short.share) == ("short", "cy", 0.45)
    assert compare("body", "y" * 50, english).flag is None  # half is still a translation
    assert compare("body", english, "z" * 30).lang == "en"
    # Short fields may differ a lot: "Seminar" against "A seminar on gangs" is no gap.
    assert compare("title", "Seminar", "x" * (MIN_COMPARED - 1)).flag is None
    assert compare("title", "Seminar", "x" * MIN_COMPARED).flag == "short"


def test_side_by_side_lists_every_item_and_field_in_display_order(
        session: Session, draft: Issue) -> None:
    alpha = session.exec(select(Review).where(Review.slug == "alpha")).one()
    alpha.teaser_cy = None
    alpha.body_en, alpha.body_cy = "A long English body. " * 10, "Byr."
    session.commit()
    items = side_by_side(session, draft)
    assert [i.kind for i in items] == [ItemKind.REVIEW] * 3 + [ItemKind.SEMINAR] * 2 + [
        ItemKind.NEWS]
    first = next(i for i in items if i.slug == "alpha")
    assert [f.name for f in first.fields] == ["title", "teaser", "body"]
    assert first.flagged == 2
    teaser = first.fields[1]
    assert (teaser.flag, teaser.lang, teaser.en) == ("missing", "cy", "What alpha found.")
    assert first.fields[2].flag == "short" and first.fields[2].lang == "cy"
    seminar = next(i for i in items if i.kind is ItemKind.SEMINAR)
    assert [f.name for f in seminar.fields] == ["title", "teaser", "location", "body"]
    row = session.exec(select(Seminar).where(Seminar.slug == seminar.slug)).one()
    assert seminar.fields[2].cy == row.location_cy and seminar.flagged == 0

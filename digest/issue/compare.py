"""Each item of an issue in Welsh and English side by side, field by field, with the missing
and much shorter translations flagged: the review a bilingual editor does before approving."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from digest.issue.lifecycle import shown_items
from digest.store.models import Issue, ItemKind

# A translation under this share of the other language's length is flagged (Welsh text runs
# about a tenth longer than English, so a real translation stays well above it)...
SHORT_SHARE = 0.5
# ...unless the longer one is itself short (titles may fairly differ by a few words).
MIN_COMPARED = 40


@dataclass(frozen=True)
class FieldPair:
    """One field in both languages, and what is wrong with it, if anything."""

    name: str  # title, teaser, location or body
    cy: str
    en: str
    flag: str | None  # "missing" or "short", about `lang`
    lang: str | None  # the language flagged
    share: float | None  # the flagged text's length as a share of the other's

    @property
    def flagged(self) -> bool:
        """Whether the editor should look at this field."""
        return self.flag is not None


@dataclass(frozen=True)
class ItemPair:
    """One item of the issue, every field in both languages."""

    kind: ItemKind
    slug: str
    fields: list[FieldPair]

    @property
    def flagged(self) -> int:
        """How many of its fields are flagged."""
        return sum(f.flagged for f in self.fields)


def compare(name: str, cy: str | None, en: str | None) -> FieldPair:
    """A field's two texts and its flag: missing in one language, or much shorter there."""
    cy, en = (cy or "").strip(), (en or "").strip()
    if not cy or not en:
        if not cy and not en:
            return FieldPair(name, cy, en, None, None, None)  # neither: nothing to translate
        return FieldPair(name, cy, en, "missing", "cy" if not cy else "en", 0.0)
    shorter, longer = sorted([("cy", len(cy)), ("en", len(en))], key=lambda p: p[1])
    share = shorter[1] / longer[1]
    if longer[1] >= MIN_COMPARED and share < SHORT_SHARE:
        return FieldPair(name, cy, en, "short", shorter[0], round(share, 2))
    return FieldPair(name, cy, en, None, None, None)


def side_by_side(session: Session, issue: Issue) -> list[ItemPair]:
    """The issue's items in display order, each field in both languages (content as it is
    now: what a replan would render)."""
    return [ItemPair(item.kind, item.slug,
                     [compare(name, item.text(name, "cy"), item.text(name, "en"))
                      for name in [*item.fields, "body"]])
            for item in shown_items(session, issue)]

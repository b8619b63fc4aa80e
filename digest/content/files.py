"""Editorial content: Markdown files with YAML front matter, validated and synced to the store.

Layout (Hugo's translation-by-filename): ``content/<folder>/<slug>.<lang>.md`` with ``lang``
``cy`` or ``en``. Language-neutral fields (type, dates, citation, presenters...) are written
once, in either file of the pair; per-language fields (title, teaser, location, body) in each.
See docs/content.md.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from digest.content.links import checked_doi, http_url
from digest.content.reading import (
    FILENAME,
    ContentError,
    ContentInvalid,
    RawFile,
    key_line,
    read_file,
)
from digest.dates import local_time_problem, year_problem
from digest.paths import UnusableFile, check_folder
from digest.store.models import NewsKind

__all__ = ["ContentError", "ContentInvalid", "ContentItem", "load_dir", "to_utc"]
MAX_LINE = 500  # characters of a one-line field (a title is a subject line, a list entry)
# Nothing to see: format characters (U+200B zero-width space, U+2060, U+FEFF), combining
# marks with no letter to sit on, and spaces (str.strip leaves the zero-width ones).
_UNSEEN = {"Cf", "Mn", "Me", "Zs", "Zl", "Zp", "Cc"}


def _visible(value: str) -> str:
    """`value` if it is empty or shows at least one character; a title of only a zero-width
    space (pasted from a web page) would be an empty heading and link in the email."""
    if value and all(unicodedata.category(c) in _UNSEEN for c in value):
        first = ord(value[0])
        raise ValueError(f"has nothing visible in it (only invisible characters, such as "
                         f"U+{first:04X})")
    return value


Text = Annotated[str, Field(min_length=1, max_length=MAX_LINE), AfterValidator(_visible)]
Line = Annotated[str, Field(max_length=MAX_LINE), AfterValidator(_visible)]
MAX_TEASER = 400  # characters: the teaser is the one line under each title
EDITORIAL_TZ = ZoneInfo("Europe/London")  # DIGEST_TIMEZONE's default
_NUMBER = re.compile(r"\s*[+-]?\d+(\.\d*)?\s*")


def _not_a_number(value: Any) -> Any:
    # pydantic reads 20260915 (or "20260915") as seconds since 1970: 1970-08-23.
    if isinstance(value, bool | int | float) or (isinstance(value, str)
                                                 and _NUMBER.fullmatch(value)):
        raise ValueError("expected a date like 2026-09-15 or a date-time like "
                         "2026-09-15T12:00, not a number")
    return value


def _in_range(value: datetime) -> datetime:
    if (problem := year_problem(value)) is not None:
        raise ValueError(problem)
    return value


When = Annotated[datetime, BeforeValidator(_not_a_number), AfterValidator(_in_range)]
Link = Annotated[str, AfterValidator(http_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Citation(_Strict):
    """The reviewed article."""

    authors: list[Text] = Field(min_length=1)
    year: int | None = Field(default=None, ge=1800, le=2100)
    title: Text
    journal: Text
    volume: Line | None = None
    pages: Line | None = None
    doi: Annotated[Line, AfterValidator(checked_doi)] | None = None


class Presenter(_Strict):
    """A seminar presenter."""

    name: Text
    affiliation: Line | None = None


class _Neutral(_Strict):
    published: When  # a bare date is midnight (one type, so errors name just `published`)
    withdrawn: bool = False  # kept in the store for the issues that carry it, shown nowhere new


class ReviewMeta(_Neutral):
    """Language-neutral fields of a review."""

    type: Literal["review"]
    reviewer: Text
    citation: Citation
    url: Link | None = None


class SeminarMeta(_Neutral):
    """Language-neutral fields of a seminar (local times are Europe/London)."""

    type: Literal["seminar"]
    starts_at: When
    ends_at: When | None = None
    presenters: list[Presenter] = Field(min_length=1)
    online: bool = False
    url: Link | None = None


class NewsMeta(_Neutral):
    """Language-neutral fields of a news item."""

    type: Literal["news"]
    kind: NewsKind
    author: Line | None = None
    url: Link | None = None


class Translation(_Strict):
    """Per-language fields."""

    title: Text
    teaser: Annotated[str, Field(min_length=1, max_length=MAX_TEASER), AfterValidator(_visible)]
    location: Line | None = None
    body: str = ""


META_MODELS: dict[str, type[ReviewMeta | SeminarMeta | NewsMeta]] = {
    "review": ReviewMeta,
    "seminar": SeminarMeta,
    "news": NewsMeta,
}
TRANSLATION_FIELDS = set(Translation.model_fields) - {"body"}  # body is the Markdown, not YAML


@dataclass
class ContentItem:
    """One validated item: its neutral metadata and its translations by language."""

    slug: str
    meta: ReviewMeta | SeminarMeta | NewsMeta
    translations: dict[str, Translation]
    paths: list[Path] = field(default_factory=list)
    type_at: tuple[Path, int | None] | None = None  # where `type` is written: file, line


_YAML_READ = {int: "a number", float: "a number", bool: "yes/no (true or false)",
              date: "a date", datetime: "a date-time"}


def _located(raw: RawFile, errs: list[Any]) -> list[ContentError]:
    """Pydantic error dicts as ContentErrors located in `raw`."""
    out = []
    for err in errs:
        loc = tuple(err["loc"])
        name = ".".join(str(p) for p in loc) or None
        msg = "required field is missing" if err["type"] == "missing" else err["msg"]
        msg = msg.removeprefix("Value error, ")  # ours (ValueError) read as they were raised
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "string_type" and err["input"] is None:
            msg = "is empty: write the text after the colon"  # `title:` with nothing after it
        elif err["type"] == "string_type" and (read := _YAML_READ.get(type(err["input"]))):
            # `volume: 12`, `title: 1984`, `location: yes`: YAML's value, not the text typed
            msg = f"YAML reads this as {read}, not text: put it in quotes (\"...\")"
        out.append(ContentError(raw.path, key_line(raw, loc), name, msg))
    return out


def _local_times(meta: ReviewMeta | SeminarMeta | NewsMeta, owner: dict[str, RawFile],
                 tz: ZoneInfo) -> list[ContentError]:
    """A located error for each date-time written in local time that names no one instant."""
    out = []
    for name in ("published", "starts_at", "ends_at"):
        value = getattr(meta, name, None)
        if isinstance(value, datetime) and (problem := local_time_problem(value, tz)):
            src = owner[name]
            out.append(ContentError(src.path, key_line(src, (name,)), name, problem))
    return out


def _build_item(slug: str, files: list[RawFile], errors: list[ContentError],
                tz: ZoneInfo) -> ContentItem | None:
    neutral: dict[str, Any] = {}
    owner: dict[str, RawFile] = {}
    n_before = len(errors)
    for raw in files:
        for key, value in raw.data.items():
            if key in TRANSLATION_FIELDS:
                continue
            if key in neutral and neutral[key] != value:
                errors.append(ContentError(raw.path, key_line(raw, (key,)), key,
                                           f"differs from {owner[key].path.name}; "
                                           "write language-neutral fields once"))
            neutral[key], owner[key] = value, raw
    first = owner.get("type") or next(iter(owner.values()), files[0])  # the neutral file
    kind = neutral.get("type")
    model = META_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        src = owner.get("type", first)
        errors.append(ContentError(src.path, key_line(src, ("type",)), "type",
                                   "required field is missing" if kind is None else
                                   f"unknown type {kind!r}; use review, seminar or news"))
        return None
    meta = None
    try:
        meta = model.model_validate(neutral)
    except ValidationError as exc:
        for err in exc.errors():
            top = err["loc"][0] if err["loc"] else None
            errors.extend(_located(owner.get(str(top), first), [err]))
    translations = {}
    for raw in files:
        fields = {k: v for k, v in raw.data.items() if k in TRANSLATION_FIELDS}
        try:
            translations[raw.lang] = Translation.model_validate({**fields, "body": raw.body})
        except ValidationError as exc:
            errors.extend(_located(raw, exc.errors()))
            continue
        if isinstance(meta, SeminarMeta) and not translations[raw.lang].location:
            errors.append(ContentError(raw.path, None, "location",
                                       "required field is missing (seminars need a place)"))
        elif meta is not None and not isinstance(meta, SeminarMeta) and "location" in fields:
            errors.append(ContentError(raw.path, key_line(raw, ("location",)), "location",
                                       "unknown field (only seminars have a location)"))
    if meta is not None:
        errors.extend(_local_times(meta, owner, tz))
    if meta is None or len(errors) > n_before:
        return None
    if isinstance(meta, SeminarMeta) and meta.ends_at:
        src = owner["ends_at"]
        if (meta.ends_at.tzinfo is None) != (meta.starts_at.tzinfo is None):
            message = "give starts_at and ends_at alike: both local, or both with an offset"
        elif to_utc(meta.ends_at, tz) <= to_utc(meta.starts_at, tz):  # instants, not clocks
            message = "must be after starts_at"
        else:
            message = ""
        if message:
            errors.append(ContentError(src.path, key_line(src, ("ends_at",)), "ends_at",
                                       message))
            return None
    src = owner["type"]
    return ContentItem(slug, meta, translations, [f.path for f in files],
                       (src.path, key_line(src, ("type",))))


def load_dir(root: Path, tz: ZoneInfo = EDITORIAL_TZ) -> list[ContentItem]:
    """Read and validate every file under `root`, local times in `tz` (DIGEST_TIMEZONE);
    raise ContentInvalid listing all problems."""
    errors: list[ContentError] = []
    try:
        check_folder(root)
    except UnusableFile as exc:
        raise ContentInvalid([ContentError(root, None, None, str(exc.strerror))]) from None
    groups: dict[str, list[RawFile]] = {}
    unread: set[str] = set()  # slugs with a file that could not be read: judged no further
    inside = root.resolve()
    for path in content_paths(root):
        if path.is_symlink() and path.exists() and not path.resolve().is_relative_to(inside):
            # A link committed to the content repository could publish any file the sync
            # can read (.env, the secret key) once it had front matter.
            errors.append(ContentError(path, None, None, "is a link to a file outside the "
                                       "content folder; copy the file in instead"))
            if m := FILENAME.match(path.name):
                unread.add(m["slug"])
            continue
        raw = read_file(path, errors)
        if raw:
            groups.setdefault(raw.slug, []).append(raw)
        elif m := FILENAME.match(path.name):
            unread.add(m["slug"])
    items = []
    for slug, files in sorted(groups.items()):
        if slug in unread:
            continue  # its other file would only be reported for what the first one lacked
        if len({f.path.parent for f in files}) > 1:
            errors.append(_slug_taken(slug, files))
            continue
        item = _build_item(slug, files, errors, tz)
        if item:
            items.append(item)
    if errors:
        raise ContentInvalid(errors)
    return items


def content_paths(root: Path) -> list[Path]:
    """The paths under `root` that are content files or meant to be, sorted: every name ending
    in `.md` in any case (`x.cy.MD` is reported, not quietly left out), but READMEs and
    anything hidden (a name starting with `.`, or inside such a folder): the lock files and
    copies editors and systems leave beside a file (`.#x.cy.md`, macOS `._x.cy.md`), `.git/`."""
    found = []
    for path in root.rglob("*"):
        name = path.name.lower()
        if not name.endswith(".md") or name == "readme.md":
            continue
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        found.append(path)
    return sorted(found)


def _slug_taken(slug: str, files: list[RawFile]) -> ContentError:
    """One error naming every file of the items that share a slug, folder by folder."""
    folders: dict[Path, list[RawFile]] = {}
    for f in files:
        folders.setdefault(f.path.parent, []).append(f)
    described = []
    for group in folders.values():
        kinds = {str(k) for f in group if isinstance(k := f.data.get("type"), str)}
        names = " and ".join(str(f.path) for f in group)
        described.append(names + (f" ({', '.join(sorted(kinds))})" if kinds else ""))
    return ContentError(files[0].path, None, "slug",
                        f"{slug!r} names {len(folders)} items: {'; '.join(described)}; "
                        "give each item its own slug")


def to_utc(value: date | datetime, tz: ZoneInfo) -> datetime:
    """A date (midnight local) or a naive local / aware datetime, as aware UTC."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)

"""Editorial content: Markdown files with YAML front matter, validated and synced to the store.

Layout (Hugo's translation-by-filename): ``content/<folder>/<slug>.<lang>.md`` with ``lang``
``cy`` or ``en``. Language-neutral fields (type, dates, citation, presenters...) are written
once, in either file of the pair; per-language fields (title, teaser, location, body) in each.
See docs/content.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from digest.i18n import LANGS
from digest.store.models import NewsKind

FILENAME = re.compile(r"^(?P<slug>[a-z0-9]+(?:-[a-z0-9]+)*)\.(?P<lang>[A-Za-z_-]+)\.md$")
Text = Annotated[str, Field(min_length=1)]


def _web_address(value: str) -> str:
    # Any other scheme (javascript:, data:, vbscript:) is script wherever the link is shown.
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or \
            any(c.isspace() or c in '"<>\\' for c in value):
        raise ValueError("must be a web address starting with https:// or http://")
    return value


WebAddress = Annotated[str, AfterValidator(_web_address)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Citation(_Strict):
    """The reviewed article."""

    authors: list[Text] = Field(min_length=1)
    year: int | None = Field(default=None, ge=1800, le=2100)
    title: Text
    journal: Text
    volume: str | None = None
    pages: str | None = None
    doi: str | None = None


class Presenter(_Strict):
    """A seminar presenter."""

    name: Text
    affiliation: str | None = None


class _Neutral(_Strict):
    published: datetime  # a bare date is midnight (one type, so errors name just `published`)

    @field_validator("published", mode="before")
    @classmethod
    def _no_bare_year(cls, v: Any) -> Any:
        if isinstance(v, int):
            raise ValueError("expected a date like 2026-08-12")
        return v


class ReviewMeta(_Neutral):
    """Language-neutral fields of a review."""

    type: Literal["review"]
    reviewer: Text
    citation: Citation
    url: WebAddress | None = None


class SeminarMeta(_Neutral):
    """Language-neutral fields of a seminar (local times are Europe/London)."""

    type: Literal["seminar"]
    starts_at: datetime
    ends_at: datetime | None = None
    presenters: list[Presenter] = Field(min_length=1)
    online: bool = False
    url: WebAddress | None = None


class NewsMeta(_Neutral):
    """Language-neutral fields of a news item."""

    type: Literal["news"]
    kind: NewsKind
    author: str | None = None
    url: WebAddress | None = None


class Translation(_Strict):
    """Per-language fields."""

    title: Text
    teaser: Text = Field(max_length=400)
    location: str | None = None
    body: str = ""


META_MODELS: dict[str, type[ReviewMeta | SeminarMeta | NewsMeta]] = {
    "review": ReviewMeta,
    "seminar": SeminarMeta,
    "news": NewsMeta,
}
TRANSLATION_FIELDS = set(Translation.model_fields) - {"body"}  # body is the Markdown, not YAML


class _Loader(yaml.SafeLoader):
    """Safe YAML where an impossible date (2026-13-45) stays a string for pydantic to report."""


def _timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


@dataclass(frozen=True)
class ContentError:
    """One problem, located as precisely as we can."""

    path: Path
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.field + ': ' if self.field else ''}{self.message}"


class ContentInvalid(Exception):
    """Raised with every problem found; nothing was applied."""

    def __init__(self, errors: list[ContentError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass
class ContentItem:
    """One validated item: its neutral metadata and its translations by language."""

    slug: str
    meta: ReviewMeta | SeminarMeta | NewsMeta
    translations: dict[str, Translation]
    paths: list[Path] = field(default_factory=list)


@dataclass
class _RawFile:
    path: Path
    slug: str
    lang: str
    data: dict[str, Any]
    body: str
    lines: list[str]


def _key_line(raw: _RawFile, loc: tuple[Any, ...]) -> int | None:
    """Best-effort file line of a front-matter key path such as ('citation', 'year')."""
    start = 0
    line_no: int | None = None
    for depth, part in enumerate(p for p in loc if isinstance(p, str)):
        # top-level keys start in column 0; nested ones are indented within their parent's block
        pattern = re.compile((r"^\s*-?\s*" if depth else "^") + re.escape(part) + r"\s*:")
        for i in range(start, len(raw.lines)):
            if depth and re.match(r"[^\s#-]", raw.lines[i]):
                return line_no  # left the parent's block: report the parent
            if pattern.match(raw.lines[i]):
                line_no, start = i + 2, i + 1  # +1 for 1-based, +1 for the opening '---'
                break
        else:
            return line_no
    return line_no


def _read(path: Path, errors: list[ContentError]) -> _RawFile | None:
    m = FILENAME.match(path.name)
    if not m:
        errors.append(ContentError(path, None, "filename",
                                   "expected <slug>.cy.md or <slug>.en.md (slug: a-z, 0-9, -)"))
        return None
    slug, lang = m["slug"], m["lang"]
    if lang not in LANGS:
        errors.append(ContentError(path, None, "language",
                                   f"unknown language {lang!r}; use 'cy' or 'en'"))
        return None
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate a BOM from Windows editors
    except UnicodeDecodeError as exc:
        errors.append(ContentError(path, None, None, f"not valid UTF-8 ({exc.reason})"))
        return None
    text = text.replace("\r\n", "\n")
    if not text.startswith("---\n"):
        errors.append(ContentError(path, 1, None, "missing YAML front matter (start with ---)"))
        return None
    head, sep, body = text[4:].partition("\n---\n")
    if not sep:
        head, sep, body = text[4:].partition("\n---")
        if not sep or body.strip():
            errors.append(ContentError(path, 1, None, "front matter is not closed by ---"))
            return None
    try:
        data = yaml.load(head, Loader=_Loader) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        errors.append(ContentError(path, line, None, f"invalid YAML: {problem}"))
        return None
    if not isinstance(data, dict):
        errors.append(ContentError(path, 2, None, "front matter must be a mapping of fields"))
        return None
    return _RawFile(path, slug, lang, data, body.strip(), head.split("\n"))


def _located(raw: _RawFile, errs: list[Any]) -> list[ContentError]:
    """Pydantic error dicts as ContentErrors located in `raw`."""
    out = []
    for err in errs:
        loc = tuple(err["loc"])
        name = ".".join(str(p) for p in loc) or None
        msg = "required field is missing" if err["type"] == "missing" else err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        out.append(ContentError(raw.path, _key_line(raw, loc), name, msg))
    return out


def _build_item(slug: str, files: list[_RawFile], errors: list[ContentError]) -> ContentItem | None:
    neutral: dict[str, Any] = {}
    owner: dict[str, _RawFile] = {}
    n_before = len(errors)
    for raw in files:
        for key, value in raw.data.items():
            if key in TRANSLATION_FIELDS:
                continue
            if key in neutral and neutral[key] != value:
                errors.append(ContentError(raw.path, _key_line(raw, (key,)), key,
                                           f"differs from {owner[key].path.name}; "
                                           "write language-neutral fields once"))
            neutral[key], owner[key] = value, raw
    first = owner.get("type") or next(iter(owner.values()), files[0])  # the neutral file
    kind = neutral.get("type")
    model = META_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        src = owner.get("type", first)
        errors.append(ContentError(src.path, _key_line(src, ("type",)), "type",
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
            errors.append(ContentError(raw.path, _key_line(raw, ("location",)), "location",
                                       "unknown field (only seminars have a location)"))
    if meta is None or len(errors) > n_before:
        return None
    if isinstance(meta, SeminarMeta) and meta.ends_at:
        src = owner["ends_at"]
        if (meta.ends_at.tzinfo is None) != (meta.starts_at.tzinfo is None):
            message = "give starts_at and ends_at alike: both local, or both with an offset"
        elif meta.ends_at <= meta.starts_at:
            message = "must be after starts_at"
        else:
            message = ""
        if message:
            errors.append(ContentError(src.path, _key_line(src, ("ends_at",)), "ends_at",
                                       message))
            return None
    return ContentItem(slug, meta, translations, [f.path for f in files])


def load_dir(root: Path) -> list[ContentItem]:
    """Read and validate every file under `root`; raise ContentInvalid listing all problems."""
    errors: list[ContentError] = []
    if not root.is_dir():
        raise ContentInvalid([ContentError(root, None, None, "content directory not found")])
    groups: dict[str, list[_RawFile]] = {}
    for path in sorted(root.rglob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        raw = _read(path, errors)
        if raw:
            groups.setdefault(raw.slug, []).append(raw)
    items = []
    for slug, files in sorted(groups.items()):
        dirs = {f.path.parent for f in files}
        if len(dirs) > 1 or len({f.lang for f in files}) != len(files):
            errors.append(ContentError(files[1].path, None, "slug",
                                       f"slug {slug!r} is used by more than one item"))
            continue
        item = _build_item(slug, files, errors)
        if item:
            items.append(item)
    if errors:
        raise ContentInvalid(errors)
    return items


def to_utc(value: date | datetime, tz: ZoneInfo) -> datetime:
    """A date (midnight local) or a naive local / aware datetime, as aware UTC."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)

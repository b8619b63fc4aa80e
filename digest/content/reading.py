"""One content file read into its parts (slug, language, front matter, body), or the problems
that stop it, each located as `file:line: field: what`."""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from digest.content import front_matter
from digest.i18n import LANGS
from digest.paths import UnusableFile, read_regular
from digest.text import IN_LINES

FILENAME = re.compile(r"^(?P<slug>[a-z0-9]+(?:-[a-z0-9]+)*)\.(?P<lang>[A-Za-z_-]+)\.md$")
MAX_BYTES = 1_000_000  # a review is a few KB
# Longest first: UTF-32's little-endian mark starts with UTF-16's.
_OTHER_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
               (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))
# The front matter's fences: `---` alone on its line, but for spaces or tabs after it (which
# no editor shows: a fence with them was "not closed").
_OPEN = re.compile(r"---[ \t]*\n")
_CLOSE = re.compile(r"\n---[ \t]*(?:\n|\Z)")
_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:")
# A Markdown link or autolink to a scheme that runs or embeds instead of linking.
_BAD_LINK = re.compile(r"(\]\(\s*<?|<)\s*(javascript|vbscript|data|file):", re.IGNORECASE)


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
class RawFile:
    """A content file split into its parts, before validation."""

    path: Path
    slug: str
    lang: str
    data: dict[str, Any]
    body: str
    lines: list[str]  # the front matter's lines (file line 2 onwards)


def key_line(raw: RawFile, loc: tuple[Any, ...]) -> int | None:
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


def _decode(path: Path, errors: list[ContentError]) -> str | None:
    """The file's text: a regular file (not a FIFO, a device, a folder: digest.paths), at
    most MAX_BYTES (refused before it is read), UTF-8 (a BOM is tolerated)."""
    try:
        data = read_regular(path, max_bytes=MAX_BYTES)
    except UnusableFile as exc:
        errors.append(ContentError(path, None, None, str(exc.strerror)))
        return None
    except OSError as exc:
        errors.append(ContentError(path, None, None, f"cannot be read: {exc.strerror or exc}"))
        return None
    for bom, name in _OTHER_BOMS:
        if data.startswith(bom):  # Notepad's "Unicode": every other byte a NUL
            errors.append(ContentError(path, 1, None, f"is {name} (it starts with its byte "
                                       "order mark), not UTF-8: save it as UTF-8"))
            return None
    try:
        return data.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
        errors.append(ContentError(path, data[:start].count(b"\n") + 1, None,
                                   f"not valid UTF-8 ({exc.reason} at byte {start + 1:,})"))
        return None


def _first_control(path: Path, text: str, head_lines: int) -> ContentError | None:
    """Where the first control character is: its line, and the field (or body) it is in.
    Tab and line feed are allowed (text.IN_LINES); a carriage return only as a line break
    (before a line feed, or in a file with no line feed), which the reading has already
    turned into one."""
    found = IN_LINES.search(text)
    if found is None:
        return None
    line = text.count("\n", 0, found.start()) + 1
    field = "body"
    if line <= head_lines + 1:
        field = "front matter"
        for candidate in reversed(text.split("\n")[1:line]):
            if key := _TOP_KEY.match(candidate):
                field = key[1]
                break
    return ContentError(path, line, field, f"contains a control character "
                        f"(U+{ord(found[0]):04X}); remove it")


def read_file(path: Path, errors: list[ContentError]) -> RawFile | None:
    """Read one file; on a problem, add it to `errors` and return None."""
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
    text = _decode(path, errors)
    if text is None:
        return None
    # One spelling of each character (NFC): "ŵ" typed on a Mac or pasted from a PDF is often
    # "w" and a combining circumflex (NFD), which looks the same but compares unequal (a
    # neutral field "differed" from its identical-looking pair) and splits in some clients.
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n")
    if "\r" in text and "\n" not in text:  # a classic Mac file: CR is its only line break
        text = text.replace("\r", "\n")
    if not (opening := _OPEN.match(text)):
        errors.append(ContentError(path, 1, None, "missing YAML front matter (start with ---)"))
        return None
    rest = "\n" + text[opening.end():]  # so that an empty front matter closes too
    if not (closing := _CLOSE.search(rest)):
        errors.append(ContentError(path, 1, None, "front matter is not closed by ---"))
        return None
    head, body = rest[1:closing.start()], rest[closing.end():]
    if (control := _first_control(path, text, head.count("\n") + 1)) is not None:
        errors.append(control)
        return None
    try:
        data = front_matter.parse(head) or {}
    except front_matter.FrontMatterError as exc:
        errors.append(ContentError(path, exc.line, exc.field, exc.message))
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        errors.append(ContentError(path, line, None, f"invalid YAML: {problem}"))
        return None
    if not isinstance(data, dict):
        errors.append(ContentError(path, 2, None, "front matter must be a mapping of fields"))
        return None
    body_start = head.count("\n") + 4  # "---", the front matter, "---"
    if bad := _BAD_LINK.search(body):
        errors.append(ContentError(path, body_start + body.count("\n", 0, bad.start()), "body",
                                   f"a link to {bad[2].lower()}: is not allowed; "
                                   "links start with https:// or http://"))
        return None
    return RawFile(path, slug, lang, data, body.strip(), head.split("\n"))

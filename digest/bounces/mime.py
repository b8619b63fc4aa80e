"""Bounded, never-raising helpers over the stdlib `email` package for hostile messages."""

from __future__ import annotations

import html
import re
import string
from datetime import UTC, datetime
from email.header import decode_header
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser, HeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from digest.dates import year_problem
from digest.text import CONTROLS, SEPARATORS, SURROGATES

MAX_RAW = 4 * 1024 * 1024  # bytes parsed; the returned original, if any, comes last
MAX_CONTENT_TYPE = 8 * 1024  # the stdlib's parameter parsing is quadratic in this length
MAX_HEADER = 4 * 1024  # characters kept of one header value
MAX_HEADERS = 2000  # header fields read from one header section
MAX_PARTS = 300
MAX_DEPTH = 16
MAX_TEXT = 64 * 1024  # characters of one text part looked at

Headers = dict[str, list[str]]

_CONTROL = re.compile(f"[{CONTROLS}{SEPARATORS}]+")
_SURROGATE = re.compile(f"[{SURROGATES}]")
_SPACES = re.compile(r"\s+")
_TAG = re.compile(r"<[^<>]{0,2000}>")
# A Message-ID's characters: no space, bracket or control (NUL would reach a text column).
MSGID_CHARS = r"[^<>\s\x00-\x1f\x7f]"
_MSGID = re.compile(f"<({MSGID_CHARS}{{1,250}})>")
_ADDRESS = re.compile(
    r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@(?:[\w-]{1,63}\.){1,8}[\w-]{2,63}"
)
_ADDRESS_TYPES = ("rfc822", "utf-8", "")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _defuse(raw: bytes) -> bytes:
    """Cut every Content-Type field (with its continuation lines) to MAX_CONTENT_TYPE bytes."""
    if len(raw) > MAX_RAW:
        raw = raw[:MAX_RAW]
    out: list[bytes] = []
    budget: int | None = None
    for line in raw.splitlines(keepends=True):
        if budget is not None and line[:1] in (b" ", b"\t"):
            if budget > 0:
                out.append(_cut(line, budget))
            budget -= len(line)
            continue
        budget = None
        if line[:13].lower() == b"content-type:":
            budget = MAX_CONTENT_TYPE - len(line)
            line = _cut(line, MAX_CONTENT_TYPE)
        out.append(line)
    return b"".join(out)


def _cut(line: bytes, limit: int) -> bytes:
    """Shorten one physical line to `limit` bytes, keeping its line ending."""
    body = line.rstrip(b"\r\n")
    return body[:limit] + line[len(body):]


def load(raw: bytes) -> Message | None:
    """Parse a whole message, or None when the stdlib gives up (e.g. RecursionError)."""
    try:
        return BytesParser(policy=compat32).parsebytes(_defuse(raw))
    except Exception:
        return None


def load_headers(raw: bytes) -> Message | None:
    """Parse only the top header section (the fallback for messages `load` rejects)."""
    try:
        return BytesHeaderParser(policy=compat32).parsebytes(_defuse(raw[: 256 * 1024]))
    except Exception:
        return None


def headers_of_text(text: str) -> Headers:
    """The header section at the start of `text` (a text/rfc822-headers part, an inline copy)."""
    try:
        return headers(HeaderParser(policy=compat32).parsestr(text[:MAX_TEXT]))
    except Exception:
        return {}


def unescape(value: str) -> str:
    """Text the parser read from raw bytes (surrogate-escaped) as UTF-8, bad bytes replaced."""
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return value.encode("utf-8", "replace").decode("utf-8", "replace")


def _text(value: object) -> str:
    """A header value as text: raw 8-bit bytes read as UTF-8, folding removed."""
    return re.sub(r"\r?\n(?=[ \t])", "", unescape(str(value)[:MAX_HEADER]))


def headers(msg: Message) -> Headers:
    """Lower-cased field name to its values, in order, each bounded to MAX_HEADER characters."""
    out: Headers = {}
    try:
        for count, (name, value) in enumerate(msg.raw_items()):
            if count >= MAX_HEADERS:
                break
            out.setdefault(str(name).strip().lower()[:100], []).append(_text(value))
    except Exception:
        pass
    return out


def first(hdrs: Headers, name: str) -> str | None:
    """The first value of a field, or None."""
    values = hdrs.get(name)
    return values[0] if values else None


def one_line(value: str | None, limit: int = 500) -> str | None:
    """Text a message gave, as the records keep it: controls and line separators as spaces,
    lone surrogates (a charset such as UTF-7 can spell them, and no database stores them)
    dropped, whitespace collapsed, bounded; None when empty. Bidirectional controls stay, for
    the CLI to show escaped (`\\u202e`): a person should see that a stranger used one."""
    if not value:
        return None
    value = _SPACES.sub(" ", _CONTROL.sub(" ", _SURROGATE.sub("", value[: limit * 4]))).strip()
    return value[:limit] or None


def decode_words(value: str | None) -> str:
    """Decode RFC 2047 encoded words (Subject); undecodable chunks are replaced, never raised."""
    if not value:
        return ""
    try:
        chunks: list[str] = []
        for chunk, charset in decode_header(value):
            if isinstance(chunk, str):
                chunks.append(chunk)
                continue
            try:
                chunks.append(chunk.decode(charset or "ascii", "replace"))
            except Exception:
                chunks.append(chunk.decode("utf-8", "replace"))
        return "".join(chunks)
    except Exception:
        return value


def clean_address(value: str | None) -> str | None:
    """The addr-spec of a field such as `rfc822; Alice <Alice@Example.com>` (`bare_address`),
    or None: no address, several, or an address type but rfc822 and utf-8."""
    if not value:
        return None
    value = value.strip()[:600]
    if ";" in value:
        kind, _, value = value.partition(";")
        if kind.strip().lower() not in _ADDRESS_TYPES:
            return None
    return bare_address(value)


def bare_address(value: str) -> str | None:
    """The one plain addr-spec in `value` (`a@b`, `<a@b>`, `mailto:a@b`, `Name <a@b>`,
    `a@b (comment)`) with its ASCII letters lower-cased, or None: none, several (`a@b, c@d`,
    `a@b <c@d>`), or not a plain addr-spec of at most 254 characters. Only ASCII is lowered:
    `str.lower` turns KELVIN SIGN into `k`, which would name another person's address."""
    found = _plain_address(value)
    if found is None:
        try:
            pairs = getaddresses([value[:MAX_HEADER]])
        except Exception:
            return None
        found = _plain_address(pairs[0][1]) if len(pairs) == 1 else None
    return found.translate(_ASCII_LOWER) if found else None


def _plain_address(value: str) -> str | None:
    """`value` if it is an addr-spec, maybe in angle brackets, after `mailto:`, or ending in
    the root's dot; else None."""
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    if value.lower().startswith("mailto:"):
        value = value[7:]
    value = value.rstrip(".")
    if len(value) > 254 or "=?" in value:  # an encoded word is never part of an addr-spec
        return None
    return value if _ADDRESS.fullmatch(value) else None


def addresses(value: str | None, lower: bool = True) -> list[str]:
    """The valid addr-specs of an address-list field (To, From), lower-cased unless told."""
    if not value:
        return []
    try:
        pairs = getaddresses([value[:MAX_HEADER]])
    except Exception:
        return []
    return [addr if lower else raw for _, raw in pairs[:50] if (addr := bare_address(raw))]


def display_name(value: str | None) -> str:
    """The display name of the first address in an address field, or ''."""
    try:
        pairs = getaddresses([(value or "")[:MAX_HEADER]])
    except Exception:
        return ""
    return pairs[0][0] if pairs else ""


def message_id(value: str | None) -> str | None:
    """The first `<id>` in a Message-ID / In-Reply-To value, with its angle brackets."""
    match = _MSGID.search(value or "")
    return f"<{match.group(1)}>" if match else None


def date(value: str | None) -> datetime | None:
    """An RFC 5322 date in the years digest works in, as an aware UTC datetime (a zone-less
    date is taken as UTC), or None."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value[:200].strip())
        moment = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except Exception:  # not a date; or year 9999 with a zone west of UTC, past the calendar
        return None
    return None if year_problem(moment) else moment


def walk(msg: Message, into_messages: bool = True) -> list[Message]:
    """Every part, depth first, without recursion; bounded by MAX_PARTS and MAX_DEPTH.

    A message/delivery-status part is a leaf (the stdlib gives it one sub-message per field
    block); with `into_messages` false, so is every other message/* part.
    """
    out: list[Message] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack and len(out) < MAX_PARTS:
        part, depth = stack.pop()
        out.append(part)
        ctype = content_type(part)
        if ctype == "message/delivery-status" or (
            not into_messages and ctype.startswith("message/")
        ):
            continue
        payload = part.get_payload()
        if depth < MAX_DEPTH and isinstance(payload, list):
            stack.extend((sub, depth + 1) for sub in reversed(payload) if isinstance(sub, Message))
    return out


def content_type(part: Message) -> str:
    """The part's lower-case content type (text/plain when missing or broken)."""
    try:
        return part.get_content_type()
    except Exception:
        return "text/plain"


def param(part: Message, name: str) -> str:
    """A Content-Type parameter, lower-case, or ''."""
    try:
        value = part.get_param(name)
    except Exception:
        return ""
    return value.strip().lower()[:100] if isinstance(value, str) else ""


def text_of(part: Message) -> str:
    """The decoded text of a leaf part (bad charsets read as UTF-8), bounded to MAX_TEXT."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        inner = part.get_payload()
        return inner[:MAX_TEXT] if isinstance(inner, str) else ""
    payload = payload[: MAX_TEXT * 4]
    try:
        charset = part.get_content_charset() or "utf-8"
        text = payload.decode(charset, "replace")
    except Exception:
        text = payload.decode("utf-8", "replace")
    if content_type(part) == "text/html":
        text = html.unescape(_TAG.sub(" ", text))
    return text[:MAX_TEXT]


def field_blocks(text: str) -> list[dict[str, str]]:
    """Blank-line separated `Name: value` blocks (a delivery-status or feedback-report body)."""
    blocks: list[dict[str, str]] = []
    block: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines()[:5000]:
        if not line.strip():
            if block:
                blocks.append(block)
            block, last = {}, None
        elif line[:1] in (" ", "\t") and last is not None:
            block[last] = (block[last] + " " + line.strip())[:MAX_HEADER]
        elif ":" in line:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            # the first occurrence wins: a repeated field cannot override (or extend) it
            last = None
            if re.fullmatch(r"[a-z0-9-]{1,60}", name) and name not in block:
                block[name] = value.strip()[:MAX_HEADER]
                last = name
    if block:
        blocks.append(block)
    return blocks

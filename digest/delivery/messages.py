"""Per-subscriber messages by splicing personal tokens into bytes encoded once per variant.

Building an `EmailMessage` per subscriber is three orders of magnitude slower than splicing
(docs/performance.md).
A `MessageTemplate` holds the MIME message of one variant as encoded byte chunks with slots
for the personal parts (To, Message-ID, Date, the two signed tokens). Every header is written
by `digest.delivery.headers` (RFC 2047 words and folding that survive Welsh text), not by
the stdlib's folder.

Invariant: each slot in a quoted-printable body sits alone between soft line breaks (`=\\r\\n`),
so a token of any length up to 76 characters keeps every line within RFC 2045's limit and
decodes to exactly the URL the template had.
"""

from __future__ import annotations

import binascii
import re
import time
import uuid
from dataclasses import dataclass
from email.utils import formatdate
from typing import Protocol

from digest.delivery import headers, verp
from digest.delivery.transports.base import Outgoing, dot_stuff
from digest.render.placeholders import PREFS_PLACEHOLDER, UNSUB_PLACEHOLDER
from digest.render.views import variant_langs
from digest.settings import SettingInvalid, Settings
from digest.store.models import Language
from digest.tokens import Purpose, Tokens

SLOT_UNSUB = "unsub"
SLOT_PREFS = "prefs"
_PLACEHOLDERS = {UNSUB_PLACEHOLDER: SLOT_UNSUB, PREFS_PLACEHOLDER: SLOT_PREFS}
_SPLIT = re.compile(f"({UNSUB_PLACEHOLDER}|{PREFS_PLACEHOLDER})")
_TOKEN_OK = re.compile(r"^[A-Za-z0-9_.-]{1,76}$")
SOFT_BREAK = b"=\r\n"
_MESSAGE_ID = re.compile(r"<digest\.(\d{1,18})\.(\d{1,18})@([^<>@\s]{1,253})>")


class Variant(Protocol):
    """A rendered variant, fresh (RenderedVariant) or stored (IssueVariant)."""

    @property
    def language(self) -> Language: ...
    @property
    def subject(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Recipient:
    """The personal facts a message needs."""

    subscriber_id: int
    email: str
    name: str
    delivery_id: int | None = None  # names the outbox row in a VERP envelope sender


def _qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends."""
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def _qp_chunks(text: str) -> list[bytes | str]:
    """A body as QP bytes with slot names where the placeholders were."""
    text = text.replace("\r\n", "\n")
    chunks: list[bytes | str] = []
    for piece in _SPLIT.split(text):
        if piece in _PLACEHOLDERS:
            chunks.append(_PLACEHOLDERS[piece])
            continue
        encoded = _qp(piece)
        if encoded and not encoded.endswith(b"\r\n"):
            encoded += SOFT_BREAK
        chunks.append(encoded)
    return chunks


def _header_block(settings: Settings, variant: Variant, boundary: str) -> bytes:
    """The headers every recipient of a variant shares, encoded and folded once."""
    lines = [headers.mailbox("From", settings.sender_name, settings.sender_email)]
    if settings.reply_to:
        lines.append(headers.mailbox("Reply-To", "", settings.reply_to))
    lines += [
        headers.unstructured("Subject", variant.subject),
        headers.structured("MIME-Version", "1.0"),
        headers.structured("List-Id", f"<{settings.list_id}>"),
        headers.structured("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        headers.structured("Content-Language", ", ".join(variant_langs(variant.language))),
        headers.structured("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    return b"".join(lines)


class MessageTemplate:
    """One variant's message as byte chunks and slots, built once per (issue, variant)."""

    def __init__(self, settings: Settings, issue_id: int, variant: Variant,
                 tokens: Tokens) -> None:
        self.settings = settings
        self.issue_id = issue_id
        self.variant = variant
        self.tokens = tokens
        self.domain = settings.sender_domain
        self.unsub_base = f"{settings.site_url.rstrip('/')}/u/".encode("ascii")
        boundary = f"=_digest_{uuid.uuid4().hex}"
        part_head = (
            'Content-Type: {ctype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        )
        b = boundary.encode("ascii")
        chunks: list[bytes | str] = [_header_block(settings, variant, boundary), b"\r\n"]
        chunks.append(b"--" + b + b"\r\n" + part_head.format(ctype="text/plain").encode())
        chunks += _qp_chunks(variant.text)
        chunks.append(b"\r\n--" + b + b"\r\n" + part_head.format(ctype="text/html").encode())
        chunks += _qp_chunks(variant.html)
        chunks.append(b"\r\n--" + b + b"--\r\n")
        self.chunks = _merge(chunks)
        # Every chunk starts at a line start (slots end in a soft break), so stuffing each
        # chunk once here equals stuffing each finished message.
        self.wire_chunks = [dot_stuff(c) if isinstance(c, bytes) else c for c in self.chunks]
        self.sender = settings.envelope_sender
        self._verp = envelope_parts(settings)
        self._date = (0, b"")

    def message_id(self, subscriber_id: int) -> str:
        """Stable per (issue, subscriber): a re-send after a crash carries the same id."""
        return f"<digest.{self.issue_id}.{subscriber_id}@{self.domain}>"

    def _date_header(self) -> bytes:
        now = int(time.time())
        if self._date[0] != now:  # formatdate costs more than the rest of a splice
            self._date = (now, formatdate(now, usegmt=True).encode("ascii"))
        return self._date[1]

    def build(self, rcpt: Recipient, message_id: str | None = None) -> Outgoing:
        """The finished bytes for one recipient (`message_id` overrides the stable one)."""
        unsub = self.tokens.make(Purpose.UNSUBSCRIBE, rcpt.subscriber_id).encode("ascii")
        prefs = self.tokens.make(Purpose.PREFERENCES, rcpt.subscriber_id).encode("ascii")
        slots = {SLOT_UNSUB: unsub + SOFT_BREAK, SLOT_PREFS: prefs + SOFT_BREAK}
        mid = message_id or self.message_id(rcpt.subscriber_id)
        personal = [
            headers.mailbox("To", rcpt.name, rcpt.email),
            headers.lone(b"Message-ID", mid.encode("ascii")),
            b"Date: ", self._date_header(), b"\r\n",
            headers.lone(b"List-Unsubscribe", b"<" + self.unsub_base + unsub + b">"),
        ]
        # One join per form: each is tens of KB, and every extra concatenation copies it.
        data = b"".join(personal + [c if isinstance(c, bytes) else slots[c]
                                    for c in self.chunks])
        wire = b"".join(personal + [c if isinstance(c, bytes) else slots[c]
                                    for c in self.wire_chunks])
        sender = self.sender
        if self._verp is not None and rcpt.delivery_id is not None:
            key, before, after = self._verp
            sender = before + verp.make_tag(rcpt.delivery_id, key) + after
        return Outgoing(mid, sender, rcpt.email, data, wire)


def envelope_parts(settings: Settings) -> tuple[bytes, str, str] | None:
    """(key, "bounces+", "@domain") for DIGEST_BOUNCE_ADDRESS, checked once; None if unset.
    Raises SettingInvalid for an address no VERP envelope sender can be made from."""
    if not settings.bounce_address:
        return None
    key = verp.derive_key(settings.signing_key())
    try:
        longest = verp.envelope_sender(settings.bounce_address, verp.make_tag(verp.MAX_ID, key))
    except ValueError as exc:  # settings made without validation (model_copy) reach here
        raise SettingInvalid("bounce_address",
                             f"{exc} (got {settings.bounce_address!r})") from None
    local, _, domain = longest.rpartition("@")  # raised above if the address is unusable
    return key, local.partition("+")[0] + "+", "@" + domain


def _merge(chunks: list[bytes | str]) -> list[bytes | str]:
    """Join adjacent byte chunks so a splice is one short join."""
    out: list[bytes | str] = []
    for c in chunks:
        if isinstance(c, bytes) and out and isinstance(out[-1], bytes):
            out[-1] = out[-1] + c
        else:
            out.append(c)
    return out


def message_id_key(message_id: str, domain: str) -> tuple[int, int] | None:
    """(issue id, subscriber id) of a Message-ID that `MessageTemplate.message_id` made for
    `domain`, else None."""
    match = _MESSAGE_ID.fullmatch(message_id.strip())
    if match is None or match.group(3).lower() != domain.lower():
        return None
    return int(match.group(1)), int(match.group(2))


def token_is_splice_safe(token: str) -> bool:
    """True if a token can sit in a QP line unencoded (checked in tests)."""
    return bool(_TOKEN_OK.match(token))

"""Read one returned message (DSN, ARF report, plain-text bounce, auto-reply) into Feedback.

Pure: bytes in, values out, nothing raised. The order of the rules is in docs/bounces.md:
the report type decides first, then auto-reply markers, then plain-text bounce wording (only
for mail from an MTA), then RFC 3834 headers; anything else is one UNKNOWN.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from datetime import datetime
from email.message import Message

from digest.bounces import heuristics, mime
from digest.bounces.events import Feedback, FeedbackKind

_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
_ORIGINAL_TYPES = (
    "message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers"
)
_SUCCESS = ("delivered", "relayed", "expanded")
_NOT_COMPLAINTS = ("not-spam", "auth-failure")
_TAG_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "to")
_VERP = re.compile(r"[^@+\s]{1,64}\+([A-Za-z0-9._=-]{1,64})@.+")
_TYPE_PREFIX = re.compile(r"^\s*[a-z0-9-]{1,20}\s*;\s*", re.I)
MAX_FEEDBACK = 100  # reports kept from one message (a DSN may list many recipients)
_INLINE_ID = re.compile(rf"^[ \t]*message-id:[ \t]*(<{mime.MSGID_CHARS}{{1,250}}>)", re.I | re.M)


def parse(raw: bytes) -> list[Feedback]:
    """Every report `raw` carries, at least one (a lone UNKNOWN if not understood); never raises."""
    data = raw if isinstance(raw, bytes) else _coerce(raw)
    digest = hashlib.sha256(data).hexdigest()[:32]
    try:
        found = _parse(data)
    except Exception:
        found = []
    if not found:
        found = [Feedback(FeedbackKind.UNKNOWN, "")]
    return _identify(found, f"sha256:{digest}")


def _coerce(value: object) -> bytes:
    """Bytes from a caller that broke the signature (bytearray, memoryview, str): never raise."""
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return value.encode("utf-8", "replace") if isinstance(value, str) else b""


def _identify(found: list[Feedback], base: str) -> list[Feedback]:
    """Set event ids: the raw hash, plus a recipient hash when one message yields several."""
    unique: list[Feedback] = []
    seen: set[str] = set()
    for feedback in found:
        if feedback.recipient is not None and feedback.recipient in seen:
            continue
        if feedback.recipient is not None:
            seen.add(feedback.recipient)
        unique.append(feedback)
    unique = unique[:MAX_FEEDBACK]
    if len(unique) == 1:
        return [dataclasses.replace(unique[0], event_id=base)]
    out = []
    for index, feedback in enumerate(unique):
        who = feedback.recipient or f"#{index}"
        suffix = hashlib.sha256(who.encode("utf-8")).hexdigest()[:8]
        out.append(dataclasses.replace(feedback, event_id=f"{base}:{suffix}"))
    return out


def verp_tag(hdrs: mime.Headers) -> str | None:
    """The tag of the first `local+tag@domain` in the envelope-recipient headers, as written."""
    for name in _TAG_HEADERS:
        for value in hdrs.get(name, [])[:10]:
            tag = _tag_of(value)
            if tag:
                return tag
    return None


def _tag_of(value: str | None) -> str | None:
    """The `+tag` of the first address in `value`, or None."""
    for address in mime.addresses(value, lower=False)[:5]:
        match = _VERP.fullmatch(address)
        if match:
            return match.group(1)
    return None


def _parse(data: bytes) -> list[Feedback]:
    """The rules in order; [] means not understood."""
    msg = mime.load(data)
    if msg is None:
        top = mime.load_headers(data)
        hdrs = mime.headers(top) if top is not None else {}
        return [_plain(FeedbackKind.UNKNOWN, hdrs, None)]
    hdrs = mime.headers(msg)
    parts = mime.walk(msg)
    types = [mime.content_type(part) for part in parts]
    # The report's own machine-readable parts: one inside an attached message is about that
    # message (someone else's report, quoted or returned), not this one's.
    own = [(p, t) for p in mime.walk(msg, into_messages=False) if (t := mime.content_type(p))
           in (*_DSN_TYPES, "message/feedback-report")]
    report = mime.param(msg, "report-type") if types[0] == "multipart/report" else ""
    if report == "feedback-report" or any(t == "message/feedback-report" for _, t in own):
        return _arf([p for p, t in own if t == "message/feedback-report"], parts, types, hdrs)
    is_dsn = report in ("delivery-status", "global-delivery-status") or bool(own)
    if is_dsn:
        found = _dsn([p for p, _ in own], parts, types, hdrs)
        if found:
            return found
    subject = mime.one_line(mime.decode_words(mime.first(hdrs, "subject")), 300) or ""
    if not is_dsn and heuristics.auto_reply(hdrs, subject):
        return [_plain(FeedbackKind.AUTO_REPLY, hdrs, subject)]
    from_mta = is_dsn or heuristics.from_daemon(hdrs) or "x-failed-recipients" in hdrs
    if from_mta:
        text = _first_text(msg)
        hits = heuristics.text_bounce(text, hdrs)
        if hits:
            original, original_hdrs = _original(parts, types, text)
            tag = verp_tag(hdrs) or _tag_of(mime.first(original_hdrs, "return-path"))
            when = mime.date(mime.first(hdrs, "date"))
            return [
                Feedback(hit.kind, "", hit.recipient, hit.status, hit.diagnostic, tag, original,
                         when)
                for hit in hits
            ]
    if not from_mta and heuristics.auto_submitted(hdrs):  # an MTA's unreadable notice is no reply
        return [_plain(FeedbackKind.AUTO_REPLY, hdrs, subject)]
    return [_plain(FeedbackKind.UNKNOWN, hdrs, subject)]


def _plain(kind: FeedbackKind, hdrs: mime.Headers, subject: str | None) -> Feedback:
    """An auto-reply (from its sender, about the message it answers) or an UNKNOWN."""
    if subject is None:
        subject = mime.one_line(mime.decode_words(mime.first(hdrs, "subject")), 300)
    sender = mime.addresses(mime.first(hdrs, "from"))[:1] if kind is FeedbackKind.AUTO_REPLY else []
    answered = mime.message_id(mime.first(hdrs, "in-reply-to"))
    return Feedback(
        kind=kind,
        event_id="",
        recipient=sender[0] if sender else None,
        diagnostic=subject or None,
        verp_tag=verp_tag(hdrs),
        original_message_id=answered if kind is FeedbackKind.AUTO_REPLY else None,
        occurred_at=mime.date(mime.first(hdrs, "date")),
    )


def _first_text(msg: Message) -> str:
    """The first text/plain part outside attached messages, else the first text/html, else ''."""
    html = None
    for part in mime.walk(msg, into_messages=False):
        ctype = mime.content_type(part)
        if ctype == "text/plain" and not part.is_multipart():
            return mime.text_of(part)
        if ctype == "text/html" and html is None:
            html = part
    if html is not None:
        return mime.text_of(html)
    # a multipart whose boundary never occurs: the stdlib keeps the whole body as one string
    return mime.text_of(msg) if isinstance(msg.get_payload(), str) else ""


def _original(
    parts: list[Message], types: list[str], text: str
) -> tuple[str | None, mime.Headers]:
    """The returned message's Message-ID and headers: attached part first, else inline copy."""
    for part, ctype in zip(parts, types, strict=True):
        if ctype not in _ORIGINAL_TYPES:
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            hdrs = mime.headers(payload[0])
        else:
            hdrs = mime.headers_of_text(mime.text_of(part))
        found = mime.message_id(mime.first(hdrs, "message-id"))
        if found or hdrs:
            return found, hdrs
    inline = _INLINE_ID.search(text)
    return (inline.group(1) if inline else None), {}


def _blocks(part: Message) -> list[dict[str, str]]:
    """The field blocks of a delivery-status or feedback-report part."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return mime.field_blocks(mime.text_of(part))
    blocks: list[dict[str, str]] = []
    for sub in payload[:200]:
        if not isinstance(sub, Message):
            continue
        blocks.append({name: values[0] for name, values in mime.headers(sub).items()})
        if isinstance(sub.get_payload(), str):  # the blocks after the first, in a global DSN
            blocks.extend(mime.field_blocks(mime.text_of(sub)))
    return blocks


def _dsn(reports: list[Message], parts: list[Message], types: list[str],
         hdrs: mime.Headers) -> list[Feedback]:
    """One Feedback per failed or delayed recipient of every delivery-status part in
    `reports`, in order; a lone AUTO_REPLY if all succeeded."""
    blocks = [block for report in reports for block in _blocks(report)]
    original, original_hdrs = _original(parts, types, "")
    tag = verp_tag(hdrs) or _tag_of(mime.first(original_hdrs, "return-path"))
    when = mime.date(mime.first(hdrs, "date"))
    out: list[Feedback] = []
    succeeded: list[str | None] = []
    for block in blocks:
        if not any(k in block for k in ("final-recipient", "original-recipient", "action")):
            continue  # the per-message block (Reporting-MTA, Arrival-Date)
        recipient = mime.clean_address(block.get("original-recipient")) or mime.clean_address(
            block.get("final-recipient")
        )
        action = (block.get("action") or "").strip().lower()[:20]
        if action in _SUCCESS:
            succeeded.append(recipient)
            continue
        diagnostic = mime.one_line(_TYPE_PREFIX.sub("", block.get("diagnostic-code") or ""))
        status = heuristics.status_field(block.get("status")) or heuristics.status_in(
            diagnostic or "")
        occurred = mime.date(block.get("last-attempt-date")) or when
        kind = _dsn_kind(action, status, diagnostic)
        out.append(Feedback(kind, "", recipient, status, diagnostic, tag, original, occurred))
    if not out and succeeded:
        return [Feedback(FeedbackKind.AUTO_REPLY, "", succeeded[0], None, "delivered", tag,
                         original, when)]
    return out


def _dsn_kind(action: str, status: str | None, diagnostic: str | None) -> FeedbackKind:
    """Mailbox full, then `delayed`, then the status class, then `failed`, then the wording."""
    if diagnostic and heuristics.mailbox_full(diagnostic):
        return FeedbackKind.SOFT
    if action == "delayed":
        return FeedbackKind.SOFT
    if status and status[0] in "45":
        return heuristics.kind_of_status(status)
    if action == "failed":
        return heuristics.classify(diagnostic or "") or FeedbackKind.HARD
    return (heuristics.classify(diagnostic) if diagnostic else None) or FeedbackKind.UNKNOWN


def _arf(reports: list[Message], parts: list[Message], types: list[str],
         hdrs: mime.Headers) -> list[Feedback]:
    """One COMPLAINT (or UNKNOWN for not-spam/auth-failure/no type) per RFC 5965 report part
    in `reports`, in order; one from the headers alone when there is none (truncated)."""
    original, original_hdrs = _original(parts, types, "")
    out: list[Feedback] = []
    for blocks in [_blocks(report) for report in reports] or [[]]:
        fields: dict[str, str] = {}
        for block in blocks:
            fields = {**block, **fields}  # the first value of a field wins
        out.append(_complaint(fields, original, original_hdrs, hdrs))
    return out


def _complaint(fields: dict[str, str], original: str | None, original_hdrs: mime.Headers,
               hdrs: mime.Headers) -> Feedback:
    """The Feedback of one feedback-report part's fields."""
    feedback_type = " ".join((fields.get("feedback-type") or "").lower().split()[:1])[:40]
    if feedback_type and feedback_type not in _NOT_COMPLAINTS:
        kind = FeedbackKind.COMPLAINT
    else:
        kind = FeedbackKind.UNKNOWN
    recipient = mime.clean_address(fields.get("original-rcpt-to"))
    if recipient is None:
        recipient = next(iter(mime.addresses(mime.first(original_hdrs, "to"))), None)
    tag = (
        _tag_of(fields.get("original-mail-from"))
        or _tag_of(mime.first(original_hdrs, "return-path"))
        or verp_tag(hdrs)
    )
    occurred: datetime | None = mime.date(fields.get("arrival-date")) or mime.date(
        mime.first(hdrs, "date")
    )
    diagnostic = mime.one_line(f"Feedback-Type: {feedback_type}") if feedback_type else None
    return Feedback(kind, "", recipient, None, diagnostic, tag, original, occurred)

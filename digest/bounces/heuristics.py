"""Wording rules: plain-text bounces from MTAs that send no RFC 3464 report, and auto-replies.

Every regular expression here runs on at most `mime.MAX_TEXT` characters and is free of
nested quantifiers, so hostile text costs linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from digest.bounces import mime
from digest.bounces.events import FeedbackKind

ADDR = r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}@(?:[\w-]{1,63}\.){1,8}[\w-]{2,63}"


@dataclass(frozen=True, slots=True)
class Hit:
    """One recipient (or none, when only the wording survived) of a plain-text bounce."""

    recipient: str | None
    kind: FeedbackKind
    status: str | None
    diagnostic: str | None


# RFC 3463 codes and SMTP replies are ASCII digits: `\d` would read "5.١.١" as one too.
_CODE = r"\.[0-9]{1,3}\.[0-9]{1,3}(?![0-9.])"  # after the class digit
_STRONG_STATUS = re.compile(rf"(?:\b[245][0-9][0-9][ -]|#|\(#?)([45]{_CODE})")
_ANY_STATUS = re.compile(rf"(?<![\w.])([45]{_CODE})")
_STATUS_FIELD = re.compile(rf"\s*([245]{_CODE})")
_BASIC = re.compile(r"(?:^|said:|:)[ \t]*#?([45][0-9][0-9])(?=[ \t:-])", re.M)

_FULL = re.compile(
    r"mailbox (?:is )?full|inbox is full|mail ?folder is full|over ?quota|quota exceeded"
    r"|exceed(?:ed|s)? (?:the |his |her |its |their )?(?:storage|quota|mailbox size)"
    r"|insufficient (?:system )?storage|out of storage|storage allocation|mailbox size limit"
)
_SOFT = re.compile(
    r"warning (?:message )?only|do not need to resend|has not yet been delivered"
    r"|not yet been able to deliver|delivery incomplete|temporary problem|temporary error"
    r"|transient non-fatal|will (?:retry|be retried|continue to try|try again|keep trying)"
    r"|delivery (?:has been )?delayed|delayed \d+ (?:hours|minutes)|still trying"
)
_HARD = re.compile(
    r"permanent(?:ly)? ?(?:error|failure|fatal)|failed permanently|does(?:n't| not) exist"
    r"|address not found|(?:couldn't|could not|can't|cannot) be found|user unknown|unknown user"
    r"|no such (?:user|mailbox|recipient|address)|no mailbox here|recip(?:ient)? ?not ?found"
    r"|(?:invalid|not a valid) recipient|mailbox unavailable|delivery has failed"
    r"|(?:could not|couldn't|cannot|can't) be delivered|(?:wasn't|was not) delivered"
    r"|could not be reached|did not reach|unable to deliver|address(?:es)?\)? failed"
    r"|undeliverable|not our customer|account (?:is )?(?:disabled|inactive|closed)"
    r"|doesn't have an? \S+ account"
)
_INTRO = re.compile(
    r"this is the qmail-send program|this is the mail system at host"
    r"|created automatically by mail delivery software|delivery status notification"
    r"|the original message was received at"
)
_COPY = re.compile(
    r"^[ \t]*-{2,}[ \t]*(?:below this line is a copy|this is a copy of the message"
    r"|original message|message headers follow|undelivered message attached|returned message)"
    r"|^original message headers:",
    re.I | re.M,
)
_DAEMON = re.compile(
    r"^(?:mailer[-_]?daemon|mail[-_]?daemon|postmaster|microsoftexchange[0-9a-f]{0,40})@", re.I
)
_DAEMON_NAME = re.compile(
    r"mail delivery (?:system|subsystem)|mailer[-_]?daemon|postmaster|system administrator", re.I
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|returned to sender|mail delivery (?:failed|failure|system)"
    r"|delivery (?:status notification|failure|failed|has failed|notification|delayed)"
    r"|failure notice|non[- ]?delivery|message not delivered|delivery incomplete",
    re.I,
)
_AUTO_SUBJECT = re.compile(
    r"auto(?:matic)?[ -]?(?:reply|response|responder|antwort)|\bautoreply|out of (?:the )?office"
    r"|\bout of office|away from (?:the |my )?(?:office|desk|e-?mail)|\babsen(?:ce|t)\b"
    r"|\bon (?:vacation|holiday|annual leave|leave)\b|\bvacation\b|^auto:"
    r"|allan o['’` ]?r swyddfa|i ffwrdd o['’` ]?r swyddfa|\bateb awtomatig|ymateb awtomatig"
    r"|\babsenoldeb|\bar wyliau\b|abwesenheit|r[ée]ponse automatique|respuesta autom[áa]tica",
    re.I,
)
_SENTENCES = [
    re.compile(rf"(?:wasn't|was not) delivered to[ \t]+<?({ADDR})"),
    re.compile(rf"your message to[ \t]+<?({ADDR})>?[ \t]+(?:couldn't|could not) be delivered"),
    re.compile(rf"following recipients? failed permanently:[ \t]*<?({ADDR})"),
    re.compile(rf"temporary problem delivering your message to[ \t]+<?({ADDR})"),
    re.compile(rf"(?:final|original)-recipient:[ \t]*(?:rfc822;)?[ \t]*<?({ADDR})"),
]
_ANGLE_LINE = re.compile(rf"<({ADDR})>:?[ \t]*(.*)")  # qmail, Postfix, Yahoo, Sendmail
_BARE_LINE = re.compile(rf"[ \t]+<?({ADDR})>?(?:[ \t]+on[ \t].*)?[ \t]*")  # Exim, Exchange 2003
_LIST_HEAD = re.compile(
    r"address\(es\) failed:|recipient\(s\) could not be reached:|to these recipients or groups:"
    r"|had permanent fatal errors|had transient non-fatal errors|following address(?:es)?:"
    r"|not yet been delivered (?:is|are):"
)


def kind_of_status(status: str) -> FeedbackKind:
    """4.x.x, X.2.2 (mailbox full) and 5.7.x (a block of the sender) are SOFT; 5.x.x HARD."""
    code, subject, detail = (canonical_status(status) + "..").split(".")[:3]
    if code == "4" or (subject, detail) == ("2", "2") or (code, subject) == ("5", "7"):
        return FeedbackKind.SOFT
    return FeedbackKind.HARD


def canonical_status(code: str) -> str:
    """An RFC 3463 code as written without leading zeros: "5.02.002" is 5.2.2, mailbox full."""
    return ".".join(str(int(part)) if part.isascii() and part.isdigit() else part
                    for part in code.split("."))


def status_in(text: str) -> str | None:
    """The first enhanced status code (RFC 3463) of class 4 or 5 in `text`, preferring
    those attached to an SMTP reply or a `#` (as Exchange and qmail write them), canonical."""
    match = _STRONG_STATUS.search(text) or _ANY_STATUS.search(text)
    return canonical_status(match.group(1)) if match else None


def status_field(value: str | None) -> str | None:
    """The canonical code a DSN's or provider's Status field starts with (class 2, 4 or 5)."""
    match = _STATUS_FIELD.match(value or "")
    return canonical_status(match.group(1)) if match else None


def mailbox_full(text: str) -> bool:
    """The text says the mailbox is full or over quota (a temporary condition)."""
    return bool(_FULL.search(" ".join(text.lower().split())))


def classify(text: str) -> FeedbackKind | None:
    """The kind `text` states: mailbox full, then delay wording, then codes, then wording."""
    flat = " ".join(text.lower().split())
    if _FULL.search(flat):
        return FeedbackKind.SOFT
    if _SOFT.search(flat):
        return FeedbackKind.SOFT
    status = status_in(flat)
    if status:
        return kind_of_status(status)
    basic = _BASIC.search(text)
    if basic:
        return FeedbackKind.HARD if basic.group(1).startswith("5") else FeedbackKind.SOFT
    if _HARD.search(flat):
        return FeedbackKind.HARD
    return None


def from_daemon(hdrs: mime.Headers) -> bool:
    """The message comes from an MTA: From mailer-daemon/postmaster (by address or name), or
    a null Return-Path on a message that is not marked as an RFC 3834 auto-response."""
    return_path = (mime.first(hdrs, "return-path") or "").strip()
    if return_path.replace(" ", "") == "<>" and not auto_submitted(hdrs):
        return True
    sender = mime.first(hdrs, "from")
    found = mime.addresses(sender)
    if found and _DAEMON.match(found[0]):
        return True
    return bool(_DAEMON_NAME.search(mime.display_name(sender)))


def bounce_subject(subject: str) -> bool:
    """The subject reads like a non-delivery notice."""
    return bool(_BOUNCE_SUBJECT.search(subject))


def auto_reply(hdrs: mime.Headers, subject: str) -> bool:
    """Out-of-office markers: X-Autoreply/X-Autorespond, Precedence, or an absence subject."""
    if any(mime.first(hdrs, name) for name in ("x-autoreply", "x-autorespond", "x-autoresponse")):
        return True
    precedence = (mime.first(hdrs, "precedence") or "").strip().lower()
    if precedence in ("auto_reply", "auto-reply"):
        return True
    return not bounce_subject(subject) and bool(_AUTO_SUBJECT.search(subject))


def auto_submitted(hdrs: mime.Headers) -> bool:
    """RFC 3834: an Auto-Submitted field with any value but `no`."""
    value = (mime.first(hdrs, "auto-submitted") or "").strip().lower()
    return bool(value) and not value.startswith("no")


def before_copy(text: str) -> str:
    """The text before an inline copy of the returned message, whose words must not count."""
    match = _COPY.search(text)
    return text[: match.start()] if match else text


def _segment(lines: list[str], start: int) -> tuple[str, int]:
    """The lines after `start` up to a blank line (at most 8), one recipient's reason, and
    how many lines that took."""
    out: list[str] = []
    for line in lines[start + 1 : start + 9]:
        if not line.strip() or _ANGLE_LINE.fullmatch(line):
            break
        out.append(line.strip())
    return " ".join(out), len(out)


def _recipients(text: str, extra: list[str]) -> list[tuple[str, str]]:
    """(address, reason text) pairs in the order the text names them, first mention wins."""
    found: dict[str, str] = dict.fromkeys(extra, "")
    lines = text.splitlines()[:2000]
    in_list = False
    index = 0
    while index < len(lines) and len(found) < 50:
        line = lines[index]
        if _LIST_HEAD.search(line.lower()):
            in_list, index = True, index + 1
            continue
        angle = _ANGLE_LINE.fullmatch(line)
        bare = _BARE_LINE.fullmatch(line) if in_list and not angle else None
        inline = None
        if in_list and not (angle or bare) and line.strip() and not line[:1].isspace():
            inline = re.search(ADDR, line) if len(line) <= 120 else None
            in_list = inline is not None  # prose at the margin ends the list
        match = angle or bare or inline
        if match is None:
            index += 1
            continue
        reason, used = _segment(lines, index)
        if angle:
            reason = f"{angle.group(2)} {reason}"
        address = (match.group(1) if angle or bare else match.group(0)).lower()
        if not found.get(address):
            found[address] = reason.strip()
        index += 1 + used
    flat = " ".join(text.lower().split())
    for sentence in _SENTENCES:
        for found_sentence in sentence.finditer(flat, 0, mime.MAX_TEXT):
            found.setdefault(found_sentence.group(1).lower(), "")
    return [(address, reason) for address, reason in found.items() if mime.clean_address(address)]


def text_bounce(text: str, hdrs: mime.Headers) -> list[Hit]:
    """The recipients a plain-text bounce names, with their kinds; [] if it reads as none."""
    text = before_copy(text)
    flat = " ".join(text.lower().split())
    if not (_HARD.search(flat) or _SOFT.search(flat) or _FULL.search(flat) or _INTRO.search(flat)):
        return []
    ours = set(mime.addresses(mime.first(hdrs, "from")))
    for name in ("to", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to"):
        for value in hdrs.get(name, [])[:10]:
            ours.update(mime.addresses(value))
    failed = [a for v in hdrs.get("x-failed-recipients", [])[:5] for a in mime.addresses(v)]
    overall = classify(text)
    hits: list[Hit] = []
    for address, reason in _recipients(text, failed):
        if address in ours:
            continue
        kind = (classify(reason) if reason else None) or overall or FeedbackKind.UNKNOWN
        status = status_in(reason) or status_in(text)
        hits.append(Hit(address, kind, status, mime.one_line(reason) or _diagnostic(text)))
    if not hits:
        hits.append(Hit(None, overall or FeedbackKind.UNKNOWN, status_in(text), _diagnostic(text)))
    return hits


def _diagnostic(text: str) -> str | None:
    """The first line carrying a status code or an SMTP reply, as the diagnostic."""
    for line in text.splitlines()[:2000]:
        if _STRONG_STATUS.search(line) or _BASIC.search(line):
            return mime.one_line(line)
    return None

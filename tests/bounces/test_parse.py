"""The bounce parser against the corpus (tests/bounces/expected.json) and hostile input."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import hashlib
import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from digest.bounces import mime
from digest.bounces.events import Feedback, FeedbackKind
from digest.bounces.parse import parse
from digest.delivery.verp import read_tag
from digest.text import unstorable

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
EXPECTED: dict[str, dict[str, Any]] = json.loads((HERE / "expected.json").read_text("utf-8"))
KEY = hashlib.sha256(b"digest tests: verp corpus").digest()
FIELDS = ("kind", "recipient", "status", "verp_tag", "original_message_id")
EVENT_ID = re.compile(r"sha256:[0-9a-f]{32}(:[0-9a-f]{8})?")


def raw(name: str) -> bytes:
    """One corpus file's bytes."""
    return (CORPUS / name).read_bytes()


def summary(found: list[Feedback]) -> list[dict[str, str | None]]:
    """The fields expected.json states, per Feedback."""
    return [{f: getattr(fb, f) for f in FIELDS} | {"kind": fb.kind.value} for fb in found]


def check_invariants(found: list[Feedback]) -> None:
    """What holds for any input: a non-empty list of clean, bounded values."""
    assert found and len(found) <= 100
    for fb in found:
        assert isinstance(fb.kind, FeedbackKind)
        assert EVENT_ID.fullmatch(fb.event_id), fb.event_id
        if fb.recipient is not None:
            assert re.fullmatch(r"[^\s<>\"()\x00-\x1f]{1,64}@[^\s<>@]{3,253}", fb.recipient)
            assert not any(c.isascii() and c.isupper() for c in fb.recipient)
        if fb.diagnostic is not None:
            assert len(fb.diagnostic) <= 500
            assert not re.search(r"[\x00-\x1f\x7f\u2028\u2029]", fb.diagnostic)
        if fb.status is not None:
            assert re.fullmatch(r"[245](\.(0|[1-9][0-9]{0,2})){2}", fb.status)
        if fb.original_message_id is not None:
            assert re.fullmatch(r"<[^<>\s\x00-\x1f\x7f]+>", fb.original_message_id)
        # Nothing a text column refuses (PostgreSQL: NUL) or UTF-8 cannot encode.
        assert unstorable([v for v in dataclasses.astuple(fb) if isinstance(v, str)]) is None
        if fb.occurred_at is not None:
            assert fb.occurred_at.tzinfo is UTC


def test_corpus_is_complete() -> None:
    """Every corpus file has an expectation and the reverse; the corpus is large enough."""
    assert {p.name for p in CORPUS.iterdir()} == set(EXPECTED)
    assert len(EXPECTED) >= 35


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus(name: str) -> None:
    """Each sample yields exactly the Feedback values expected.json lists, in order."""
    found = parse(raw(name))
    check_invariants(found)
    assert summary(found) == EXPECTED[name]["feedback"]


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e["delivery_id"]))
def test_corpus_verp_tags_name_their_delivery(name: str) -> None:
    """The tag the parser found verifies, with the corpus key, to the delivery it was made for."""
    (tag,) = {fb.verp_tag for fb in parse(raw(name))}
    assert tag is not None
    assert read_tag(tag, KEY) == EXPECTED[name]["delivery_id"]


def test_event_ids_are_stable_and_distinct() -> None:
    """Parsing twice gives the same ids; a multi-recipient DSN gets one id per recipient."""
    data = raw("rfc3464-multi-recipient.eml")
    first, again = parse(data), parse(data)
    assert [fb.event_id for fb in first] == [fb.event_id for fb in again]
    assert len({fb.event_id for fb in first}) == len(first) == 3
    base = "sha256:" + hashlib.sha256(data).hexdigest()[:32]
    assert all(fb.event_id.startswith(base + ":") for fb in first)
    (single,) = parse(raw("rfc3464-hard.eml"))
    assert single.event_id == "sha256:" + hashlib.sha256(raw("rfc3464-hard.eml")).hexdigest()[:32]
    assert parse(data + b"\n")[0].event_id != first[0].event_id


def test_diagnostics_and_dates() -> None:
    """Diagnostic-Code loses its type and folding; dates are the per-recipient ones, in UTC."""
    carol, dan, _fay = parse(raw("rfc3464-multi-recipient.eml"))
    assert carol.diagnostic == "550 5.1.1 <carol@example.com>... User unknown"
    assert carol.occurred_at == datetime(2024, 5, 16, 7, 2, 10, tzinfo=UTC)
    assert dan.kind is FeedbackKind.SOFT and dan.status == "5.2.2"
    (bob,) = parse(raw("rfc3464-hard.eml"))
    assert bob.diagnostic == (
        "550 5.1.1 <bob@example.net>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    )
    assert bob.occurred_at == datetime(2024, 5, 14, 8, 12, 3, tzinfo=UTC)
    (complaint,) = parse(raw("arf-yahoo-like.eml"))
    assert complaint.occurred_at == datetime(2024, 6, 3, 11, 58, 2, tzinfo=UTC)


@pytest.mark.parametrize("when", ["Fri, 31 Dec 9999 23:59:59 -0100", "Fri, 31 Dec 9999 23:59:59",
                                  "Sat, 1 Jan 2200 00:00:00 +0000",
                                  "Sun, 31 Dec 1899 23:59:59 +0000"])
def test_a_date_past_the_calendar_is_no_date_not_a_lost_bounce(when: str) -> None:
    # Year 9999 moved to UTC from a zone west of it left Python's calendar: the OverflowError
    # made the whole DSN one UNKNOWN. Now the date alone is dropped, for the report's Date.
    dsn = raw("rfc3464-hard.eml").replace(b"Action: failed", f"Last-Attempt-Date: {when}\r\n"
                                          "Action: failed".encode())
    assert mime.date(when) is None
    (bob,) = parse(dsn)
    assert (bob.kind, bob.recipient) == (FeedbackKind.HARD, "bob@example.net")
    assert bob.occurred_at == datetime(2024, 5, 14, 8, 12, 3, tzinfo=UTC)


def test_hostile_dsn_is_defused() -> None:
    """Script, SQL and control characters stay inert text: one line, bounded, no recipient."""
    (fb,) = parse(raw("hostile-dsn.eml"))
    assert fb.kind is FeedbackKind.HARD and fb.recipient is None
    assert fb.diagnostic is not None and fb.diagnostic.startswith("550 5.1.1 x'); DROP TABLE")
    assert len(fb.diagnostic) == 500
    assert "\x00" not in fb.diagnostic and "\x1b" not in fb.diagnostic


WELSH_SUBJECT = "Ateb awtomatig: Newyddion ymchwil — dŵr a thŷ gwydr yng Nghymru"


def test_welsh_subject_decodes_like_the_default_policy() -> None:
    """An RFC 2047 subject split inside a word (th|ŷ) reads the same through both parsers."""
    data = raw("autoreply-cy-encoded.eml")
    (fb,) = parse(data)
    assert fb.diagnostic == WELSH_SUBJECT
    modern = email.message_from_bytes(data, policy=email.policy.default)
    assert str(modern["subject"]) == WELSH_SUBJECT
    bounce = raw("welsh-subject-bounce.eml")
    header = email.message_from_bytes(bounce, policy=email.policy.compat32)["subject"]
    decoded = mime.decode_words(str(header))
    assert decoded == str(email.message_from_bytes(bounce, policy=email.policy.default)["subject"])
    assert decoded.endswith("Crynhoad ymchwil — dŵr, tŷ a gwaith")


def nested(depth: int) -> bytes:
    """A multipart nested `depth` levels deep, addressed to a VERP address."""
    out = [b'From: MAILER-DAEMON@example.net\r\nTo: bounces+abcdefghijklmnop@example.org\r\n'
           b'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n']
    for i in range(1, depth):
        out.append(b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i - 1, i))
    last = depth - 1
    out.append(b"--b%d\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b%d--\r\n" % (last, last))
    out.extend(b"--b%d--\r\n" % i for i in range(depth - 2, -1, -1))
    return b"".join(out)


def test_deep_nesting() -> None:
    """2000 nested multiparts (RecursionError in the stdlib): one UNKNOWN, tag kept."""
    (fb,) = parse(nested(2000))
    assert fb.kind is FeedbackKind.UNKNOWN and fb.verp_tag == "abcdefghijklmnop"
    deep_messages = b"Content-Type: message/rfc822\r\n\r\n" * 2000 + b"Subject: x\r\n\r\nhi\r\n"
    check_invariants(parse(deep_messages))


@pytest.mark.parametrize(
    "junk",
    [
        pytest.param(b"X-Junk: " + b"a" * 2**20 + b"\n", id="one-line"),
        pytest.param(b"X-Junk: " + b"a" * 70 + (b"\n " + b"b" * 70) * 15000 + b"\n", id="folded"),
        pytest.param(b"Received: " + b"from x by y; " * 80000 + b"\n", id="received"),
    ],
)
@pytest.mark.timeout(60)  # a hang detector, not a speed test: a quadratic read takes hours
def test_megabyte_header_still_parses(junk: bytes) -> None:
    """A 1 MB header in front of a real DSN: the DSN is still read (bench/bounce_parsers.py
    times the parser)."""
    (fb,) = parse(junk + raw("rfc3464-hard.eml"))
    assert (fb.kind, fb.recipient) == (FeedbackKind.HARD, "bob@example.net")


@pytest.mark.parametrize("filler", [b'; a="b"', b";", b'; x*0*=utf-8\'\'%C5%B5'])
@pytest.mark.timeout(60)  # a hang detector, as above
def test_megabyte_content_type_is_cut(filler: bytes) -> None:
    """The stdlib's parameter parsing is quadratic: a 1 MB Content-Type must not stall it."""
    data = raw("rfc3464-hard.eml").replace(
        b"Content-Type: multipart/report;",
        b"Content-Type: multipart/report" + filler * (2**20 // len(filler)) + b";",
        1,
    )
    check_invariants(parse(data))


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 1000, b"\r\n" * 1000, b":\n" * 1000, b"--\n" * 1000, "ŵŷ".encode() * 999,
     b"Content-Type: multipart/report; report-type=delivery-status\n\n",
     b"Content-Type: message/delivery-status\n\nAction: failed\n",
     b"Content-Type: message/feedback-report\n\n\xff\xfe",
     b"Content-Type: text/plain; charset=idna\n\n\xff" + b"x" * 100,
     b"Content-Type: text/plain; charset=zlib\n\nabc",
     b"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!!====",
     b"Subject: =?utf-8?b?####?= =?x-nope?q?=ZZ?=\n\n"],
)
def test_odd_inputs(data: bytes) -> None:
    """Odd and broken inputs give clean values, never an exception."""
    check_invariants(parse(data))


def test_mutated_corpus_never_raises() -> None:
    """Truncations and byte flips of every corpus file (seeded): always clean values."""
    rng = random.Random(3464)
    for path in sorted(CORPUS.iterdir()):
        data = path.read_bytes()
        if not data:
            continue
        for _ in range(12):
            cut = data[: rng.randrange(len(data) + 1)]
            flipped = bytearray(data)
            for _ in range(8):
                flipped[rng.randrange(len(flipped))] = rng.randrange(256)
            check_invariants(parse(cut))
            check_invariants(parse(bytes(flipped)))


def test_nul_and_encoded_nul_anywhere_never_reach_a_value() -> None:
    """NUL (raw, quoted-printable, in an encoded word) or a lone surrogate's bytes inserted
    anywhere in every corpus file (seeded): an inline `Message-ID:` line kept a raw NUL or
    other control character, unlike a Message-ID header (only matching used it, in Python)."""
    rng = random.Random(5965)
    spellings = [b"\x00", b"=00", b"=?utf-8?q?a=00b?=", b"=?utf-8?b?YQBi?=", b"\xed\xa0\x80"]
    for path in sorted(CORPUS.iterdir()):
        data = path.read_bytes()
        for _ in range(40):
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 6)):
                at = rng.randrange(len(mutated) + 1)
                mutated[at:at] = rng.choice(spellings)
            check_invariants(parse(bytes(mutated)))
    inline = raw("postfix-plain.eml").replace(b"Message-ID: <", b"Message-ID: <a\x00")
    assert b"a\x00" in inline
    assert all(f.original_message_id is None for f in parse(inline))


@pytest.mark.parametrize("charset, word", [
    ("utf-7", b"+2AA-"),  # a real mail charset that spells a lone surrogate
    ("unicode_escape", b"=5Cud800"), ("raw_unicode_escape", b"=5Cudfff"),
])
def test_a_charset_that_spells_an_unstorable_character_gives_a_clean_diagnostic(
        charset: str, word: bytes) -> None:
    """A subject (an auto-reply's or an unknown message's diagnostic) or a DSN's
    Diagnostic-Code decoded to a lone surrogate, which neither database stores: recording it
    raised UnicodeEncodeError and stopped the whole mailbox run at that message, every poll."""
    encoded = b"=?" + charset.encode() + b"?q?Out_of_office_" + word + b"_x?="
    reply = b"From: someone@example.net\r\nSubject: " + encoded + b"\r\n\r\nhi\r\n"
    unknown = reply.replace(b"Out_of_office", b"Cwestiwn")
    plain = (b"From: MAILER-DAEMON@mx.example.net\r\nSubject: failure\r\n"
             b"Content-Type: text/plain; charset=" + charset.encode() + b"\r\n\r\n"
             b"<alice@example.com>: user unknown " + word.replace(b"=", b"") + b"\r\n")
    for data in (reply, unknown, plain):
        found = parse(data)
        check_invariants(found)
        assert all(not re.search("[\ud800-\udfff]", f.diagnostic or "") for f in found)
    assert parse(reply)[0].diagnostic == "Out of office x"


@pytest.mark.parametrize("status, diagnostic, kind, read", [
    ("5.02.002", "no", FeedbackKind.SOFT, "5.2.2"),  # mailbox full, leading zeros: was HARD
    ("5.07.001", "blocked", FeedbackKind.SOFT, "5.7.1"),  # a block of the sender: was HARD
    ("5.2.20", "no", FeedbackKind.HARD, "5.2.20"),  # not X.2.2 (its prefix was SOFT)
    ("5.1.1", "550 5.1.1 no", FeedbackKind.HARD, "5.1.1"),
    ("4.\u0661.\u0661", "no", FeedbackKind.HARD, None),  # Arabic-Indic digits: no code (was 4.x.x)
    ("\u0665.\u0661.\u0661", "\u0665\u0665\u0660 \u0664.\u0667.\u0661", FeedbackKind.HARD, None),
    ("5.1", "no", FeedbackKind.HARD, None), ("9.9.9", "no", FeedbackKind.HARD, None),
    ("garbage", "421 4.7.0 try later", FeedbackKind.SOFT, "4.7.0"),
])
def test_status_codes_are_ascii_and_read_without_leading_zeros(
        status: str, diagnostic: str, kind: FeedbackKind, read: str | None) -> None:
    """RFC 3463 codes are ASCII digits (`\\d` read "4.١.١" as a temporary failure) and are
    compared as numbers (a prefix test made "5.02.002", mailbox full, a hard bounce)."""
    data = (b"From: MAILER-DAEMON@mx.example.net\r\nTo: bounces+abc@example.org\r\n"
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
            b"\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
            b"Reporting-MTA: dns; mx.example.net\r\n\r\n"
            b"Final-Recipient: rfc822; alice@example.com\r\nAction: failed\r\n"
            + f"Status: {status}\r\nDiagnostic-Code: smtp; {diagnostic}\r\n\r\n--b--\r\n"
            .encode())
    [found] = parse(data)
    check_invariants([found])
    assert (found.kind, found.status) == (kind, read)


@pytest.mark.parametrize("field, recipient", [
    ("rfc822; Alice <Alice@Example.COM>", "alice@example.com"),  # a display name: was None
    ("rfc822; alice@example.com (Alice Jones)", "alice@example.com"),  # a comment: was None
    ("RFC822; <mailto:alice@example.com>", "alice@example.com"),
    ("rfc822; alice@example.com.", "alice@example.com"),
    ("utf-8; Anna@Bücher.example", "anna@bücher.example"),
    ("rfc822; \u212a@example.com", "\u212a@example.com"),  # KELVIN SIGN: was k@example.com
    ("rfc822; alice@example.com, bob@example.com", None),  # two: which?
    ("rfc822; bob@example.net <alice@example.com>", None),
    ('rfc822; "bob@example.com"@evil.example', None), ("x-unknown; alice@example.com", None),
])
def test_final_recipient_forms(field: str, recipient: str | None) -> None:
    """The one address of a Final-Recipient field, in the forms MTAs write it, else None;
    only its ASCII letters are lower-cased (`str.lower` maps KELVIN SIGN to k)."""
    data = (b"From: MAILER-DAEMON@mx.example.net\r\nTo: bounces+abc@example.org\r\n"
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
            b"\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
            b"Reporting-MTA: dns; mx.example.net\r\n\r\n"
            + f"Final-Recipient: {field}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n"
            .encode())
    [found] = parse(data)
    assert (found.kind, found.recipient) == (FeedbackKind.HARD, recipient)


def test_auto_replies_are_never_bounces() -> None:
    """Every auto-reply sample is AUTO_REPLY, and a DSN's own Auto-Submitted does not count."""
    for name in [n for n in EXPECTED if n.startswith(("autoreply-", "vacation"))]:
        assert {fb.kind for fb in parse(raw(name))} == {FeedbackKind.AUTO_REPLY}, name
    assert parse(raw("rfc3464-hard.eml"))[0].kind is FeedbackKind.HARD  # Auto-Submitted set


def test_callers_that_break_the_signature_get_values() -> None:
    """A bytearray, memoryview or str is read too; anything else is one UNKNOWN."""
    data = raw("rfc3464-hard.eml")
    for value in (bytearray(data), memoryview(data), data.decode("utf-8")):
        assert parse(value)[0].kind is FeedbackKind.HARD  # type: ignore[arg-type]
    assert parse(None)[0].kind is FeedbackKind.UNKNOWN  # type: ignore[arg-type]


def test_unreadable_mta_notices_are_unknown_not_auto_replies() -> None:
    """A DSN or daemon notice with Auto-Submitted but nothing readable is kept for a person."""
    dsn = (b"From: MAILER-DAEMON@example.net\nTo: bounces+abcdefghijklmnop@example.org\n"
           b"Auto-Submitted: auto-replied\nContent-Type: multipart/report; "
           b'report-type=delivery-status; boundary="x"\n\n--x\nContent-Type: text/plain\n\n'
           b"Hello.\n--x--\n")
    notice = (b"From: Mail Delivery System <MAILER-DAEMON@example.net>\n"
              b"Auto-Submitted: auto-replied\nSubject: Notice\n\nSomething happened.\n")
    for data in (dsn, notice):
        (fb,) = parse(data)
        assert fb.kind is FeedbackKind.UNKNOWN
    assert parse(dsn)[0].verp_tag == "abcdefghijklmnop"


def report(report_type: str, *parts: tuple[str, str]) -> bytes:
    """A multipart/report to the bounce address, of the given (content type, body) parts."""
    head = ("From: MAILER-DAEMON@mx.example.net\r\nTo: bounces+tag1@example.org\r\n"
            "Date: Tue, 14 May 2024 09:12:03 +0000\r\nSubject: Report\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/report; report-type={report_type}; boundary="b1"\r\n\r\n')
    body = "".join(f"--b1\r\nContent-Type: {ctype}\r\n\r\n{text}\r\n" for ctype, text in parts)
    return (head + body + "--b1--\r\n").encode()


def status(*groups: tuple[str, str, str]) -> str:
    """A message/delivery-status body: the per-message group, then (recipient, action, status)."""
    blocks = ["Reporting-MTA: dns; mx.example.net\r\n"] + [
        f"Final-Recipient: rfc822; {who}\r\nAction: {action}\r\nStatus: {code}\r\n"
        for who, action, code in groups]
    return "\r\n".join(blocks)


def arf(who: str, kind: str = "abuse") -> str:
    """A message/feedback-report body about a message sent to `who`."""
    return (f"Feedback-Type: {kind}\r\nUser-Agent: test/1\r\nVersion: 1\r\n"
            f"Original-Rcpt-To: {who}\r\nArrival-Date: Mon, 3 Jun 2024 11:58:02 +0000\r\n")


ORIGINAL = ("message/rfc822", "From: digest@example.org\r\nTo: carol@example.com\r\n"
            "Message-ID: <issue-7.delivery-1@example.org>\r\nSubject: Digest\r\n\r\nNews.\r\n")


def test_every_delivery_status_part_gives_each_failed_recipient_once() -> None:
    # RFC 6522 has one machine-readable part; a report with two is read whole, in order.
    raw_dsn = report("delivery-status", ("text/plain", "Failed."),
                     ("message/delivery-status", status(
                         ("carol@example.com", "failed", "5.1.1"),
                         ("dan@example.com", "delayed", "4.4.1"),
                         ("ok@example.com", "delivered", "2.0.0"))),
                     ("message/delivery-status", status(
                         ("erin@example.com", "failed", "5.1.2"),
                         ("carol@example.com", "delayed", "4.2.2"))), ORIGINAL)
    found = parse(raw_dsn)
    assert [(f.recipient, f.kind, f.status) for f in found] == [
        ("carol@example.com", FeedbackKind.HARD, "5.1.1"),  # named twice: the first counts
        ("dan@example.com", FeedbackKind.SOFT, "4.4.1"),
        ("erin@example.com", FeedbackKind.HARD, "5.1.2")]
    assert {f.original_message_id for f in found} == {"<issue-7.delivery-1@example.org>"}
    check_invariants(found)


def test_every_feedback_report_part_is_one_complaint() -> None:
    # The first alone was read: a second report's complaint was lost, the person still mailed.
    found = parse(report("feedback-report", ("text/plain", "Complaints."),
                         ("message/feedback-report", arf("carol@example.com")),
                         ("message/feedback-report", arf("dan@example.com", "not-spam")),
                         ("message/feedback-report", arf("erin@example.com", "fraud")),
                         ("message/feedback-report", arf("carol@example.com")), ORIGINAL))
    assert [(f.recipient, f.kind) for f in found] == [
        ("carol@example.com", FeedbackKind.COMPLAINT), ("dan@example.com", FeedbackKind.UNKNOWN),
        ("erin@example.com", FeedbackKind.COMPLAINT)]
    assert {f.original_message_id for f in found} == {"<issue-7.delivery-1@example.org>"}
    check_invariants(found)


def nested_report(ctype: str, text: str) -> tuple[str, str]:
    """An attached message that is itself a report (someone else's, quoted or returned)."""
    return ("message/rfc822", "From: MAILER-DAEMON@other.example\r\nTo: x@other.example\r\n"
            "Message-ID: <elsewhere@other.example>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; boundary="b2"\r\n\r\n'
            f"--b2\r\nContent-Type: {ctype}\r\n\r\n{text}\r\n--b2--\r\n")


def test_a_report_inside_an_attached_message_is_not_this_message_s() -> None:
    # Walking into attached messages counted their reports as ours: a returned message that
    # quoted a DSN bounced its recipients too, and one quoting an ARF report made a DSN a
    # complaint.
    inner_dsn = nested_report("message/delivery-status",
                              status(("victim@example.com", "failed", "5.1.1")))
    (carol,) = parse(report("delivery-status", ("text/plain", "Failed."),
                            ("message/delivery-status",
                             status(("carol@example.com", "failed", "5.1.1"))), inner_dsn))
    assert (carol.recipient, carol.kind) == ("carol@example.com", FeedbackKind.HARD)
    inner_arf = nested_report("message/feedback-report", arf("victim@example.com"))
    (carol,) = parse(report("delivery-status", ("text/plain", "Failed."),
                            ("message/delivery-status",
                             status(("carol@example.com", "failed", "5.1.1"))), inner_arf))
    assert (carol.recipient, carol.kind) == ("carol@example.com", FeedbackKind.HARD)
    (complaint,) = parse(report("feedback-report", ("text/plain", "Complaint."),
                                ("message/feedback-report", arf("carol@example.com")),
                                inner_dsn))
    assert (complaint.recipient, complaint.kind) == ("carol@example.com", FeedbackKind.COMPLAINT)

"""Returned messages as mail systems write them, for one message we sent (test support).

Each builder takes what the returning system knows: the envelope sender our message had (the
VERP address it is returned to), the recipient, and the original's Message-ID.
"""

from __future__ import annotations

import uuid


def _original(sender: str, recipient: str, message_id: str) -> str:
    return (f"Return-Path: <{sender}>\r\nFrom: Digest <digest@example.org>\r\n"
            f"To: {recipient}\r\nSubject: Y Crynodeb / The Digest\r\n"
            f"Message-ID: {message_id}\r\nList-Id: <digest.example.org>\r\n")


def dsn(sender: str, recipient: str, message_id: str | None, *, status: str = "5.1.1",
        action: str = "failed", unique: str = "") -> bytes:
    """A Postfix-style RFC 3464 report, delivered to `sender` (Delivered-To added)."""
    boundary = f"b-{uuid.uuid4().hex}"
    original = _original(sender, recipient, message_id) if message_id else ""
    delivered = f"Delivered-To: {sender}\r\n" if sender else ""
    return (
        f"Return-Path: <>\r\n{delivered}"
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        f"To: {sender or 'bounces@example.org'}\r\n"
        f"Subject: Undelivered Mail Returned to Sender {unique}\r\n"
        f"Message-ID: <dsn-{uuid.uuid4().hex}@mx.example.net>\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"'
        "\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
        f"Your message could not be delivered to {recipient}.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{recipient}>: user unknown\r\n\r\n"
        + (f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{original}\r\n"
           if original else "")
        + f"--{boundary}--\r\n").encode()


def arf(sender: str, recipient: str, message_id: str) -> bytes:
    """An RFC 5965 abuse report from a feedback loop, quoting the original's headers."""
    boundary = f"a-{uuid.uuid4().hex}"
    return (
        "From: Feedback Loop <fbl@mail.example.net>\r\nTo: abuse@example.org\r\n"
        "Subject: FW: complaint\r\n"
        f"Message-ID: <arf-{uuid.uuid4().hex}@mail.example.net>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"'
        "\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: ExampleFBL/1.0\r\nVersion: 1\r\n"
        f"Original-Mail-From: <{sender}>\r\nOriginal-Rcpt-To: <{recipient}>\r\n"
        "Arrival-Date: Tue, 01 Sep 2026 10:00:00 +0000\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"{_original(sender, recipient, message_id)}\r\n--{boundary}--\r\n").encode()


def auto_reply(sender: str, recipient: str, message_id: str) -> bytes:
    """An RFC 3834 out-of-office answer from `recipient`, sent to our envelope sender."""
    return (f"Delivered-To: {sender}\r\nFrom: <{recipient}>\r\nTo: <{sender}>\r\n"
            "Subject: Allan o'r swyddfa / Out of office\r\nAuto-Submitted: auto-replied\r\n"
            f"In-Reply-To: {message_id}\r\n"
            f"Message-ID: <ooo-{uuid.uuid4().hex}@example.net>\r\n\r\n"
            "I am away until Monday.\r\n").encode()


def person_writes(sender: str) -> bytes:
    """A person (or a spammer) writing to the bounce address: nothing a parser understands."""
    return (f"Delivered-To: {sender}\r\nFrom: Someone <someone@example.net>\r\n"
            f"To: <{sender}>\r\nSubject: Question about the digest\r\n"
            f"Message-ID: <q-{uuid.uuid4().hex}@example.net>\r\n\r\n"
            "Hello, how do I change my address?\r\n").encode()

"""VERP tags: a short, signed, case-insensitive token naming one delivery in the envelope sender.

It lives in the delivery stage because the send puts it in each message's MAIL FROM; the
bounce stage reads it back (docs/bounces.md).

A tag is lower-case RFC 4648 base32 (a-z, 2-7; no padding, no '+', '=' or '/') of
`HMAC-SHA256(key, "digest-verp-v1" || id)[:8] || id`, the id as unsigned big-endian bytes
(1 to 8, as few as it needs). So the tag for delivery 1 is 15 characters and for any id below
2**63 at most 26, and `bounces+TAG@` stays far below the 64-character local-part limit.

`key` is not the application's secret key itself: `derive_key` binds it to this purpose
(`hmac.new(secret_key, b"digest/verp-key/v1", "sha256").digest()`), so that a VERP tag can
never double as any other signature the application makes. To rotate the secret, read
tags with the new key and then with the old one while old bounces can still arrive.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re

MAC_BYTES = 8  # 64 bits: each forgery guess costs the forger one delivered bounce
MAX_ID = 2**63 - 1
MAX_TAG = 26  # base32 of MAC_BYTES + 8 id bytes
_LABEL = b"digest-verp-v1"
_KEY_PURPOSE = b"digest/verp-key/v1"
_ALPHABET = re.compile(r"[a-z2-7]{15,26}")
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*/=?^_`{|}~.-]{1,40}")  # the base local part: no '+'


def derive_key(secret_key: str) -> bytes:
    """The VERP key for the application's secret key (32 bytes, bound to this purpose)."""
    return hmac.new(secret_key.encode("utf-8"), _KEY_PURPOSE, "sha256").digest()


def _mac(key: bytes, id_bytes: bytes) -> bytes:
    """The truncated signature over one delivery id's bytes."""
    return hmac.digest(key, _LABEL + id_bytes, "sha256")[:MAC_BYTES]  # one-shot: the fastest


def _id_bytes(delivery_id: int) -> bytes:
    """The id as the fewest unsigned big-endian bytes (at least one)."""
    return delivery_id.to_bytes(max(1, (delivery_id.bit_length() + 7) // 8), "big")


def make_tag(delivery_id: int, key: bytes) -> str:
    """The tag naming `delivery_id` (0 to 2**63-1), signed with `key` (16 bytes or more)."""
    if isinstance(delivery_id, bool) or not 0 <= delivery_id <= MAX_ID:
        raise ValueError(f"delivery id out of range: {delivery_id!r}")
    if len(key) < 16:
        raise ValueError("the VERP key must be at least 16 bytes")
    id_bytes = _id_bytes(delivery_id)
    raw = _mac(key, id_bytes) + id_bytes
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def read_tag(tag: str, key: bytes) -> int | None:
    """The delivery id a tag names, or None for a forged, garbled or non-canonical tag."""
    if not isinstance(tag, str) or len(key) < 16:
        return None
    tag = tag.strip().lower()
    if not _ALPHABET.fullmatch(tag):
        return None
    try:
        raw = base64.b32decode(tag.upper() + "=" * (-len(tag) % 8))
    except (binascii.Error, ValueError):
        return None
    mac, id_bytes = raw[:MAC_BYTES], raw[MAC_BYTES:]
    if not 1 <= len(id_bytes) <= 8 or _id_bytes(int.from_bytes(id_bytes, "big")) != id_bytes:
        return None  # leading zero bytes: another spelling of a shorter id
    delivery_id = int.from_bytes(id_bytes, "big")
    if delivery_id > MAX_ID or not hmac.compare_digest(mac, _mac(key, id_bytes)):
        return None
    if base64.b32encode(raw).decode("ascii").rstrip("=").lower() != tag:
        return None  # stray low bits in the last character: one id, one spelling
    return delivery_id


def _split(address: str) -> tuple[str, str]:
    """(local part, domain) of a plain addr-spec; ValueError if it is not one."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain or any(c.isspace() or c in "<>" for c in address):
        raise ValueError(f"not an address: {address!r}")
    return local, domain


def envelope_sender(bounce_address: str, tag: str) -> str:
    """`bounces@example.org` and TAG give `bounces+TAG@example.org`."""
    local, domain = _split(bounce_address)
    if not _LOCAL.fullmatch(local):
        raise ValueError(f"the bounce address's local part must not contain '+': {local!r}")
    if not _ALPHABET.fullmatch(tag):
        raise ValueError(f"not a VERP tag: {tag!r}")
    if len(local) + 1 + len(tag) > 64:
        raise ValueError("the envelope sender's local part would exceed 64 characters")
    return f"{local}+{tag}@{domain}"


def tag_from_address(address: str, bounce_address: str) -> str | None:
    """The TAG of `bounces+TAG@example.org` (any case, with or without <>), else None."""
    try:
        base_local, base_domain = _split(bounce_address)
        candidate = address.strip()
        if candidate.startswith("<") and candidate.endswith(">"):
            candidate = candidate[1:-1]
        local, domain = _split(candidate)
    except ValueError:
        return None
    base, plus, tag = local.partition("+")
    if not plus or base.lower() != base_local.lower() or domain.lower() != base_domain.lower():
        return None
    return tag.lower() if _ALPHABET.fullmatch(tag.lower()) else None

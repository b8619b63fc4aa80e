"""VERP tags: round trip, forgery, case folding, canonical spelling and length."""

from __future__ import annotations

import base64
import hashlib
import random
import re

import pytest

from digest.delivery import verp
from digest.delivery.verp import envelope_sender, make_tag, read_tag, tag_from_address

KEY = hashlib.sha256(b"digest tests: verp").digest()
OTHER_KEY = hashlib.sha256(b"digest tests: another key").digest()
IDS = [0, 1, 2, 31, 32, 255, 256, 65535, 65536, 10**6, 2**32, 2**48 + 7, verp.MAX_ID]
BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


@pytest.mark.parametrize("delivery_id", IDS)
def test_round_trip(delivery_id: int) -> None:
    """A tag reads back to its id, whatever its case, and uses only lower-case base32."""
    tag = make_tag(delivery_id, KEY)
    assert re.fullmatch(r"[a-z2-7]+", tag)
    assert read_tag(tag, KEY) == delivery_id
    assert read_tag(tag.upper(), KEY) == delivery_id
    assert read_tag(f" {tag.title()} ", KEY) == delivery_id


def test_many_ids_map_one_to_one() -> None:
    """Distinct ids give distinct tags, each naming its own id only."""
    rng = random.Random(5)
    ids = list(range(3000)) + [rng.randrange(verp.MAX_ID) for _ in range(2000)]
    tags = {make_tag(i, KEY): i for i in ids}
    assert len(tags) == len(set(ids))
    assert all(read_tag(tag, KEY) == i for tag, i in tags.items())


def test_length_bound() -> None:
    """Short tags: 15 characters for small ids, 26 at most, leaving room in the local part."""
    assert len(make_tag(1, KEY)) == 15
    assert len(make_tag(256, KEY)) == 16
    assert len(make_tag(10**6, KEY)) == 18
    assert len(make_tag(verp.MAX_ID, KEY)) == verp.MAX_TAG == 26
    sender = envelope_sender("bounces@example.org", make_tag(verp.MAX_ID, KEY))
    assert len(sender.partition("@")[0]) <= 40


def test_every_single_character_change_is_rejected() -> None:
    """Any one-character substitution gives None (a forged or garbled tag)."""
    tag = make_tag(123456, KEY)
    for index, original in enumerate(tag):
        for char in BASE32.replace(original, ""):
            forged = tag[:index] + char + tag[index + 1 :]
            assert read_tag(forged, KEY) is None, forged


def test_wrong_key_and_truncation_are_rejected() -> None:
    """A tag made with another key, or cut short or lengthened, reads as None."""
    tag = make_tag(42, KEY)
    assert read_tag(tag, OTHER_KEY) is None
    assert read_tag(tag[:-1], KEY) is None
    assert read_tag(tag + "a", KEY) is None
    assert read_tag(make_tag(42, OTHER_KEY), KEY) is None


@pytest.mark.parametrize(
    "garbage",
    ["", "a", "abc", "+", "====", "a" * 15, "a" * 27, "a" * 1000, "tag with space",
     "ŵŷŵŷŵŷŵŷŵŷŵŷŵŷ", "oohrh4upqji6qz=", "oohrh4upqji6qz1", "oohrh4upqji6qz/", "0" * 16],
)
def test_garbage_is_rejected(garbage: str) -> None:
    """Anything that is not a tag reads as None, never an exception."""
    assert read_tag(garbage, KEY) is None


def test_non_canonical_spellings_are_rejected() -> None:
    """Stray low bits in the last character, or a zero-padded id, name no delivery."""
    tag = make_tag(7, KEY)  # 9 bytes: the 15th character carries 2 data bits and 3 spare
    last = BASE32.index(tag[-1])
    for spare in range(1, 8):
        twin = tag[:-1] + BASE32[last | spare]
        assert base64.b32decode(twin.upper() + "=" * 1) == base64.b32decode(tag.upper() + "=")
        assert read_tag(twin, KEY) is None
    padded_id = b"\x00\x07"
    raw = verp._mac(KEY, padded_id) + padded_id
    assert read_tag(base64.b32encode(raw).decode().rstrip("=").lower(), KEY) is None


@pytest.mark.parametrize("bad", [-1, verp.MAX_ID + 1, True])
def test_make_tag_rejects_bad_ids(bad: int) -> None:
    """Ids outside 0..2**63-1 (and booleans) are a programming error."""
    with pytest.raises(ValueError):
        make_tag(bad, KEY)


def test_short_keys_are_refused() -> None:
    """A key under 16 bytes is refused when making, and reads nothing."""
    with pytest.raises(ValueError):
        make_tag(1, b"short")
    assert read_tag(make_tag(1, KEY), b"short") is None


def test_envelope_sender() -> None:
    """The tag goes after a '+' in the bounce address's local part."""
    tag = make_tag(101, KEY)
    assert envelope_sender("bounces@example.org", tag) == f"bounces+{tag}@example.org"
    with pytest.raises(ValueError):
        envelope_sender("bounces+x@example.org", tag)
    with pytest.raises(ValueError):
        envelope_sender("not an address", tag)
    with pytest.raises(ValueError):
        envelope_sender("bounces@example.org", "has+plus=and/slash")
    with pytest.raises(ValueError):
        envelope_sender("b" * 40 + "@example.org", make_tag(verp.MAX_ID, KEY))


def test_tag_from_address() -> None:
    """The tag of our own bounce address, in any case or with <>; None for anyone else's."""
    tag = make_tag(101, KEY)
    base = "bounces@example.org"
    assert tag_from_address(f"bounces+{tag}@example.org", base) == tag
    assert tag_from_address(f"<BOUNCES+{tag.upper()}@Example.ORG>", base) == tag
    assert read_tag(tag_from_address(f"bounces+{tag.upper()}@example.org", base) or "", KEY) == 101
    assert tag_from_address(f"bounces+{tag}@example.net", base) is None
    assert tag_from_address(f"other+{tag}@example.org", base) is None
    assert tag_from_address("bounces@example.org", base) is None
    assert tag_from_address("bounces+not-a-tag@example.org", base) is None
    assert tag_from_address("", base) is None
    assert tag_from_address(f"bounces+{tag}@example.org", "garbage") is None

"""The address fast path agrees with email_validator on every address it accepts."""

from __future__ import annotations

import random

import pytest

from digest.audience import address

CORPUS = [
    "a@example.org", "A.B@Example.ORG", "x+tag@sub.example.co.uk", "first_last@ex-ample.com",
    "a..b@example.org", ".a@example.org", "a.@example.org", "a@example", "a@localhost",
    "a@example.local", "a@test", "a@host.invalid", "a@host.onion", "a@example.123",
    "a@-example.org", "a@example-.org", "a@xn--bcher-kva.de", "a@xn--zz.de", "a@ab--cd.com",
    "a@" + "l" * 63 + ".com", "a@" + "l" * 64 + ".com", "l" * 64 + "@example.org",
    "l" * 65 + "@example.org", "x@" + ".".join(["abcdefghi"] * 25) + ".org",
    "\u212aelvin@example.org", "s\u00edan@example.org", "a@b\u00fccher.de", "a b@example.org",
    '"quoted"@example.org', "a@[127.0.0.1]", "a@example.org.", "a@@example.org",
    "o'brien@example.ie", "a=b@example.org", "a@e.x", "a@example.c0m", "a@sub.example.arpa",
]


def agree(raw: str) -> None:
    stripped = raw.strip()
    try:
        slow: str | None = address.slow_normalise(stripped)
    except ValueError:
        slow = None
    try:
        fast: str | None = address.normalise_email(raw)
    except ValueError:
        fast = None
    assert fast == slow, raw


@pytest.mark.parametrize("raw", CORPUS)
def test_the_corpus_agrees(raw: str) -> None:
    agree(raw)
    agree(raw.upper())
    agree(f"  {raw} ")


def test_random_addresses_agree() -> None:
    rng = random.Random(17)
    parts = ["a", "Z", "0", ".", "-", "_", "+", "..", "xn--", "é", "!", "'", "@", " "]
    tlds = ["org", "uk", "cymru", "local", "test", "example", "x", "123", "ORG", "co-op"]
    for _ in range(3000):
        local = "".join(rng.choice(parts) for _ in range(rng.randint(1, 6)))
        domain = ".".join("".join(rng.choice(parts[:7]) for _ in range(rng.randint(1, 5)))
                          for _ in range(rng.randint(1, 3)))
        agree(f"{local}@{domain}.{rng.choice(tlds)}")


def test_the_fast_path_serves_plain_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = address.slow_normalise

    def counted(stripped: str) -> str:
        calls.append(stripped)
        return original(stripped)

    monkeypatch.setattr(address, "slow_normalise", counted)
    assert address.normalise_email(" Sian.Evans@Example.ORG") == "sian.evans@example.org"
    assert calls == []
    assert address.normalise_email("a@b\u00fccher.de") == "a@xn--bcher-kva.de"
    assert calls == ["a@b\u00fccher.de"]


@pytest.mark.parametrize("typed", [
    "anna@xn--bcher-kva.example", "ANNA@XN--BCHER-KVA.EXAMPLE", "anna@bücher.example",
    "Anna@BÜCHER.Example", " anna@bu\u0308cher.example\t",  # the ü decomposed (NFD)
])
def test_every_typed_form_of_an_address_is_its_stored_form(typed: str) -> None:
    assert address.stored_form(typed) == "anna@xn--bcher-kva.example"


def test_the_stored_form_is_what_sign_up_and_import_store() -> None:
    for raw in CORPUS:
        try:
            stored = address.normalise_email(raw)
        except ValueError:
            continue
        assert address.stored_form(stored) == stored == address.stored_form(raw.upper()), raw


def test_an_address_that_does_not_validate_is_only_stripped_and_lower_cased() -> None:
    assert address.stored_form(" Erased-7@Erased.Invalid ") == "erased-7@erased.invalid"
    assert address.stored_form("not an address") == "not an address"


@pytest.mark.parametrize(("typed", "prefix"), [
    ("Anna@Bücher", "anna@xn--bcher-kva"), ("anna@bücher.exa", "anna@xn--bcher-kva.exa"),
    ("anna@BÜCHER.example", "anna@xn--bcher-kva.example"), ("Anna@", "anna@"),
    ("anna@xn--bcher", "anna@xn--bcher"), ("ANNA", "anna"), ("a@b\u00fc.", "a@xn--b-eha."),
    ("a@\u00fc\u200d", "a@\u00fc\u200d"),  # not IDNA (yet): left as typed
])
def test_a_search_text_is_the_start_of_an_address_as_stored(typed: str, prefix: str) -> None:
    assert address.stored_prefix(typed) == prefix
    if "." in prefix and prefix.rsplit(".", 1)[1] == "example":
        assert address.stored_form(typed).startswith(prefix)


def test_the_forms_an_older_record_may_name_a_stored_address_in() -> None:
    assert address.written_forms("anna@xn--bcher-kva.example") == [
        "anna@xn--bcher-kva.example", "anna@bücher.example"]
    assert address.written_forms("a@example.org") == ["a@example.org"]
    assert address.written_forms("erased-7@erased.invalid") == ["erased-7@erased.invalid"]
    assert address.written_forms("a@xn--zz.de") == ["a@xn--zz.de"]  # not IDNA after all

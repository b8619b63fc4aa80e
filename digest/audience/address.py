"""Address validation and normalisation: a strict fast path, email_validator for the rest.

The fast path accepts only a plain ASCII dot-atom local part and a domain email_validator
has already accepted (its verdict is cached per domain); anything else goes to
email_validator. Both give the same normalised address (tests/audience/test_address.py).
"""

from __future__ import annotations

import re

import idna
from email_validator import EmailNotValidError, validate_email

# Lower-case only: callers lower-case an ASCII address before matching.
_PLAIN = re.compile(r"([a-z0-9_+-]{1,64}(?:\.[a-z0-9_+-]+)*)@"
                    r"((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})")
_MAX = 254  # email_validator's limit on the whole ASCII address
_CACHE_MAX = 10_000
_domains: dict[str, bool] = {}  # domain -> email_validator accepts it (bounded, see _domain_ok)


def _domain_ok(domain: str) -> bool:
    verdict = _domains.get(domain)
    if verdict is None:
        try:
            validate_email(f"a@{domain}", check_deliverability=False, allow_smtputf8=False)
            verdict = True
        except EmailNotValidError:
            verdict = False
        if len(_domains) >= _CACHE_MAX:
            _domains.clear()
        _domains[domain] = verdict
    return verdict


def slow_normalise(stripped: str) -> str:
    """email_validator's verdict on a stripped, non-empty address; raises ValueError."""
    try:
        result = validate_email(stripped, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return (result.ascii_email or result.normalized).lower()


def normalise_email(raw: str) -> str:
    """Validate syntax (no DNS) and return the address lower-cased, its domain in ASCII
    (IDNA: `bücher.de` is `xn--bcher-kva.de`, as SMTP and every header need it); raises
    ValueError."""
    stripped = raw.strip()
    if not stripped:
        raise ValueError("the address is empty")
    # isascii first: str.lower() maps some non-ASCII letters to ASCII (KELVIN SIGN -> k).
    if stripped.isascii() and len(stripped) <= _MAX:
        lowered = stripped.lower()
        plain = _PLAIN.fullmatch(lowered)
        if plain is not None and len(plain[1]) <= 64 and _domain_ok(plain[2]):
            return lowered
    return slow_normalise(stripped)


def valid_or_none(address: str | None) -> str | None:
    """`normalise_email(address)`, or None for an address no subscriber can have (a report's
    or a webhook's): `stored_form`'s fallback lower-cases any text, and `str.lower` turns
    `\u212a@example.com` (KELVIN SIGN) into k@example.com, someone else's address."""
    if not address:
        return None
    try:
        return normalise_email(address)
    except ValueError:
        return None


def stored_form(typed: str) -> str:
    """An address as the store keeps it, from any form a person may type it in: any case,
    its domain in Unicode (`bücher.example`) or in IDNA (`xn--bcher-kva.example`). An address
    that does not validate (a placeholder such as `erased-7@erased.invalid`) is only stripped
    and lower-cased: a lookup by it finds what it names, or nobody."""
    try:
        return normalise_email(typed)
    except ValueError:
        return typed.strip().lower()


def stored_prefix(typed: str) -> str:
    """The start of a stored address that a search text (the start of an address) stands
    for: lower-cased, each label of its domain in IDNA, so that `anna@bücher` finds
    `anna@xn--bcher-kva.example`. A label that is not IDNA (an unfinished one) stays as typed."""
    local, at, domain = typed.strip().rpartition("@")
    if not at or domain.isascii():
        return typed.strip().lower()
    labels = []
    for label in domain.split("."):
        try:
            labels.append(idna.encode(label, uts46=True).decode("ascii") if label else label)
        except idna.IDNAError:
            labels.append(label.lower())
    return f"{local.lower()}@{'.'.join(labels)}"


def written_forms(stored: str) -> list[str]:
    """A stored address and, when its domain is IDNA, the same address with the domain in
    Unicode (lower-case): how a record written before `stored_form` existed may name it."""
    local, _, domain = stored.rpartition("@")
    try:
        unicode = idna.decode(domain)
    except (idna.IDNAError, UnicodeError):
        return [stored]
    return [stored] if unicode == domain else [stored, f"{local}@{unicode}"]

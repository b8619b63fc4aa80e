"""Links from content: only absolute http(s) URLs with a host, checked when content is read
and again wherever a link is shown (a `javascript:` link is a script in the email and on the
site)."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

MAX_LENGTH = 2000
# A backslash too: browsers read it as a slash, so the host they go to is not the one seen here.
_LABEL = re.compile(r"[a-z0-9_-]{1,63}")
_FORBIDDEN = re.compile("[\\s\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029<>\"\\\\]")


def _host_problem(host: str, *, bracketed: bool) -> str | None:
    """Why `host` (urlsplit's, lower-case) names no machine a link can reach, or None: every
    label of its IDNA form (as a browser sends it: `bücher` is `xn--bcher-kva`) is letters,
    digits, `-` or `_`, none of them empty (`a..b`, `.org`) or over 63 characters."""
    if bracketed:
        return None  # an IPv6 address, which urlsplit has checked
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_host = ""
    labels = ascii_host.removesuffix(".").split(".")  # a final dot is a full name
    if not ascii_host or not all(_LABEL.fullmatch(label) for label in labels):
        return (f"a link's host must be a name like example.org, with no empty part and "
                f"no % or other sign (got {host[:80]!r})")
    return None


def http_url(value: str) -> str:
    """`value` (stripped) if it is an http or https URL with a host; ValueError says why not."""
    text = value.strip()
    if _FORBIDDEN.search(text):
        raise ValueError("a link must not contain spaces, quotes, < >, backslashes or control "
                         "characters")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"a link must be at most {MAX_LENGTH:,} characters")
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises for a port that is not a number from 0 to 65535
    except ValueError as exc:  # e.g. an unclosed [ in an IPv6 host, or port 99999
        raise ValueError(f"not a link: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        got = f"{parts.scheme}:" if parts.scheme else "no scheme"
        raise ValueError(f"a link must start with https:// or http:// (got {got})")
    if not host:
        raise ValueError("a link needs a host, as in https://example.org/page")
    if (problem := _host_problem(host, bracketed="[" in parts.netloc)) is not None:
        raise ValueError(problem)
    if parts.username is not None or parts.password is not None:
        raise ValueError("a link must not carry a user name or password")
    return text


def safe_link(value: str | None) -> str | None:
    """`value` if it is a link that may be shown (see `http_url`), else None: shown nowhere."""
    if not value:
        return None
    try:
        return http_url(value)
    except ValueError:
        return None


# A DOI is `10.` and the registrant's number (which may have dots), a slash, then a suffix of
# anything but spaces (old ones hold < > ; and #).
_DOI = re.compile(r"10\.[0-9]+(?:\.[0-9]+)*/\S+")
_DOI_AS_LINK = re.compile(r"(?i)(?:https?://(?:dx\.)?doi\.org/|doi:\s*)")


def checked_doi(value: str) -> str:
    """`value` (stripped) if it is a DOI written alone; ValueError says why not."""
    text = value.strip()
    if prefix := _DOI_AS_LINK.match(text):
        raise ValueError(f"write the DOI alone, like 10.1093/bjsw/bcz133, without "
                         f"{prefix[0].strip()!r}: the link is made from it")
    if not _DOI.fullmatch(text):
        raise ValueError("not a DOI: it starts with 10., the registrant's number and a "
                         "slash, like 10.1093/bjsw/bcz133, with no spaces")
    return text


def doi_url(value: str) -> str:
    """The doi.org link of a DOI, its characters that a URL would read otherwise (# ? % < >
    and the like) percent-encoded, as the DOI Handbook asks."""
    return "https://doi.org/" + quote(value, safe="/:;()[]._-~!$&'*+,=@")

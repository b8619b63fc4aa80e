"""The rules each setting is held to when the settings load: one line naming the setting
for a value that could only fail later, far from it (`digest.settings.Settings` has them)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import get_args
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationInfo, field_validator
from pydantic_settings import BaseSettings

from digest.paths import check_file, read_regular

REPO_ROOT = Path(__file__).resolve().parent.parent
# DIGEST_ variables read by the tools around digest (the CLI's --debug, the test suite's
# DIGEST_TEST_*), not settings: not reported as unknown.
NOT_SETTINGS = frozenset({"DIGEST_DEBUG"})
ENV_FILE = Path(".env")  # read from the current directory, as Settings' env_file
TEMPLATE_FOLDERS = ("email", "web", "feeds")  # DIGEST_TEMPLATES_DIR holds each
POOL_SIZE = 15  # database connections a process keeps (DIGEST_DATABASE_POOL_SIZE)
# Every number has an upper bound as well as a lower one: a duration or a count far past any
# use overflows a timedelta, a C int or a database integer far from the setting that held it.
DAY_HOURS = 24
DAY_SECONDS = 86_400
COUNT_MAX = 1_000_000
MAX_CONNECTIONS = 64  # SMTP connections (worker threads) one send may open
MAX_LOCAL_PART = 64  # RFC 5321 4.5.3.1.1
VERP_SUFFIX = 27  # "+" and the longest VERP tag (digest.delivery.verp.MAX_TAG, a test checks)
MAX_VERP_BASE_LOCAL = MAX_LOCAL_PART - VERP_SUFFIX  # DIGEST_BOUNCE_ADDRESS's local part
MAX_CA_BYTES = 10_000_000  # a CA bundle (the system's is a few hundred KB)
# A number as a setting may spell it: ASCII digits with an optional sign, decimals and (for a
# float) exponent. Python's int() and float() would also take `1_0` (10) and other scripts'
# digits, which no one means in a .env file.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class SettingInvalid(ValueError):
    """A setting that loaded but cannot be used where it is needed (a schedule APScheduler
    refuses, a key file that cannot be read): the CLI says `setting DIGEST_<NAME>: ...`."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"setting DIGEST_{field.upper()}: {problem}")


def setting_file(field: str, path: Path, *, max_bytes: int | None = None,
                 read: bool = True) -> bytes:
    """The bytes of the file a setting names (b"" unless `read`); SettingInvalid, naming the
    setting and the path, for anything but a regular file this process may read (a FIFO, a
    device, a folder, a dangling link: digest.paths) or one over `max_bytes`."""
    try:
        if not read:
            check_file(path, max_bytes=max_bytes)
            return b""
        return read_regular(path, max_bytes=max_bytes)
    except OSError as exc:
        raise SettingInvalid(field, f"{path}: {exc.strerror or exc}") from None


def address_problem(address: str) -> str | None:
    """Why `address` is not an ASCII email address a setting may hold (no DNS), or None."""
    from email_validator import EmailNotValidError, validate_email

    try:
        found = validate_email(address, check_deliverability=False, allow_smtputf8=False,
                               globally_deliverable=False)
    except EmailNotValidError as exc:
        return str(exc)
    if (found.ascii_email or "").lower() != address.lower():
        return f"write it as {found.ascii_email}"
    return None


def bounce_address_problem(address: str) -> str | None:
    """Why `address` cannot be the VERP base that each message's `local+TAG@domain` envelope
    sender is made from (digest.delivery.verp), or None; `address` is already an address."""
    local = address.rpartition("@")[0]
    if "+" in local:
        return "the local part must not contain '+': VERP adds '+TAG' to it (like " \
               "bounces@example.org)"
    if len(local) > MAX_VERP_BASE_LOCAL:
        return (f"the local part must be at most {MAX_VERP_BASE_LOCAL} characters: VERP adds "
                f"'+TAG' ({VERP_SUFFIX} characters) and a local part is at most {MAX_LOCAL_PART}")
    return None


_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")  # a host name's label
_SUB_DOMAIN = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")  # RFC 6376 3.1
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"  # RFC 5322 3.2.3
_LIST_ID = re.compile(rf"{_ATEXT}(\.{_ATEXT})+")  # RFC 2919 2: label "." namespace
_HOST_AND_PORT = re.compile(r"([^:\[\]]+|\[[^\]]*\]):[0-9]*")


def host_problem(host: str, *, literal: bool = True, like: str = "smtp.example.org") -> str | None:
    """Why `host` is not a host name in ASCII (or, with `literal`, an IP address), or None."""
    if not host:
        return f"must name a host, like {like}"
    if "://" in host or "/" in host:
        return f"the host name alone, not an address with a scheme or path (like {like})"
    if _HOST_AND_PORT.fullmatch(host):
        return "the host name alone: the port is a setting of its own"
    inner = host[1:-1] if host.startswith("[") and host.endswith("]") else None
    if literal and inner is not None and _ip(inner):
        return f"write it without the brackets: {inner}"
    if literal and _ip(host):
        return None
    if any(c.isspace() for c in host):
        return f"must not contain spaces (like {like})"
    if not host.isascii():
        import idna

        try:
            ascii_host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            return f"not a host name ({exc})"
        return f"write it as {ascii_host}"
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return f"not a host name: letters, digits and hyphens between dots (like {like})"
    return None


def _ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _port_ok(parts: SplitResult) -> bool:
    """Whether a URL's port, if it has one, is a number from 1 to 65535."""
    try:
        return parts.port != 0  # urlsplit raises for one that is not a number or over 65535
    except ValueError:
        return False


class SettingChecks(BaseSettings):
    """The field validators of `Settings`, kept apart from its fields (check_fields=False:
    the fields are the subclass's)."""

    @field_validator("*", mode="before", check_fields=False)
    @classmethod
    def _plain_numbers(cls, value: object, info: ValidationInfo) -> object:
        # Only text is judged (a number passed in code is already one); pydantic then
        # applies each field's own type and bounds.
        if not isinstance(value, str) or info.field_name is None:
            return value
        kind = cls.model_fields[info.field_name].annotation
        types = get_args(kind) or (kind,)  # `int | None` is (int, NoneType)
        pattern = _FLOAT if float in types else _INTEGER if int in types else None
        if pattern is not None and value.strip() and not pattern.fullmatch(value.strip()):
            what = "a number" if pattern is _FLOAT else "a whole number"
            raise ValueError(f"must be {what} in ASCII digits (e.g. 10)")
        return value

    @field_validator("sender_name", "sender_email", "reply_to", "list_id", "site_url",
                     "envelope_from", "redirect_all_to", "bounce_address", check_fields=False)
    @classmethod
    def _fit_for_a_header(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Each goes into a header line of every message: no control character (CR, LF...),
        # and short enough that no line can pass RFC 5322's 998 characters.
        if value is None:
            return None
        if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
            raise ValueError("must not contain control characters (line breaks, tabs...)")
        if info.field_name != "sender_name" and any(c.isspace() for c in value):
            raise ValueError("must not contain spaces")
        if len(value) > 200:
            raise ValueError("must be at most 200 characters")
        return value

    @field_validator("sender_email", "reply_to", "envelope_from", "redirect_all_to",
                     "bounce_address", "editors", check_fields=False)
    @classmethod
    def _addresses(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Each is an envelope or header address of real mail (editors: a comma-separated
        # list of them): checked as an import checks a subscriber's, no DNS; written as given.
        if value is None:
            return None
        listed = [a.strip() for a in value.split(",")] if info.field_name == "editors" \
            else [value]
        for address in filter(None, listed):
            if (problem := address_problem(address)) is not None:
                raise ValueError(f"{address!r} is not an email address: {problem}")
        return value

    @field_validator("bounce_address", check_fields=False)
    @classmethod
    def _verp_base(cls, value: str | None) -> str | None:
        # Checked after _addresses: an address, whose local part VERP can extend and read back.
        if value is not None and (problem := bounce_address_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("smtp_host", check_fields=False)
    @classmethod
    def _relay_host(cls, host: str) -> str:
        # A space, a port or a scheme in it was "could not be found" at the first message; a
        # bad international name an internal error (UnicodeError) in the middle of a send.
        if (problem := host_problem(host)) is not None:
            raise ValueError(problem)
        return host

    @field_validator("list_id", check_fields=False)
    @classmethod
    def _list_id(cls, value: str) -> str:
        # `List-Id: <VALUE>` in every message (RFC 2919): a non-ASCII one stopped a send with
        # an internal error (UnicodeEncodeError), brackets were doubled.
        if value.startswith("<") and value.endswith(">"):
            raise ValueError(f"write it without the angle brackets: {value[1:-1]}")
        if not _LIST_ID.fullmatch(value):
            raise ValueError("ASCII letters, digits and dots, with at least one dot (like "
                             "digest.example.org)")
        return value

    @field_validator("smtp_username", "dkim_selector", "dkim_domain", mode="before",
                     check_fields=False)
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # DIGEST_SMTP_USERNAME= is no user name: unset, like an empty optional file setting.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("smtp_password", mode="before", check_fields=False)
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value else value

    @field_validator("smtp_username", check_fields=False)
    @classmethod
    def _credentials(cls, user: str | None, info: ValidationInfo) -> str | None:
        # Either alone was silently no AUTH (a password without a user name) or an AUTH with
        # an empty password. Runs when unset too (validate_default).
        password = info.data.get("smtp_password")
        if user is None and password is not None:
            raise ValueError("unset, but DIGEST_SMTP_PASSWORD is set: AUTH needs both (unset "
                             "the password to send without AUTH)")
        if user is not None and password is None:
            raise ValueError("is set but DIGEST_SMTP_PASSWORD is not: AUTH needs both (unset "
                             "the user name to send without AUTH)")
        return user

    @field_validator("smtp_ca_file", "bounce_imap_ca_file", check_fields=False)
    @classmethod
    def _ca_file(cls, path: Path | None) -> Path | None:
        # Found at the first connection before, as "TLS failed during connect
        # (NO_CERTIFICATE_OR_CRL_FOUND)" or "connect failed (No such file or directory)".
        # Read through digest.paths: OpenSSL's own open would wait on a FIFO for ever.
        if path is None:
            return None
        import ssl

        from digest.paths import read_regular

        try:
            pem = read_regular(path, max_bytes=MAX_CA_BYTES).decode("ascii")
            ssl.create_default_context(cadata=pem)
        except UnicodeDecodeError:
            raise ValueError(f"{path} holds no PEM certificate (not ASCII text)") from None
        except ssl.SSLError as exc:
            raise ValueError(f"{path} holds no PEM certificate ({exc.reason or exc})") from None
        except OSError as exc:
            raise ValueError(f"{path}: {exc.strerror or exc}") from None
        return path

    @field_validator("dkim_selector", check_fields=False)
    @classmethod
    def _selector(cls, selector: str | None) -> str | None:
        # `s=` of every signature and a DNS name (SELECTOR._domainkey.DOMAIN): a space, a
        # semicolon or a non-ASCII letter made signatures no receiver can check, silently.
        if selector is not None and not all(_SUB_DOMAIN.fullmatch(label)
                                            for label in selector.split(".")):
            raise ValueError("ASCII letters, digits and hyphens, dots between labels (like "
                             "digest2026)")
        return selector

    @field_validator("dkim_domain", check_fields=False)
    @classmethod
    def _signing_domain(cls, domain: str | None) -> str | None:
        if domain is not None and (problem := host_problem(domain, literal=False,
                                                           like="example.org")) is not None:
            raise ValueError(problem)
        return domain

    @field_validator("dkim_private_key_path", check_fields=False)
    @classmethod
    def _dkim_complete(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        # Half a DKIM configuration signed nothing, and said nothing. Runs when unset too.
        if not {"dkim_selector", "dkim_domain"} <= info.data.keys():
            return path  # one of them is refused already
        selector, domain = info.data["dkim_selector"], info.data["dkim_domain"]
        if path is not None and selector is None:
            raise ValueError("is set but DIGEST_DKIM_SELECTOR is not: DKIM signing needs "
                             "both (unset the key to send unsigned)")
        if path is None and (selector is not None or domain is not None):
            which = "DIGEST_DKIM_SELECTOR" if selector is not None else "DIGEST_DKIM_DOMAIN"
            raise ValueError(f"unset, but {which} is set: DKIM signing needs the selector and "
                             "the key file (unset both to send unsigned)")
        return path

    @field_validator("site_url", check_fields=False)
    @classmethod
    def _web_address(cls, url: str) -> str:
        # Every link in every email and page starts with it: an absolute http(s) address of
        # a host (a path prefix is allowed), nothing a link could not be built on.
        parts = urlsplit(url)
        if not _port_ok(parts):
            raise ValueError("the port must be a number from 1 to 65535 (like "
                             "https://digest.example.org:8443)")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("use the site's address, like https://digest.example.org")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must have no query, fragment or user name (like "
                             "https://digest.example.org)")
        return url

    @field_validator("content_dir", "templates_dir", "var_dir", "smtp_ca_file",
                     "bounce_imap_ca_file", "dkim_private_key_path", mode="before",
                     check_fields=False)
    @classmethod
    def _path_given(cls, value: object, info: ValidationInfo) -> object:
        # Path("") is the current directory (`DIGEST_VAR_DIR=` wrote the outbox wherever the
        # command ran): empty leaves an optional file unset, like the other optional settings.
        if not isinstance(value, str) or value.strip():
            return value
        if info.field_name in ("smtp_ca_file", "bounce_imap_ca_file", "dkim_private_key_path"):
            return None
        raise ValueError("must name a folder (unset it for the default)")

    @field_validator("templates_dir", "var_dir", check_fields=False)
    @classmethod
    def _folder(cls, path: Path, info: ValidationInfo) -> Path:
        # Checked here, not at the first render or preview, which named no setting.
        if path.exists() and not path.is_dir():
            raise ValueError(f"{path} is not a folder")
        missing = [f"{part}/" for part in TEMPLATE_FOLDERS if not (path / part).is_dir()]
        if info.field_name == "templates_dir" and missing:
            raise ValueError(f"{path} has no {', '.join(missing)} folder: use the "
                             "repository's templates/ or a copy of it")
        return path

    @field_validator("timezone", check_fields=False)
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ValueError, OSError, ZoneInfoNotFoundError):
            raise ValueError("use an IANA time zone name, like Europe/London") from None
        return name

    @field_validator("database_url", check_fields=False)
    @classmethod
    def _known_database(cls, url: str) -> str:
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        if scheme not in {"sqlite", "postgresql", "postgresql+psycopg"}:
            raise ValueError("use sqlite:///path/to/file.db or postgresql://user@host:5432/db")
        parts = urlsplit(url)
        # One host only: libpq also takes a list (host1:5432,host2:5433), which urlsplit cannot.
        if scheme != "sqlite" and "," not in parts.netloc and not _port_ok(parts):
            raise ValueError("the port must be a number from 1 to 65535 (like "
                             "postgresql://user@host:5432/db)")
        return url

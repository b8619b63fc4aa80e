"""The one settings object: environment (`DIGEST_*`), `.env`, then defaults."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from digest.keys import KNOWN_DEMO_KEYS as KNOWN_DEMO_KEYS
from digest.keys import InsecureSecretKey as InsecureSecretKey
from digest.keys import generate_secret_key as generate_secret_key
from digest.keys import secret_key_problem as secret_key_problem
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


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """`DIGEST_*` variables that name no setting (a typo's setting silently keeps its default)."""
    known = {f"DIGEST_{name.upper()}" for name in Settings.model_fields} | NOT_SETTINGS
    return sorted(k for k in environ if k.upper().startswith("DIGEST_")
                  and k.upper() not in known and not k.upper().startswith("DIGEST_TEST_"))


class Settings(BaseSettings):
    """Everything configurable; built once at the edge (CLI, web) and passed down."""

    model_config = SettingsConfigDict(
        env_prefix="DIGEST_", env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore"
    )

    # Store
    database_url: str = "sqlite:///var/digest.db"
    database_pool_size: int = Field(default=POOL_SIZE, ge=1, le=200)

    # Identity of the list
    sender_name: str = "Ymchwil Gwaith Cymdeithasol / Social Work Research"
    sender_email: str = "digest@example.org"
    reply_to: str | None = None
    list_id: str = "digest.example.org"
    site_url: str = "https://digest.example.org"
    postal_address: str = "Example Research Centre, 1 Example Street, Cardiff CF10 1AA"
    secret_key: SecretStr | None = None  # no default: `digest secret-key` makes one

    # Paths (relative paths are taken from the current directory)
    content_dir: Path = REPO_ROOT / "content"
    templates_dir: Path = REPO_ROOT / "templates"
    var_dir: Path = Path("var")

    # Planning
    timezone: str = "Europe/London"
    seminar_window_weeks: int = Field(default=8, ge=1, le=520)
    min_new_items: int = Field(default=1, ge=0, le=1000)

    # Scheduling (see README "Scheduling")
    policy: Literal["approval", "auto"] = "approval"
    plan_schedule: str = "day=1st mon; hour=9; minute=0"  # APScheduler CronTrigger fields
    send_schedule: str = "hour=10; minute=0"  # the send job; sends issues whose time has come
    send_delay_days: int = Field(default=1, ge=0, le=366)  # an issue may go this many days after
    # planning
    misfire_grace_hours: float = Field(default=72, gt=0, le=DAY_HOURS * 366)  # a missed job still
    # runs (once) within
    editors: str = ""  # comma-separated addresses told about drafts and missed approvals

    # Web (digest serve)
    # Cookies are Secure whenever site_url is https (there is no separate switch).
    editor_accounts: str = ""  # "name:hash,name2:hash"; make hashes with `digest editor-password`
    trusted_hosts: str = ""  # comma-separated Host names accepted besides site_url's
    forwarded_allow_ips: str = ""  # reverse proxies whose X-Forwarded-For/-Proto are believed
    session_idle_minutes: float = Field(default=30, gt=0, le=DAY_HOURS * 60 * 31)
    session_max_hours: float = Field(default=12, gt=0, le=DAY_HOURS * 31)
    login_max_failures: int = Field(default=5, ge=1, le=1000)  # per account name and per client
    login_window_minutes: float = Field(default=15, gt=0, le=DAY_HOURS * 60 * 31)
    max_form_bytes: int = Field(default=65536, ge=1024, le=16 * 1024 * 1024)
    confirm_max_age_hours: float = Field(default=72, gt=0, le=DAY_HOURS * 31)
    signup_limit_per_hour: int = Field(default=3, ge=1, le=COUNT_MAX)  # per email address
    signup_client_limit_per_hour: int = Field(default=10, ge=1, le=COUNT_MAX)  # per client address
    signup_total_limit_per_hour: int = Field(default=200, ge=1, le=COUNT_MAX)  # all sign-ups

    # The audience (README "Subscribers and privacy")
    consent_ip: bool = False  # keep a keyed hash of the sign-up's client IP in the consent record
    click_counts: bool = False  # links go through /r/<issue>/<item>/<lang>, counted per item only
    click_grace_seconds: float = Field(default=60, ge=0, le=DAY_SECONDS)  # clicks this soon after
    # the send start
    # are link scanners', not readers': not counted

    # Delivery: the outbox
    transport: Literal["file", "smtp"] = "file"
    batch_size: int = Field(default=64, ge=1, le=10_000)  # outbox rows a connection claims at once
    claim_lease_seconds: float = Field(default=60, gt=0, le=DAY_SECONDS)  # a claim not refreshed
    # this long is dead
    retry_base_seconds: float = Field(default=60, gt=0, le=DAY_SECONDS)  # first retry delay,
    # doubling each time
    retry_max_seconds: float = Field(default=3600, gt=0, le=DAY_SECONDS * 7)
    retry_deadline_hours: float = Field(default=24, gt=0, le=DAY_HOURS * 31)  # then a temporary
    # failure is final

    # Delivery: the SMTP relay
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    # The password before the user name: the check that they come together is the user name's,
    # so that its refusal, which shows the value it got, never shows the password.
    smtp_password: SecretStr | None = None
    smtp_username: str | None = Field(default=None, validate_default=True)
    smtp_ca_file: Path | None = None  # CA bundle for a relay with a private certificate
    smtp_timeout: float = Field(default=30, gt=0, le=3600)
    smtp_greeting_timeout: float = Field(default=10, gt=0, le=3600)  # no greeting by then: an
    # implicit-TLS port spoken to in plain text? (at most smtp_timeout)
    smtp_connections: int = Field(default=4, ge=1, le=MAX_CONNECTIONS)
    smtp_messages_per_connection: int = Field(default=1000, ge=1, le=COUNT_MAX)
    smtp_rate_limit: float = Field(default=0, ge=0, le=COUNT_MAX)  # messages/second overall;
    # 0 = no limit
    smtp_pacing_seconds: float = Field(default=0, ge=0, le=3600)  # minimum gap per connection
    envelope_from: str | None = None  # bounce address; defaults to sender_email
    redirect_all_to: str | None = None  # staging: every message goes here instead

    # Delivery: DKIM (optional)
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_private_key_path: Path | None = Field(default=None, validate_default=True)

    # Bounces and complaints (see README "Bounces and complaints", docs/webhooks.md)
    bounce_address: str | None = None  # VERP base: MAIL FROM becomes bounces+TAG@domain
    bounce_imap_host: str | None = None  # the bounce mailbox; unset: no polling
    bounce_imap_port: int | None = Field(default=None, ge=1, le=65535)  # default 993 for tls,
    # 143 otherwise
    bounce_imap_security: Literal["tls", "starttls", "none"] = "tls"
    bounce_imap_username: str | None = None
    bounce_imap_password: SecretStr | None = None
    bounce_imap_ca_file: Path | None = None
    bounce_imap_mailbox: str = "INBOX"
    bounce_imap_processed_folder: str = "digest/processed"
    bounce_imap_held_folder: str = "digest/held"
    bounce_poll_minutes: float = Field(default=10, ge=0, le=DAY_HOURS * 60)  # the scheduler's poll
    # job; 0 = off
    soft_bounce_limit: int = Field(default=3, ge=1, le=1000)  # distinct messages soft-bounced ...
    soft_bounce_days: float = Field(default=30, gt=0, le=3660)  # ... within this many days
    bounce_raw_retention_days: float = Field(default=30, ge=0, le=3660)  # then the raw message
    # goes
    webhook_ses_topic_arns: str = ""  # comma-separated SNS topic ARNs; empty: no /webhooks/ses
    webhook_ses_tolerance: float = Field(default=3600, gt=0, le=DAY_SECONDS * 7)
    webhook_postmark_username: str | None = None
    webhook_postmark_password: SecretStr | None = None
    webhook_mailgun_signing_key: SecretStr | None = None
    webhook_mailgun_tolerance: float = Field(default=300, gt=0, le=DAY_SECONDS * 7)
    webhook_sendgrid_public_key: str | None = None
    webhook_sendgrid_tolerance: float = Field(default=3600, gt=0, le=DAY_SECONDS * 7)

    @field_validator("*", mode="before")
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
                     "envelope_from", "redirect_all_to", "bounce_address")
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
                     "bounce_address", "editors")
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

    @field_validator("bounce_address")
    @classmethod
    def _verp_base(cls, value: str | None) -> str | None:
        # Checked after _addresses: an address, whose local part VERP can extend and read back.
        if value is not None and (problem := bounce_address_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("smtp_host")
    @classmethod
    def _relay_host(cls, host: str) -> str:
        # A space, a port or a scheme in it was "could not be found" at the first message; a
        # bad international name an internal error (UnicodeError) in the middle of a send.
        if (problem := host_problem(host)) is not None:
            raise ValueError(problem)
        return host

    @field_validator("list_id")
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

    @field_validator("smtp_username", "dkim_selector", "dkim_domain", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # DIGEST_SMTP_USERNAME= is no user name: unset, like an empty optional file setting.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("smtp_password", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value else value

    @field_validator("smtp_username")
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

    @field_validator("smtp_ca_file", "bounce_imap_ca_file")
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

    @field_validator("dkim_selector")
    @classmethod
    def _selector(cls, selector: str | None) -> str | None:
        # `s=` of every signature and a DNS name (SELECTOR._domainkey.DOMAIN): a space, a
        # semicolon or a non-ASCII letter made signatures no receiver can check, silently.
        if selector is not None and not all(_SUB_DOMAIN.fullmatch(label)
                                            for label in selector.split(".")):
            raise ValueError("ASCII letters, digits and hyphens, dots between labels (like "
                             "digest2026)")
        return selector

    @field_validator("dkim_domain")
    @classmethod
    def _signing_domain(cls, domain: str | None) -> str | None:
        if domain is not None and (problem := host_problem(domain, literal=False,
                                                           like="example.org")) is not None:
            raise ValueError(problem)
        return domain

    @field_validator("dkim_private_key_path")
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

    @field_validator("site_url")
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
                     "bounce_imap_ca_file", "dkim_private_key_path", mode="before")
    @classmethod
    def _path_given(cls, value: object, info: ValidationInfo) -> object:
        # Path("") is the current directory (`DIGEST_VAR_DIR=` wrote the outbox wherever the
        # command ran): empty leaves an optional file unset, like the other optional settings.
        if not isinstance(value, str) or value.strip():
            return value
        if info.field_name in ("smtp_ca_file", "bounce_imap_ca_file", "dkim_private_key_path"):
            return None
        raise ValueError("must name a folder (unset it for the default)")

    @field_validator("templates_dir", "var_dir")
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

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ValueError, OSError, ZoneInfoNotFoundError):
            raise ValueError("use an IANA time zone name, like Europe/London") from None
        return name

    @field_validator("database_url")
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

    def signing_key(self) -> str:
        """The secret key; raises InsecureSecretKey when it is unset, public or weak."""
        key = self.secret_key.get_secret_value() if self.secret_key else None
        if (problem := secret_key_problem(key)) is not None:
            raise InsecureSecretKey(problem)
        return key or ""

    @property
    def https(self) -> bool:
        """Whether the site is served over https (cookies Secure, HSTS sent)."""
        return urlsplit(self.site_url).scheme == "https"

    @property
    def site_origin(self) -> str:
        """`scheme://host[:port]` of the site, the base of every redirect and absolute link."""
        parts = urlsplit(self.site_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def allowed_hosts(self) -> frozenset[str]:
        """Host names (lower-case, no port) the web app answers for."""
        extra = (h.strip().lower() for h in self.trusted_hosts.split(","))
        return frozenset({(urlsplit(self.site_url).hostname or "").lower(), *filter(None, extra)})

    @property
    def tz(self) -> ZoneInfo:
        """The editorial time zone (all planning happens in it)."""
        return ZoneInfo(self.timezone)

    @property
    def claim_lease(self) -> timedelta:
        """How long a claim lives without a heartbeat."""
        return timedelta(seconds=self.claim_lease_seconds)

    @property
    def send_connections(self) -> int:
        """Connections (worker threads) a send run opens: the file adapter is one writer."""
        return self.smtp_connections if self.transport == "smtp" else 1

    @property
    def outbox_dir(self) -> Path:
        """Where the file transport writes `.eml` files."""
        return self.var_dir / "outbox"

    @property
    def preview_dir(self) -> Path:
        """Where previews for editors are written."""
        return self.var_dir / "preview"

    @property
    def editor_addresses(self) -> list[str]:
        """The editors to notify."""
        return [a.strip() for a in self.editors.split(",") if a.strip()]

    @property
    def envelope_sender(self) -> str:
        """MAIL FROM address (where bounces go)."""
        return self.envelope_from or self.sender_email

    @property
    def bounce_imap_configured(self) -> bool:
        """Whether a bounce mailbox is set up (host, user name and password)."""
        return bool(self.bounce_imap_host and self.bounce_imap_username
                    and self.bounce_imap_password)

    @property
    def ses_topic_arns(self) -> list[str]:
        """The SNS topics /webhooks/ses accepts."""
        return [a.strip() for a in self.webhook_ses_topic_arns.split(",") if a.strip()]

    @property
    def sender_domain(self) -> str:
        """Domain used for Message-IDs."""
        return self.sender_email.rpartition("@")[2]

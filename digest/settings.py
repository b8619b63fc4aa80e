"""The one settings object: environment (`DIGEST_*`), `.env`, then defaults."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from digest.keys import KNOWN_DEMO_KEYS as KNOWN_DEMO_KEYS
from digest.keys import InsecureSecretKey as InsecureSecretKey
from digest.keys import generate_secret_key as generate_secret_key
from digest.keys import secret_key_problem as secret_key_problem
from digest.setting_checks import COUNT_MAX as COUNT_MAX
from digest.setting_checks import DAY_HOURS as DAY_HOURS
from digest.setting_checks import DAY_SECONDS as DAY_SECONDS
from digest.setting_checks import ENV_FILE as ENV_FILE
from digest.setting_checks import MAX_CA_BYTES as MAX_CA_BYTES
from digest.setting_checks import MAX_CONNECTIONS as MAX_CONNECTIONS
from digest.setting_checks import MAX_LOCAL_PART as MAX_LOCAL_PART
from digest.setting_checks import MAX_VERP_BASE_LOCAL as MAX_VERP_BASE_LOCAL
from digest.setting_checks import NOT_SETTINGS as NOT_SETTINGS
from digest.setting_checks import POOL_SIZE as POOL_SIZE
from digest.setting_checks import REPO_ROOT as REPO_ROOT
from digest.setting_checks import TEMPLATE_FOLDERS as TEMPLATE_FOLDERS
from digest.setting_checks import VERP_SUFFIX as VERP_SUFFIX
from digest.setting_checks import SettingChecks as SettingChecks
from digest.setting_checks import SettingInvalid as SettingInvalid
from digest.setting_checks import address_problem as address_problem
from digest.setting_checks import bounce_address_problem as bounce_address_problem
from digest.setting_checks import host_problem as host_problem
from digest.setting_checks import setting_file as setting_file


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """`DIGEST_*` variables that name no setting (a typo's setting silently keeps its default)."""
    known = {f"DIGEST_{name.upper()}" for name in Settings.model_fields} | NOT_SETTINGS
    return sorted(k for k in environ if k.upper().startswith("DIGEST_")
                  and k.upper() not in known and not k.upper().startswith("DIGEST_TEST_"))


class Settings(SettingChecks):
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
    def site_path(self) -> str:
        """The site's path prefix ("" or "/digest"), which a proxy strips before the app sees
        a request: before every link a page writes from the site's root, and cookie path."""
        return urlsplit(self.site_url).path.rstrip("/")

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

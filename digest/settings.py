"""The one settings object: environment (`DIGEST_*`), `.env`, then defaults."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything configurable; built once at the edge (CLI, web) and passed down."""

    model_config = SettingsConfigDict(
        env_prefix="DIGEST_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Store
    database_url: str = "sqlite:///var/digest.db"

    # Identity of the list
    sender_name: str = "Ymchwil Gwaith Cymdeithasol / Social Work Research"
    sender_email: str = "digest@example.org"
    reply_to: str | None = None
    list_id: str = "digest.example.org"
    site_url: str = "https://digest.example.org"
    postal_address: str = "Example Research Centre, 1 Example Street, Cardiff CF10 1AA"
    secret_key: SecretStr = SecretStr("change-me-in-production-this-is-only-for-the-demo")

    # Paths (relative paths are taken from the current directory)
    content_dir: Path = REPO_ROOT / "content"
    templates_dir: Path = REPO_ROOT / "templates"
    var_dir: Path = Path("var")

    # Planning
    timezone: str = "Europe/London"
    seminar_window_weeks: int = Field(default=8, ge=1)
    min_new_items: int = Field(default=1, ge=0)

    # Scheduling (see README "Scheduling")
    policy: Literal["approval", "auto"] = "approval"
    plan_schedule: str = "day=1st mon; hour=9; minute=0"  # APScheduler CronTrigger fields
    send_schedule: str = "hour=10; minute=0"  # the send job; sends issues whose time has come
    send_delay_days: int = Field(default=1, ge=0)  # an issue may go this many days after planning
    misfire_grace_hours: float = Field(default=72, gt=0)  # a missed job still runs (once) within
    editors: str = ""  # comma-separated addresses told about drafts and missed approvals

    # Web (digest serve)
    editor_accounts: str = ""  # "name:hash,name2:hash"; make hashes with `digest editor-password`
    secure_cookies: bool = False  # set true when served over HTTPS
    confirm_max_age_hours: float = Field(default=72, gt=0)
    signup_limit_per_hour: int = Field(default=3, ge=1)

    # The audience (README "Subscribers and privacy")
    consent_ip: bool = False  # keep a keyed hash of the sign-up's client IP in the consent record
    click_counts: bool = False  # links go through /r/<issue>/<item>/<lang>, counted per item only
    click_grace_seconds: float = Field(default=60, ge=0)  # clicks this soon after the send start
    # are link scanners', not readers': not counted

    # Delivery: the outbox
    transport: Literal["file", "smtp"] = "file"
    batch_size: int = Field(default=64, ge=1)  # outbox rows a connection claims at a time
    claim_lease_seconds: float = Field(default=60, gt=0)  # a claim not refreshed this long is dead
    retry_base_seconds: float = Field(default=60, gt=0)  # first retry delay, doubling each time
    retry_max_seconds: float = Field(default=3600, gt=0)
    retry_deadline_hours: float = Field(default=24, gt=0)  # then a temporary failure is final

    # Delivery: the SMTP relay
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_ca_file: Path | None = None  # CA bundle for a relay with a private certificate
    smtp_timeout: float = Field(default=30, gt=0)
    smtp_connections: int = Field(default=4, ge=1, le=64)
    smtp_messages_per_connection: int = Field(default=1000, ge=1)
    smtp_rate_limit: float = Field(default=0, ge=0)  # messages/second overall; 0 = no limit
    smtp_pacing_seconds: float = Field(default=0, ge=0)  # minimum gap per connection
    envelope_from: str | None = None  # bounce address; defaults to sender_email
    redirect_all_to: str | None = None  # staging: every message goes here instead

    # Delivery: DKIM (optional)
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_private_key_path: Path | None = None

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
    def sender_domain(self) -> str:
        """Domain used for Message-IDs."""
        return self.sender_email.rpartition("@")[2]

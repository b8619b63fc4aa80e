"""The one settings object: environment (`DIGEST_*`), `.env`, then defaults."""

from __future__ import annotations

from pathlib import Path
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
    first_issue_lookback_days: int = Field(default=31, ge=1)

    # Delivery
    batch_size: int = Field(default=500, ge=1)

    @property
    def tz(self) -> ZoneInfo:
        """The editorial time zone (all planning happens in it)."""
        return ZoneInfo(self.timezone)

    @property
    def outbox_dir(self) -> Path:
        """Where the file transport writes `.eml` files."""
        return self.var_dir / "outbox"

    @property
    def preview_dir(self) -> Path:
        """Where previews for editors are written."""
        return self.var_dir / "preview"

    @property
    def sender_domain(self) -> str:
        """Domain used for Message-IDs."""
        return self.sender_email.rpartition("@")[2]

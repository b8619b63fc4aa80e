"""What every bounce source produces: one plain value per report, whatever its format."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# The enums are stored, so they live with the tables; this module is where bounces use them.
from digest.store.models import FeedbackKind, FeedbackSource

__all__ = ["Feedback", "FeedbackKind", "FeedbackSource"]


@dataclass(frozen=True, slots=True)
class Feedback:
    """One report about one recipient, as parsed; matching to a delivery happens later.

    Every field but `kind` may be missing: a mangled bounce may carry only a VERP tag, a
    provider event only an address. `event_id` identifies the report at its source (a
    provider's event id, or a hash of the raw message) so that processing it twice is a no-op.
    """

    kind: FeedbackKind
    event_id: str
    recipient: str | None = None  # Final-Recipient / the provider's address, lower-case
    status: str | None = None  # enhanced status code such as "5.1.1"
    diagnostic: str | None = None  # Diagnostic-Code or the provider's reason, one line
    verp_tag: str | None = None  # the tag from bounces+TAG@domain, if the report carried one
    original_message_id: str | None = None  # Message-ID of the message that bounced, with <>
    occurred_at: datetime | None = None  # when the provider says it happened (aware, UTC)

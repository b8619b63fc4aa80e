"""Test sends (proofs): each stored variant to an editor's addresses, marked as a test, outside
the outbox, so that nothing of a real send is touched."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from digest.delivery.finish import Finisher
from digest.delivery.messages import MessageTemplate, Recipient
from digest.delivery.transports.base import Outcome, Transport
from digest.issue.service import get_issue, variants
from digest.settings import Settings
from digest.store.db import session_scope
from digest.store.models import Language
from digest.tokens import Tokens

_ATOMS = r"[^\s@<>()\[\],;:\\\"\x00-\x1f\x7f]+"
_PLAIN_ADDRESS = re.compile(f"{_ATOMS}@{_ATOMS}")  # no spaces, controls or specials: a To:


class NoVariant(ValueError):
    """A test send with nothing to send: no stored variant of the languages asked for."""


def send_tests(settings: Settings, engine: Engine, issue_id: int,
               addresses: list[str], transport: Transport,
               languages: list[Language] | None = None
               ) -> list[tuple[str, str, str, Outcome]]:
    """Send each variant (or those in `languages`) to each address, marked as a test:
    (address, language, the relay's reply, outcome) each; the outbox is not touched. A relay
    that cannot be reached ends it there: the last result says why, the others are not tried.
    Raises ValueError before anything is sent for an address that cannot be a plain one (it
    becomes the To:; a line break or NUL would write headers of its own), and NoVariant when
    the issue has none of the variants asked for (a skipped period has none)."""
    for address in addresses:
        if any(c in address for c in "\r\n\0") or not _PLAIN_ADDRESS.fullmatch(address):
            raise ValueError(f"{address!r} is not an email address")
    with session_scope(engine) as session:
        issue = get_issue(session, issue_id)
        stored = {lang: v for lang, v in variants(session, issue).items()
                  if languages is None or lang in languages}
        if not stored:
            asked = "" if languages is None else " " + "/".join(lang.value for lang in languages)
            raise NoVariant(f"issue {issue.period} ({issue.state.value}) has no{asked} variant "
                            "to test; nothing was sent")
    tokens = Tokens(settings)
    finisher = Finisher(settings, redirect=False)
    results = []
    for language, variant in stored.items():
        marked = _TestVariant(language, "[PRAWF / TEST] " + variant.subject, variant.html,
                              variant.text)
        template = MessageTemplate(settings, 0, marked, tokens)
        for n, address in enumerate(addresses):
            test_id = f"<digest-test.{uuid.uuid4().hex}.{n}@{settings.sender_domain}>"
            message = template.build(Recipient(0, address, ""), message_id=test_id)
            result = transport.send(finisher.finish(message))
            results.append((address, language.value, result.reply, result.outcome))
            if result.unreachable:  # each other test would wait for the same relay again
                transport.close()
                return results
    transport.close()
    return results


@dataclass(frozen=True)
class _TestVariant:
    language: Language
    subject: str
    html: str
    text: str

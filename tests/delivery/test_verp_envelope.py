"""VERP on the wire: each message's MAIL FROM names its own outbox row, as the relay sees it."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.delivery import run, verp
from digest.delivery.messages import MessageTemplate, Recipient
from digest.delivery.transports import factory
from digest.settings import SettingInvalid, Settings
from digest.store.models import Delivery, Issue, IssueState, Language, Subscriber
from tests.factories import add_sample_content, add_subscribers, approved_issue
from tests.smtp_server import SMTPServer


def send(engine: Engine, session: Session, cfg: Settings) -> int:
    add_sample_content(session)
    add_subscribers(session, per_language=2)
    issue = approved_issue(session, cfg)
    report = run.send_issue(engine, cfg, issue.id or 0, factory.transport_factory(cfg),
                            connections=2)
    assert report.total_sent == 6
    return issue.id or 0


def test_envelope_sender_carries_a_tag_naming_the_delivery_row(
        engine: Engine, session: Session, db_settings: Settings,
        smtp_server: SMTPServer) -> None:
    cfg = db_settings.model_copy(update={**smtp_server.smtp_settings(),
                                         "bounce_address": "bounces@example.org"})
    issue_id = send(engine, session, cfg)
    key = verp.derive_key(cfg.signing_key())
    session.expire_all()
    emails = {s.id: s.email for s in session.exec(select(Subscriber))}
    rows = {emails[d.subscriber_id]: d.id
            for d in session.exec(select(Delivery).where(Delivery.issue_id == issue_id))}
    assert len(smtp_server.received) == 6
    for got in smtp_server.received:
        tag = verp.tag_from_address(got.mail_from, "bounces@example.org")
        assert tag is not None, got.mail_from
        assert verp.read_tag(tag, key) == rows[got.rcpt]
        assert verp.read_tag(tag, verp.derive_key("another secret")) is None
    assert len({got.mail_from for got in smtp_server.received}) == 6


def test_without_a_bounce_address_the_envelope_sender_is_unchanged(
        engine: Engine, session: Session, db_settings: Settings,
        smtp_server: SMTPServer) -> None:
    cfg = db_settings.model_copy(update={**smtp_server.smtp_settings(),
                                         "envelope_from": "returns@example.org"})
    send(engine, session, cfg)
    assert {got.mail_from for got in smtp_server.received} == {"returns@example.org"}


class _Variant:
    language = Language.EN
    subject = "Subject"
    html = "<p>hi</p>"
    text = "hi"


def test_a_message_without_a_delivery_row_keeps_the_plain_sender(settings: Settings) -> None:
    from digest.tokens import Tokens

    cfg = settings.model_copy(update={"bounce_address": "bounces@example.org"})
    template = MessageTemplate(cfg, 1, _Variant(), Tokens(cfg))
    assert template.build(Recipient(7, "a@example.org", "")).sender == cfg.envelope_sender
    tagged = template.build(Recipient(7, "a@example.org", "", delivery_id=42)).sender
    tag = verp.tag_from_address(tagged, "bounces@example.org")
    assert tag is not None
    assert verp.read_tag(tag, verp.derive_key(cfg.signing_key())) == 42


@pytest.mark.parametrize("address", ["bounces+x@example.org", "not an address",
                                     "b" * 40 + "@example.org"])
def test_an_unusable_bounce_address_is_refused_when_the_send_starts(
        settings: Settings, address: str) -> None:
    from digest.tokens import Tokens

    cfg = settings.model_copy(update={"bounce_address": address})
    with pytest.raises(ValueError):
        MessageTemplate(cfg, 1, _Variant(), Tokens(cfg))


@pytest.mark.parametrize("address", ["bounces+x@example.org", "not an address",
                                     "b" * 38 + "@example.org"])
def test_an_unusable_bounce_address_refuses_send_issue_before_anything_is_written(
        engine: Engine, session: Session, db_settings: Settings, address: str) -> None:
    """Settings made without validation (model_copy) are caught by the send's own check."""
    add_sample_content(session)
    add_subscribers(session, per_language=2)
    issue = approved_issue(session, db_settings)
    cfg = db_settings.model_copy(update={"bounce_address": address})
    with pytest.raises(SettingInvalid, match=r"^setting DIGEST_BOUNCE_ADDRESS: "):
        run.send_issue(engine, cfg, issue.id or 0, factory.transport_factory(cfg))
    with pytest.raises(SettingInvalid):
        run.preflight(cfg)
    session.expire_all()
    assert session.get(Issue, issue.id).state is IssueState.APPROVED  # type: ignore[union-attr]
    assert session.exec(select(Delivery).where(Delivery.issue_id == issue.id)).all() == []

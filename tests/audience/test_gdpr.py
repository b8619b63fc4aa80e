"""Export of one person's data, and erasure: the data is gone from every table, anonymous
counts stay, and the suppression list refuses the address until the person signs up again."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.audience import csv_import, gdpr, history, self_service, suppression
from digest.audience.keyed import Keyed
from digest.delivery import outbox, run
from digest.delivery.transports.base import Outcome, SendResult
from digest.delivery.transports.memory import MemoryTransport
from digest.settings import Settings, generate_secret_key
from digest.store.models import (
    Delivery,
    DeliveryState,
    Language,
    Subscriber,
    SubscriberAction,
    SubscriberState,
    Suppression,
    now_utc,
)
from digest.tokens import Purpose, Tokens
from tests.conftest import DATA
from tests.factories import add_sample_content, approved_issue

EMAIL, NAME, IP = "elin.ddileu@example.org", "Elin Ddileu-Prawf", "198.51.100.23"


def _person(engine: Engine, session: Session, settings: Settings) -> tuple[Subscriber, str]:
    """A confirmed web sign-up (IP kept) who was sent an issue and bounced; the IP hash."""
    add_sample_content(session)
    csv_import.import_file(session, DATA / "subscribers" / "good.csv")
    self_service.request(session, settings, Tokens(settings), EMAIL, NAME, Language.BOTH,
                         IP, now_utc(), client_ip=IP)
    sub = session.exec(select(Subscriber).where(Subscriber.email == EMAIL)).one()
    self_service.confirm(session, sub.id or 0)
    self_service.set_language(session, sub.id or 0, Language.CY)
    issue = approved_issue(session, settings)
    transport = MemoryTransport(script={EMAIL: SendResult(
        Outcome.PERMANENT, f"550 5.1.1 <{EMAIL}>: {NAME} unknown")})
    run.send_issue(engine, settings, issue.id or 0, lambda: transport)
    session.expire_all()
    return session.get(Subscriber, sub.id) or sub, Keyed(settings).ip(IP)


@pytest.fixture
def ip_settings(db_settings: Settings) -> Settings:
    """Settings with the client IP kept (hashed) in consent records."""
    return db_settings.model_copy(update={"consent_ip": True})


def test_export_person_holds_everything(engine: Engine, session: Session,
                                        ip_settings: Settings) -> None:
    sub, ip_hash = _person(engine, session, ip_settings)
    data = gdpr.export_person(session, sub.id or 0)
    assert data["subscriber"]["email"] == EMAIL and data["subscriber"]["name"] == NAME
    assert data["subscriber"]["state"] == "bounced"
    assert data["consent"]["source"] == "web" and data["consent"]["ip_hash"] == ip_hash
    assert data["consent"]["requested_at"] and data["consent"]["confirmed_at"]
    assert [h["language"] for h in data["language_history"]] == ["both", "cy"]
    assert [h["action"] for h in data["history"]] == [
        "subscribed", "confirmed", "language_changed", "bounced"]
    assert [(d["issue"], d["state"]) for d in data["deliveries"]] == [("2026-09", "failed")]
    assert EMAIL in data["deliveries"][0]["relay_reply"]


def _rows_mentioning(engine: Engine, needles: list[str]) -> list[str]:
    """Every (table.column) of every table in the database whose value contains a needle."""
    found = []
    with engine.connect() as conn:
        for name in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{name}"')).mappings():
                for column, value in row.items():
                    text = str(value).lower() if value is not None else ""
                    found += [f"{name}.{column}: {n}" for n in needles if n.lower() in text]
    return found


def test_erase_removes_the_person_from_every_table(engine: Engine, session: Session,
                                                   ip_settings: Settings) -> None:
    sub, ip_hash = _person(engine, session, ip_settings)
    sid = sub.id or 0
    message_id = session.exec(select(Delivery.message_id).where(
        Delivery.subscriber_id == sid)).one()
    assert message_id
    tokens = Tokens(ip_settings)
    needles = [EMAIL, NAME, "elin.ddileu", ip_hash, message_id.strip("<>")]
    assert len(_rows_mentioning(engine, needles)) >= 6  # the control: the scan finds them
    others_before = _rows_mentioning(engine, ["gwyn@example.org"])

    done = gdpr.erase(session, ip_settings, sid, "sian")
    session.commit()
    assert _rows_mentioning(engine, needles) == []
    assert _rows_mentioning(engine, ["gwyn@example.org"]) == others_before  # nobody else
    # What is kept is anonymous: the row, its language and dates, its history's actions.
    row = session.get(Subscriber, sid)
    assert row is not None and row.state is SubscriberState.ERASED and row.name == ""
    assert row.language is Language.CY
    assert done.deliveries_kept == 1 and done.events_kept == 5
    assert [e.action for e in history.events_of(session, sid)][-1] is SubscriberAction.ERASED
    assert session.exec(select(Delivery.state).where(Delivery.subscriber_id == sid)).one() \
        is DeliveryState.FAILED
    assert session.get(Suppression, Keyed(ip_settings).address(EMAIL)) is not None
    # Its links name nobody any more.
    token = tokens.make(Purpose.PREFERENCES, sid)
    with pytest.raises(LookupError):
        self_service.get(session, tokens.read(Purpose.PREFERENCES, token))
    with pytest.raises(gdpr.NotFound):
        gdpr.erase(session, ip_settings, sid, "sian")


def test_erase_skips_messages_not_yet_sent(session: Session, db_settings: Settings) -> None:
    add_sample_content(session)
    csv_import.import_file(session, DATA / "subscribers" / "good.csv")
    issue = approved_issue(session, db_settings)
    outbox.create_deliveries(session, issue.id or 0)
    gwyn = gdpr.find(session, "GWYN@example.org")
    gdpr.erase(session, db_settings, gwyn.id or 0, "cli")
    session.commit()
    states = session.exec(select(Delivery.state).where(
        Delivery.subscriber_id == gwyn.id)).all()
    assert states == [DeliveryState.SKIPPED]
    assert outbox.audience(session)["cy"] == 0


def test_a_suppressed_address_is_refused_by_import_until_the_person_signs_up(
        session: Session, db_settings: Settings, tmp_path: Path) -> None:
    keyed = Keyed(db_settings)
    good = DATA / "subscribers" / "good.csv"
    csv_import.import_file(session, good, keyed=keyed)
    gwyn = gdpr.find(session, "gwyn@example.org")
    gdpr.erase(session, db_settings, gwyn.id or 0, "cli")
    session.commit()
    again = tmp_path / "again.csv"
    again.write_text("email,name,language\nnew@example.org,New,en\nGwyn@Example.org,G,cy\n",
                     encoding="utf-8")
    with pytest.raises(csv_import.ImportInvalid) as refused:
        csv_import.import_file(session, again, keyed=keyed)
    assert [str(e) for e in refused.value.errors] == [
        f"{again}:3: email: gwyn@example.org: this address was erased at the person's request; "
        "only they can add it again, by signing up on the web"]
    session.rollback()
    report = csv_import.import_file(session, again, keyed=keyed, skip_invalid=True)
    assert report.added == 1 and len(report.errors) == 1

    # The person signs up: still suppressed until they confirm.
    self_service.request(session, db_settings, Tokens(db_settings), "gwyn@example.org", "Gwyn",
                         Language.CY, "203.0.113.7", now_utc())
    session.flush()
    assert gdpr.suppressed_at(session, db_settings, "gwyn@example.org") is not None
    back = gdpr.find(session, "gwyn@example.org")
    assert back.state is SubscriberState.PENDING and back.id != gwyn.id
    self_service.confirm(session, back.id or 0)
    session.commit()
    assert gdpr.suppressed_at(session, db_settings, "gwyn@example.org") is None
    assert csv_import.import_file(session, again, keyed=keyed).errors == []


def test_the_hash_is_keyed(db_settings: Settings) -> None:
    other = db_settings.model_copy(update={"secret_key": SecretStr(generate_secret_key())})
    a, b = Keyed(db_settings), Keyed(other)
    assert a.address("A@Example.org ") == a.address("a@example.org")
    assert a.address("a@example.org") != b.address("a@example.org")
    assert a.address("a@example.org") != a.ip("a@example.org")  # one key per purpose


IDN_FORMS = ("anna@xn--bcher-kva.example", "ANNA@XN--BCHER-KVA.EXAMPLE", "anna@bücher.example",
             "Anna@BÜCHER.example")


@pytest.mark.parametrize("signed_up_as", ["anna@bücher.example", "Anna@XN--bcher-kva.example"])
def test_a_person_is_found_and_erased_by_either_form_of_an_idn_address(
        session: Session, db_settings: Settings, signed_up_as: str) -> None:
    self_service.request(session, db_settings, Tokens(db_settings), signed_up_as, "Anna",
                         Language.EN, "203.0.113.9", now_utc())
    session.commit()
    [anna] = {gdpr.find(session, typed).id for typed in IDN_FORMS}
    assert gdpr.export_person(session, anna or 0)["subscriber"]["email"] == IDN_FORMS[0]
    keyed = Keyed(db_settings)
    gdpr.erase(session, db_settings, gdpr.find(session, "anna@BÜCHER.example").id or 0, "cli")
    session.commit()
    for typed in IDN_FORMS:
        with pytest.raises(gdpr.NotFound):
            gdpr.find(session, typed)
        assert gdpr.suppressed_at(session, db_settings, typed) is not None, typed
        assert suppression.is_suppressed(session, keyed, typed), typed
    assert suppression.suppressed(session, keyed, list(IDN_FORMS)) == set(IDN_FORMS)

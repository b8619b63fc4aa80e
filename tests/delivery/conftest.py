"""Fixtures for the delivery stage: an approved issue with an audience, and read-back helpers."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlmodel import Session, select

from digest.settings import Settings
from digest.store.models import (
    Delivery,
    Issue,
    IssueState,
    Language,
    Subscriber,
    SubscriberState,
)
from tests.factories import add_sample_content, add_subscribers, approved_issue

LEASE = timedelta(seconds=60)  # the default claim_lease_seconds


@pytest.fixture
def issue(session: Session, db_settings: Settings) -> Issue:
    """An approved issue (committed); 9 active subscribers, one unsubscribed, one pending."""
    add_sample_content(session)
    add_subscribers(session, per_language=3)
    session.add(Subscriber(email="gone@example.org", language=Language.EN,
                           state=SubscriberState.UNSUBSCRIBED))
    session.add(Subscriber(email="new@example.org", language=Language.CY,
                           state=SubscriberState.PENDING))
    return approved_issue(session, db_settings)


def state_of(session: Session, issue: Issue) -> IssueState:
    """The issue's state as stored now."""
    session.rollback()  # end the read snapshot: other connections have written
    session.expire_all()
    row = session.get(Issue, issue.id)
    assert row is not None
    return row.state


def rows(session: Session, issue: Issue) -> list[Delivery]:
    """The issue's outbox rows as stored now, in id order."""
    session.rollback()  # end the read snapshot: other connections have written
    session.expire_all()
    return list(session.exec(select(Delivery).where(Delivery.issue_id == issue.id)
                             .order_by(Delivery.id)))  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the client trusts it via smtp_ca_file)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(
                ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_path, key_path

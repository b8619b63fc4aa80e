"""Shared fixtures: settings, and real databases (SQLite file and the local PostgreSQL server).

A test that needs PostgreSQL is skipped with a reason when the server is unreachable; with
DIGEST_TEST_STRICT=1 (set by .ci/run) it fails instead, so CI never silently skips it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bench.measure import copy_database
from digest.settings import Settings
from digest.store.db import make_engine, upgrade
from tests.smtp_server import SMTPServer

pytest_plugins = ["tests.browser"]

PG_ADMIN_URL = os.environ.get("DIGEST_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_HOWTO = ("PostgreSQL not reachable at 127.0.0.1:5432 as user postgres; start it "
            "(e.g. `pg_ctlcluster 15 main start`) or point DIGEST_TEST_PG_URL at a server")
DATA = Path(__file__).parent / "data"
# The tests' own key: random, not a default anywhere (a demo value is refused outright).
TEST_SECRET_KEY = "2pf330Sw2WS2EXJ0aj-gvZ-_ztRc74H0j0X9qRk5valHxpfv8N9fZqfklzq1Sg8k"


def process_env(settings: dict[str, str]) -> dict[str, str]:
    """The environment for a `digest` subprocess: ours without DIGEST_* settings, plus
    `settings`, importing this checkout's code (not another one installed in the venv)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent), *filter(None, [env.get("PYTHONPATH")])])
    return {**env, **settings}


def skip_or_fail(reason: str) -> None:
    """Skip, or fail when DIGEST_TEST_STRICT is set (CI must run everything)."""
    if os.environ.get("DIGEST_TEST_STRICT"):
        pytest.fail(f"required by DIGEST_TEST_STRICT: {reason}")
    pytest.skip(reason)


def new_database(path: Path) -> Path:
    """An empty SQLite database at `path` (an empty file, as SQLite takes one), not yet
    migrated: only `digest db upgrade` and the demo create a database that is not there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings isolated from the developer's environment and .env, writing under tmp_path."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'digest.db'}",
        var_dir=tmp_path / "var",
        secret_key=SecretStr(TEST_SECRET_KEY),
        site_url="https://digest.example.org",
        sender_email="digest@example.org",
    )


@contextlib.contextmanager
def empty_pg_database(prefix: str = "digest_test") -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards (skipped or failed,
    per DIGEST_TEST_STRICT, when the server is not there)."""
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        admin.dispose()
        skip_or_fail(PG_HOWTO)
    try:
        yield sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    with empty_pg_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head once per test session, for tests to copy."""
    path = tmp_path_factory.mktemp("template") / "digest.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _truncate_all(engine: Engine) -> None:
    with engine.begin() as conn:
        names = [t for t in sa.inspect(conn).get_table_names() if t != "alembic_version"]
        conn.execute(sa.text(
            "TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Settings pointing at a migrated, empty database: SQLite, then PostgreSQL."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_database")
        settings = settings.model_copy(update={"database_url": url})
        engine = make_engine(url)
        _truncate_all(engine)
        engine.dispose()
    else:  # a copy of the migrated template: the same schema as upgrade(), 0.1 s sooner
        target = sa.engine.make_url(settings.database_url).database
        assert target is not None
        copy_database(request.getfixturevalue("sqlite_template"), Path(target))
    return settings


@pytest.fixture
def engine(db_settings: Settings) -> Iterator[Engine]:
    """An engine on the parametrised database."""
    eng = make_engine(db_settings.database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session; tests commit when they mean to."""
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A real aiosmtpd server on loopback that records messages (see tests/smtp_server.py)."""
    server = SMTPServer().start()
    yield server
    server.stop()


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

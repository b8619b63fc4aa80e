"""Web fixtures: the app over real HTTP (Starlette's TestClient) on both databases, holding
the demo content and subscribers and the planned September 2026 issue."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest import demo
from digest.audience import csv_import
from digest.content import files, sync
from digest.delivery.transports.memory import MemoryTransport
from digest.issue import service
from digest.settings import REPO_ROOT, Settings
from digest.store.db import make_engine
from digest.web.app import create_app
from digest.web.auth import hash_password
from tests.conftest import TEST_SECRET_KEY, process_env
from tests.factories import AS_OF
from tests.smtp_server import SMTPServer, free_port
from tests.web.client import PASSWORD, SITE, Clock

Web = tuple[TestClient, MemoryTransport, Settings]
MakeWeb = Callable[..., Web]


@pytest.fixture
def web_settings(engine: Engine, session: Session, db_settings: Settings) -> Settings:
    """Settings with one editor (sian), on a database with the demo data planned."""
    settings = db_settings.model_copy(update={
        "editor_accounts": f"sian:{hash_password(PASSWORD)}"})
    sync.upsert(session, files.load_dir(REPO_ROOT / "content"), settings.tz)
    csv_import.import_file(session, REPO_ROOT / "subscribers" / "example.csv")
    service.plan(session, settings, AS_OF)
    session.commit()
    return settings


@pytest.fixture
def make_web(engine: Engine, web_settings: Settings) -> Iterator[MakeWeb]:
    """Build clients: `make_web(clock=..., client=("192.0.2.7", 5000), **settings_changes)`."""
    clients: list[TestClient] = []

    def make(clock: Clock | None = None, client: tuple[str, int] = ("192.0.2.1", 50000),
             raise_server_exceptions: bool = True, **changes: Any) -> Web:
        settings = web_settings.model_copy(update=changes)
        transport = MemoryTransport()
        app = create_app(settings, engine, lambda: transport,
                         **({"clock": clock} if clock else {}))
        test_client = TestClient(app, base_url=SITE, follow_redirects=False, client=client,
                                 raise_server_exceptions=raise_server_exceptions)
        clients.append(test_client.__enter__())
        return test_client, transport, settings

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def web(make_web: MakeWeb) -> Web:
    """The app with the default settings."""
    return make_web()


@dataclass
class Served:
    """A running `digest serve` and what it works on."""

    url: str
    settings: Settings
    smtp: SMTPServer


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "digest serve exited"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("digest serve did not start")


@pytest.fixture
def served(settings: Settings, smtp_server: SMTPServer, tmp_path: Path) -> Iterator[Served]:
    """The demo data planned for September 2026, served by a real `digest serve` on loopback."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = settings.model_copy(update={"site_url": url})
    engine = make_engine(settings.database_url)
    demo.prepare(engine, settings, AS_OF)
    engine.dispose()
    env = process_env({
        "DIGEST_DATABASE_URL": settings.database_url, "DIGEST_SITE_URL": url,
        "DIGEST_SECRET_KEY": TEST_SECRET_KEY, "DIGEST_VAR_DIR": str(tmp_path / "var"),
        "DIGEST_TRANSPORT": "smtp", "DIGEST_SMTP_HOST": smtp_server.host,
        "DIGEST_SMTP_PORT": str(smtp_server.port),
        "DIGEST_EDITOR_ACCOUNTS": f"sian:{hash_password(PASSWORD)}",
    })
    proc = subprocess.Popen([sys.executable, "-m", "digest.cli", "serve", "--port", str(port)],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        yield Served(url, settings, smtp_server)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

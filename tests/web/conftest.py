"""Web fixtures: the app over real HTTP (Starlette's TestClient) on both databases, holding
the demo content and subscribers and the planned September 2026 issue."""

from __future__ import annotations

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
from tests.factories import AS_OF
from tests.smtp_server import SMTPServer, free_port
from tests.web.client import PASSWORD, SITE, Clock
from tests.web.serve import digest_serve

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


@pytest.fixture
def served(settings: Settings, smtp_server: SMTPServer, tmp_path: Path) -> Iterator[Served]:
    """The demo data planned for September 2026, served by a real `digest serve` on loopback."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = settings.model_copy(update={"site_url": url})
    engine = make_engine(settings.database_url)
    demo.prepare(engine, settings, AS_OF)
    engine.dispose()
    with digest_serve(settings.database_url, tmp_path, port=port, env={
            "DIGEST_TRANSPORT": "smtp", "DIGEST_SMTP_HOST": smtp_server.host,
            "DIGEST_SMTP_PORT": str(smtp_server.port),
            "DIGEST_EDITOR_ACCOUNTS": f"sian:{hash_password(PASSWORD)}"}):
        yield Served(url, settings, smtp_server)

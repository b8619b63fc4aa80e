"""The access log of a real `digest serve` names token pages without their tokens."""

from __future__ import annotations

from pathlib import Path

import httpx2

from digest.settings import Settings
from digest.store.db import make_engine, upgrade
from digest.tokens import Purpose, Tokens
from digest.web.logs import redact
from tests.web.serve import digest_serve


def test_redact_hides_tokens_only() -> None:
    assert redact("/u/17.AbC-d_e") == "/u/[token]"
    assert redact("/p/17.x?lang=cy") == "/p/[token]?lang=cy"
    assert redact("/confirm/1.2.3") == "/confirm/[token]"
    assert redact("/privacy/1.aw-yxA.QepLn/export") == "/privacy/[token]/export"
    assert redact("/reviews/u") == "/reviews/u" and redact("/unsubscribe") == "/unsubscribe"


def test_serve_logs_requests_without_tokens(settings: Settings, tmp_path: Path) -> None:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    token = Tokens(settings).make(Purpose.UNSUBSCRIBE, 7)
    with digest_serve(settings.database_url, tmp_path, capture=True) as running:
        assert httpx2.get(f"{running.url}/u/{token}").status_code == 404  # nobody 7 here
        assert httpx2.get(f"{running.url}/subscribe").status_code == 200
    log = running.log
    assert '"GET /u/[token] HTTP/1.1" 404' in log and '"GET /subscribe HTTP/1.1" 200' in log
    assert token not in log and token.split(".")[1] not in log

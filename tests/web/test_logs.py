"""The access log of a real `digest serve` names token pages without their tokens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx2

from digest.settings import Settings
from digest.store.db import make_engine, upgrade
from digest.tokens import Purpose, Tokens
from digest.web.logs import redact
from tests.conftest import TEST_SECRET_KEY
from tests.smtp_server import free_port
from tests.web.conftest import wait_for_port


def test_redact_hides_tokens_only() -> None:
    assert redact("/u/17.AbC-d_e") == "/u/[token]"
    assert redact("/p/17.x?lang=cy") == "/p/[token]?lang=cy"
    assert redact("/confirm/1.2.3") == "/confirm/[token]"
    assert redact("/reviews/u") == "/reviews/u" and redact("/unsubscribe") == "/unsubscribe"


def test_serve_logs_requests_without_tokens(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env.update({"DIGEST_DATABASE_URL": settings.database_url, "DIGEST_SITE_URL": url,
                "DIGEST_SECRET_KEY": TEST_SECRET_KEY, "DIGEST_VAR_DIR": str(tmp_path / "var")})
    proc = subprocess.Popen([sys.executable, "-m", "digest.cli", "serve", "--port", str(port)],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    token = Tokens(settings).make(Purpose.UNSUBSCRIBE, 7)
    try:
        wait_for_port(port, proc)
        assert httpx2.get(f"{url}/u/{token}").status_code == 404  # nobody 7 here
        assert httpx2.get(f"{url}/subscribe").status_code == 200
    finally:
        proc.terminate()
        log = proc.communicate(timeout=10)[0].decode()
    assert '"GET /u/[token] HTTP/1.1" 404' in log and '"GET /subscribe HTTP/1.1" 200' in log
    assert token not in log and token.split(".")[1] not in log

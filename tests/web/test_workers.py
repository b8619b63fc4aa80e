"""`digest serve --workers 2`: two server processes answer on one port, from one database,
and share every limit through it (the sign-up throttle here)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from digest.settings import Settings
from tests.conftest import TEST_SECRET_KEY, process_env
from tests.smtp_server import free_port


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "digest serve exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("digest serve did not listen")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _sign_up(port: int, email: str) -> int:
    """POST the sign-up form on a new connection; the status."""
    body = urllib.parse.urlencode({"email": email, "language": "cy"}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{port}/subscribe", data=body), timeout=10) as got:
            return int(got.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_two_workers_serve(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = process_env({"DIGEST_DATABASE_URL": settings.database_url,
                       "DIGEST_SECRET_KEY": TEST_SECRET_KEY,
                       "DIGEST_SITE_URL": f"http://127.0.0.1:{port}",
                       "DIGEST_SIGNUP_LIMIT_PER_HOUR": "3",
                       "DIGEST_VAR_DIR": str(tmp_path / "var")})
    proc = subprocess.Popen([sys.executable, "-m", "digest.cli", "serve", "--port", str(port),
                             "--workers", "2"], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        deadline = time.monotonic() + 30
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_children(proc.pid)) >= 2  # the workers (and uvicorn's own helper, if any)
        for _ in range(4):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/archive", timeout=10) as got:
                assert got.status == 200
        # Eight sign-ups of one address, each on its own connection (so both workers answer
        # some): the per-address limit of 3 holds across them, as the counts are in the
        # database; per-process counters would have let up to 6 through.
        answers = [_sign_up(port, "gwen@example.org") for _ in range(8)]
        assert answers.count(200) == 3 and answers.count(429) == 5, answers
    finally:
        proc.terminate()
        proc.wait(timeout=30)

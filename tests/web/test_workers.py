"""`digest serve --workers 2`: two server processes answer on one port, from one database.

That a sign-up limit holds across the workers needs the database-backed throttle (another
branch, digest/audience/throttle.py); its test belongs with it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from digest.settings import Settings
from tests.conftest import process_env
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


def test_two_workers_serve(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = process_env({"DIGEST_DATABASE_URL": settings.database_url,
                       "DIGEST_SECRET_KEY": "test-secret",
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
    finally:
        proc.terminate()
        proc.wait(timeout=30)

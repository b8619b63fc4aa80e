"""`digest serve --workers 2`: two server processes answer on one port, from one database,
and share every limit through it (the sign-up throttle here)."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from digest.settings import Settings
from tests.conftest import new_database
from tests.web.serve import digest_serve


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
    new_database(tmp_path / "digest.db")  # settings.database_url's: the workers migrate it
    with digest_serve(settings.database_url, tmp_path, args=["--workers", "2"],
                      env={"DIGEST_SIGNUP_LIMIT_PER_HOUR": "3"}) as running:
        port, proc = running.port, running.proc
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

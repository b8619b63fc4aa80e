"""`digest serve` as deployed: forwarded headers are believed only from the configured proxy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

from digest.settings import Settings
from digest.store.db import make_engine, upgrade
from digest.web.auth import hash_password
from tests.web.serve import digest_serve


@contextmanager
def serving(settings: Settings, tmp_path: Path, **env_extra: str) -> Iterator[str]:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    with digest_serve(settings.database_url, tmp_path, env={
            "DIGEST_EDITOR_ACCOUNTS": f"sian:{hash_password('pw')}", **env_extra}) as running:
        yield running.url


def failed_logins(url: str, forwarded_for: list[str]) -> list[int]:
    """One failed login per address, each under another account name."""
    codes = []
    with httpx2.Client(base_url=url) as client:
        for n, address in enumerate(forwarded_for):
            page = client.get("/editor/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf is not None
            codes.append(client.post("/editor/login", headers={"X-Forwarded-For": address},
                                     data={"name": f"guess{n}", "password": "x",
                                           "csrf": csrf.group(1)}).status_code)
    return codes


def test_forwarded_for_is_ignored_unless_from_a_configured_proxy(settings: Settings,
                                                                 tmp_path: Path) -> None:
    spoofed = [f"203.0.113.{n}" for n in range(6)]  # a new "address" for every attempt
    with serving(settings, tmp_path) as url:
        assert failed_logins(url, spoofed) == [401] * 5 + [429]  # all counted as 127.0.0.1
    behind_proxy = settings.model_copy(update={
        "database_url": f"sqlite:///{tmp_path / 'proxied.db'}"})
    with serving(behind_proxy, tmp_path, DIGEST_FORWARDED_ALLOW_IPS="127.0.0.1") as url:
        assert failed_logins(url, spoofed) == [401] * 6  # the proxy's word is taken
        assert failed_logins(url, ["198.51.100.7"] * 6)[-1] == 429

"""A real `digest serve` in a child process on loopback, for the tests that need one."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import TEST_SECRET_KEY, process_env
from tests.smtp_server import free_port


@dataclass
class Running:
    """A started `digest serve`: its address, its process, and (with `capture`) its output
    once it has stopped."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: str = ""


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Return once `proc` accepts connections on `port`; fail if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "digest serve exited"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("digest serve did not start")


@contextmanager
def digest_serve(database_url: str, workdir: Path, *, port: int | None = None,
                 args: Sequence[str] = (), capture: bool = False,
                 env: Mapping[str, str] | None = None) -> Iterator[Running]:
    """`digest serve` over `database_url` (already migrated) with a test key, its site URL
    its own loopback address, `env` added (DIGEST_* names), stopped on exit."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    environ = process_env({"DIGEST_DATABASE_URL": database_url, "DIGEST_SITE_URL": url,
                           "DIGEST_SECRET_KEY": TEST_SECRET_KEY,
                           "DIGEST_VAR_DIR": str(workdir / "var"), **(env or {})})
    output = subprocess.PIPE if capture else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "digest.cli", "serve", "--port", str(port), *args],
        env=environ, cwd=workdir, stdout=output,
        stderr=subprocess.STDOUT if capture else subprocess.DEVNULL)
    running = Running(url, port, proc)
    try:
        wait_for_port(port, proc)
        yield running
    finally:
        proc.terminate()
        if capture:
            running.log = proc.communicate(timeout=30)[0].decode()
        else:
            proc.wait(timeout=30)

"""Running the console script in-process, for the CLI tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from digest.cli import main
from tests.conftest import TEST_SECRET_KEY


def digest(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the console script; its exit code, stdout and stderr."""
    try:
        main(list(args))
        code: object = 0
    except SystemExit as done:
        code = done.code
    captured = capsys.readouterr()
    return (code if isinstance(code, int) else 0), captured.out, captured.err


def bare_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`tmp_path` as the current folder, with no DIGEST_* setting but a good secret key."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("DIGEST_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DIGEST_SECRET_KEY", TEST_SECRET_KEY)
    return tmp_path

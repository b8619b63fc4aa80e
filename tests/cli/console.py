"""Running the console script in-process, for the CLI tests."""

from __future__ import annotations

import pytest

from digest.cli import main


def digest(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the console script; its exit code, stdout and stderr."""
    try:
        main(list(args))
        code: object = 0
    except SystemExit as done:
        code = done.code
    captured = capsys.readouterr()
    return (code if isinstance(code, int) else 0), captured.out, captured.err

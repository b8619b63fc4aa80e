#!/usr/bin/env python3
"""Newcomer entry point: `python3 dev.py demo` or `python3 dev.py test`.

Creates ./.venv with the project and its dev tools (re-installing when pyproject.toml
changes), then runs the demo or the whole check suite (ruff, mypy, pytest).
Needs nothing but Python 3.11+.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def ensure_venv() -> None:
    """Create the virtual environment and install the project if needed."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("Creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("Installing digest and its tools into .venv (first run only) ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", ".[dev]"], check=True, cwd=ROOT)
    STAMP.write_text(wanted)


def ensure_node_tools() -> None:
    """Install the test-only Node tools (the MJML validator, axe-core) if npm is available."""
    stamp = ROOT / "node_modules" / ".installed"
    wanted = hashlib.sha256((ROOT / "package-lock.json").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    npm = shutil.which("npm")
    if npm is None:
        print("npm not found: the MJML validation and axe-core tests will be skipped "
              "(install Node.js)")
        return
    print("Installing the MJML validator and axe-core with npm ci ...", flush=True)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], check=True, cwd=ROOT)
    stamp.write_text(wanted)


def run(*cmd: str) -> int:
    """Run a command from the venv in the repo root and return its exit code."""
    print("$", " ".join(cmd), flush=True)
    return subprocess.run([str(BIN / cmd[0]), *cmd[1:]], cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    """Dispatch `demo` or `test` (extra arguments go to digest demo / pytest)."""
    if not argv or argv[0] not in {"demo", "test"}:
        print(__doc__)
        return 2
    ensure_venv()
    if argv[0] == "demo":
        return run("digest", "demo", *argv[1:])
    ensure_node_tools()
    for check in (("ruff", "check", "."), ("mypy",)):
        if code := run(*check):
            return code
    return run("python", "-m", "pytest", *parallel(argv[1:]), *argv[1:])


def parallel(args: list[str]) -> list[str]:
    """`-n N` for pytest-xdist, one process per core up to 4, unless `args` choose already.

    Each process has its own PostgreSQL database, SMTP, IMAP and web servers on free ports;
    more than 4 would mostly add PostgreSQL connections and browser start-ups.
    """
    if any(a in ("-n", "--numprocesses", "no:xdist") or a.startswith(("-n", "--numprocesses="))
           for a in args):
        return []
    return ["-n", str(max(1, min(4, os.cpu_count() or 1)))]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

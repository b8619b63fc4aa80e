"""What the commands write when standard output is not a UTF-8 terminal: a locale in ASCII or
Latin-1 (which has no ŵ or ŷ) gets every human line whole, with escapes for what it lacks,
and CSV and JSON are UTF-8 whatever the locale, byte for byte what a file gets. Real
processes: the streams' encoding is fixed when Python starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET_KEY, process_env


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the demo's subscribers (Siân Evans, Gwenllïan Morgan...) and its sent
    issue 2026-09."""
    where = tmp_path_factory.mktemp("streams")
    done = subprocess.run([sys.executable, "-m", "digest.cli", "demo"], cwd=where,
                          env=process_env({"DIGEST_SECRET_KEY": TEST_SECRET_KEY}),
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return where


def digest(where: Path, encoding: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run `digest ARGS` with standard output and error in `encoding` (not a terminal)."""
    env = process_env({"DIGEST_SECRET_KEY": TEST_SECRET_KEY, "PYTHONIOENCODING": encoding,
                       "PYTHONUTF8": "0", "NO_COLOR": "1"})
    return subprocess.run([sys.executable, "-m", "digest.cli", *args], cwd=where, env=env,
                          capture_output=True, timeout=120)


def test_human_output_is_whole_in_a_narrow_encoding(demo_dir: Path) -> None:
    """These were internal errors (exit 70, UnicodeEncodeError) after half their output."""
    for encoding, args in (("ascii", ["issue", "list"]), ("ascii", ["issue", "status", "2026-09"]),
                           ("ascii", ["report", "issue", "2026-09"]),
                           ("latin-1", ["report", "year", "2026"])):
        done = digest(demo_dir, encoding, *args)
        assert (done.returncode, done.stderr) == (0, b""), (args, done.stderr)
        done.stdout.decode(encoding)  # nothing outside it was written
    for encoding in ("ascii", "latin-1"):
        shown = digest(demo_dir, encoding, "issue", "show", "2026-09")
        assert (shown.returncode, shown.stderr) == (0, b"")
        assert "Medi 2026 \\u2014 " in shown.stdout.decode(encoding)  # the subject's em dash
    person = digest(demo_dir, "ascii", "subscribers", "show", "sian.evans@example.org")
    assert (person.returncode, person.stderr) == (0, b"")
    assert "Si\\xe2n Evans" in person.stdout.decode("ascii")


def test_an_error_line_in_a_narrow_encoding_is_one_line(demo_dir: Path) -> None:
    done = digest(demo_dir, "ascii", "subscribers", "show", "gŵyn@example.org")
    assert done.returncode == 1 and done.stdout == b""
    assert done.stderr.decode("ascii") == (
        "error: no subscriber with the address g\\u0175yn@example.org\n")


def test_csv_and_json_are_utf8_whatever_the_locale(demo_dir: Path) -> None:
    encoding = "ascii"
    exported = digest(demo_dir, "latin-1", "subscribers", "export")
    assert (exported.returncode, exported.stderr) == (0, b"")
    to_file = digest(demo_dir, "utf-8", "subscribers", "export", "list.csv")
    assert to_file.returncode == 0
    assert exported.stdout == (demo_dir / "list.csv").read_bytes()
    assert "Siân Evans" in exported.stdout.decode("utf-8")

    person = digest(demo_dir, encoding, "subscribers", "export-person", "sian.evans@example.org")
    assert (person.returncode, person.stderr) == (0, b"")
    assert json.loads(person.stdout.decode("utf-8"))["subscriber"]["name"] == "Siân Evans"

    for args in (["issue", "status", "2026-09", "--json"],
                 ["report", "issue", "2026-09", "--json"]):
        done = digest(demo_dir, encoding, *args)
        assert (done.returncode, done.stderr) == (0, b""), (args, done.stderr)
        json.loads(done.stdout.decode("utf-8"))
    csv = digest(demo_dir, encoding, "report", "year", "2026", "--csv")
    assert csv.returncode == 0 and csv.stdout.startswith(b"table,key,cy,en,both,total")


def test_a_reader_that_goes_away_is_no_error_for_a_listing(demo_dir: Path) -> None:
    """`digest issue show 2026-09 | head -0`: rich exited 1 (a refusal, by the exit codes),
    saying nothing; the listing ends quietly, as its own exit code says."""
    env = process_env({"DIGEST_SECRET_KEY": TEST_SECRET_KEY})
    proc = subprocess.Popen([sys.executable, "-m", "digest.cli", "issue", "show", "2026-09"],
                            cwd=demo_dir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    assert proc.wait(timeout=120) == 0
    assert proc.stderr.read() == b""

"""Every file a command or a setting names is a regular file it may read (a folder where a
folder is meant): a FIFO, a device, a folder, a missing file, a dangling link or an
unreadable file is one line naming the path and what is wrong, with nothing changed. Through
`digest.cli.main`; a FIFO that blocked is run in a subprocess with a timeout, so that the
test cannot hang."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from digest.settings import REPO_ROOT
from tests.cli.console import digest
from tests.cli.test_bad_input import approved, status, untouched, workdir
from tests.conftest import process_env
from tests.nobody import digest_as_nobody, shared_folder

__all__ = ["approved", "workdir"]  # the fixtures, used by name

GUARD = 120  # seconds a subprocess may take before the test fails instead of hanging


def fifo(path: Path) -> str:
    os.mkfifo(path)
    return "is a FIFO (named pipe), not a regular file"


def folder(path: Path) -> str:
    path.mkdir()
    return "is a folder, not a file"


def missing(path: Path) -> str:
    return "no such file or folder"


def dangling(path: Path) -> str:
    path.symlink_to("gone.csv")
    return "is a symbolic link to gone.csv, which does not exist"


def unreadable(path: Path) -> str:
    path.write_text("email,name,language\n", encoding="utf-8")
    path.chmod(0)
    return "cannot be read: permission denied"


BAD_FILES = [fifo, folder, missing, dangling]  # unreadable: as_nobody, below


def run(workdir: Path, *args: str, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """`digest ARGS` in a subprocess, in `workdir`, with this test's DIGEST_* settings."""
    settings = {k: v for k, v in os.environ.items() if k.startswith("DIGEST_")}
    return subprocess.run([sys.executable, "-m", "digest.cli", *args], cwd=workdir,
                          env=process_env({**settings, **(env or {})}), capture_output=True,
                          text=True, timeout=GUARD, stdin=subprocess.DEVNULL, check=False)


def test_importing_a_fifo_is_refused_at_once(workdir: Path) -> None:
    """It blocked for ever, waiting for a writer."""
    os.mkfifo(workdir / "new.csv")
    done = run(workdir, "subscribers", "import", "new.csv")
    assert (done.returncode, done.stderr) == (
        1, "error: new.csv: is a FIFO (named pipe), not a regular file\n"), done.stdout
    assert untouched(workdir)  # refused before the database was opened


@pytest.mark.timeout(GUARD)
@pytest.mark.parametrize("make", BAD_FILES)
def test_importing_what_is_not_a_readable_file_is_one_line(
        workdir: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], str]) -> None:
    says = make(workdir / "new.csv")
    code, out, err = digest(capsys, "subscribers", "import", "new.csv")
    assert (code, err) == (1, f"error: new.csv: {says}\n"), out
    assert untouched(workdir)


@pytest.mark.parametrize(("name", "args", "code", "says"), [
    ("new.csv", ("subscribers", "import", "new.csv"), 1, "error: new.csv: {says}\n"),
    (".env", ("issue", "list"), 78, "error: .env: {says}\n"),
])
def test_a_file_this_user_may_not_read_is_one_line(
        workdir: Path, name: str, args: tuple[str, ...], code: int, says: str) -> None:
    """Run as `nobody` (tests.nobody): root reads a file whatever its mode."""
    with shared_folder() as folder:
        problem = unreadable(folder / name)
        got = digest_as_nobody(folder, *args)
    assert got[0] == code and got[2] == says.format(says=problem), got


def test_importing_a_device_is_refused_not_read_for_ever(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for device in ("/dev/zero", "/dev/null"):
        code, _, err = digest(capsys, "subscribers", "import", device)
        assert (code, err) == (1, f"error: {device}: is a character device, not a regular "
                               "file\n")
    assert untouched(workdir)


@pytest.mark.timeout(GUARD)
@pytest.mark.parametrize(("make", "says"), [
    (lambda p: p.write_text("x", encoding="utf-8"), "is a file, not a folder"),
    (os.mkfifo, "is a FIFO (named pipe), not a folder"),
    (lambda p: None, "no such file or folder"),
    (lambda p: p.symlink_to("gone"), "is a symbolic link to gone, which does not exist"),
])
def test_a_content_folder_that_is_no_folder_is_one_line(
        workdir: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], object],
        says: str) -> None:
    make(workdir / "content")
    code, _, err = digest(capsys, "content", "sync", "content")
    assert code == 1 and err.splitlines() == [
        f"content: {says}", "error: 1 problem(s); nothing was applied"], err
    assert untouched(workdir)


@pytest.mark.timeout(GUARD)
def test_a_content_file_that_is_a_fifo_a_folder_or_a_dangling_link_is_named(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = workdir / "content"
    (content / "reviews").mkdir(parents=True)
    for path in (REPO_ROOT / "content" / "reviews").glob("*.md"):
        (content / "reviews" / path.name).write_bytes(path.read_bytes())
    os.mkfifo(content / "reviews" / "piped.cy.md")
    (content / "reviews" / "folder.en.md").mkdir()
    (content / "reviews" / "dangling.cy.md").symlink_to("gone.cy.md")
    code, _, err = digest(capsys, "content", "sync", "content")
    lines = err.splitlines()
    assert code == 1 and lines[-1] == "error: 3 problem(s); nothing was applied", err
    assert sorted(lines[:-1]) == [
        "content/reviews/dangling.cy.md: is a symbolic link to gone.cy.md, which does not "
        "exist",
        "content/reviews/folder.en.md: is a folder, not a file",
        "content/reviews/piped.cy.md: is a FIFO (named pipe), not a regular file"]
    assert untouched(workdir)


@pytest.mark.timeout(GUARD)
@pytest.mark.parametrize("make", [fifo, folder, missing, dangling, "device"])
def test_a_dkim_key_that_is_not_a_readable_file_refuses_the_send(
        approved: None, workdir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, make: Callable[[Path], str] | str) -> None:
    key = workdir / "dkim.pem"
    if callable(make):
        says = make(key)
    else:
        key, says = Path("/dev/zero"), "is a character device, not a regular file"
    monkeypatch.setenv("DIGEST_DKIM_SELECTOR", "s")
    monkeypatch.setenv("DIGEST_DKIM_PRIVATE_KEY_PATH", str(key))
    code, _, err = digest(capsys, "issue", "send", "2026-09")
    assert (code, err) == (78, f"error: setting DIGEST_DKIM_PRIVATE_KEY_PATH: {key}: {says}\n")
    monkeypatch.delenv("DIGEST_DKIM_SELECTOR")  # the key alone is refused at load: unset both
    monkeypatch.delenv("DIGEST_DKIM_PRIVATE_KEY_PATH")
    after = status(capsys)
    assert after["state"] == "approved" and after["counts"] == {}, after  # no outbox rows


def test_a_huge_dkim_key_is_refused_before_it_is_read(
        approved: None, workdir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    with (workdir / "dkim.pem").open("wb") as fh:
        fh.truncate(10 * 1024 * 1024 * 1024)  # sparse: 10 GB that take no disk
    monkeypatch.setenv("DIGEST_DKIM_SELECTOR", "s")
    monkeypatch.setenv("DIGEST_DKIM_PRIVATE_KEY_PATH", str(workdir / "dkim.pem"))
    code, _, err = digest(capsys, "issue", "send", "2026-09", "--dry-run")
    assert code == 78 and err.startswith(
        f"error: setting DIGEST_DKIM_PRIVATE_KEY_PATH: {workdir / 'dkim.pem'}: is "
        "10,737,418,240 bytes; at most "), err


@pytest.mark.timeout(GUARD)
@pytest.mark.parametrize("make", [fifo, folder, missing, dangling])
def test_an_smtp_ca_file_that_is_not_a_readable_file_refuses_the_send(
        approved: None, workdir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, make: Callable[[Path], str]) -> None:
    says = make(workdir / "ca.pem")
    for name, value in [("TRANSPORT", "smtp"), ("SMTP_SECURITY", "starttls"),
                        ("SMTP_CA_FILE", str(workdir / "ca.pem"))]:
        monkeypatch.setenv(f"DIGEST_{name}", value)
    code, _, err = digest(capsys, "issue", "send", "2026-09")
    assert code == 78 and err.startswith(  # at load, before the send (or anything) starts
        f"error: setting DIGEST_SMTP_CA_FILE: {workdir / 'ca.pem'}: {says} (got "), err
    monkeypatch.delenv("DIGEST_SMTP_CA_FILE")
    assert status(capsys)["counts"] == {}


def test_a_dot_env_that_is_a_fifo_is_one_line(workdir: Path) -> None:
    """pydantic-settings would have opened it (and waited); it is refused first."""
    os.mkfifo(workdir / ".env")
    done = run(workdir, "issue", "list")
    assert (done.returncode, done.stderr) == (
        78, "error: .env: is a FIFO (named pipe), not a regular file\n"), done.stdout
    assert untouched(workdir)


@pytest.mark.parametrize("make", [folder, dangling])
def test_a_dot_env_that_is_not_a_readable_file_is_one_line(
        workdir: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], str]) -> None:
    says = make(workdir / ".env")
    code, _, err = digest(capsys, "issue", "list")
    assert (code, err) == (78, f"error: .env: {says}\n")
    assert untouched(workdir)


def test_the_demos_secret_key_file_as_a_fifo_is_one_line(workdir: Path) -> None:
    (workdir / "var").mkdir()
    os.mkfifo(workdir / "var" / "secret-key")
    done = run(workdir, "demo", env={"DIGEST_SECRET_KEY": ""})
    assert (done.returncode, done.stderr) == (
        78, "error: var/secret-key: is a FIFO (named pipe), not a regular file\n"), done.stdout


@pytest.mark.parametrize("make", [folder, dangling])
def test_the_demos_secret_key_file_that_is_no_file_is_one_line(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        make: Callable[[Path], str]) -> None:
    monkeypatch.delenv("DIGEST_SECRET_KEY")
    (workdir / "var").mkdir()
    says = make(workdir / "var" / "secret-key")
    code, _, err = digest(capsys, "demo")
    assert (code, err) == (78, f"error: var/secret-key: {says}\n")


@pytest.mark.timeout(GUARD)
@pytest.mark.parametrize("make", [fifo, folder, dangling])
def test_an_imap_ca_file_that_is_not_a_readable_file_is_one_line(
        workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        make: Callable[[Path], str]) -> None:
    says = make(workdir / "ca.pem")
    for name, value in [("HOST", "127.0.0.1"), ("USERNAME", "u"), ("PASSWORD", "p"),
                        ("CA_FILE", str(workdir / "ca.pem"))]:
        monkeypatch.setenv(f"DIGEST_BOUNCE_IMAP_{name}", value)
    code, _, err = digest(capsys, "bounces", "poll")
    assert code == 78 and err.startswith(  # at load, before connecting
        f"error: setting DIGEST_BOUNCE_IMAP_CA_FILE: {workdir / 'ca.pem'}: {says} (got "), err

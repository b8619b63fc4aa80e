"""digest.paths: every file or folder a person names is checked there, without blocking."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest

from digest import paths
from tests.nobody import as_nobody, shared_folder


def problem(path: Path, **kwargs: int) -> str:
    """The phrase open_regular refuses `path` with (it must refuse it)."""
    with pytest.raises(paths.UnusableFile) as refused:
        paths.open_regular(path, **kwargs).close()
    assert refused.value.filename == str(path)
    assert str(refused.value) == f"{path}: {refused.value.strerror}"
    return str(refused.value.strerror)


def test_a_regular_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"hello")
    assert paths.read_regular(tmp_path / "a") == b"hello"
    assert paths.read_regular(tmp_path / "a", max_bytes=5) == b"hello"
    assert paths.check_file(tmp_path / "a") == 5
    (tmp_path / "link").symlink_to("a")  # a link to a file is that file
    assert paths.read_regular(tmp_path / "link") == b"hello"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")  # no writer: a blocking open would never return
    assert problem(tmp_path / "pipe") == "is a FIFO (named pipe), not a regular file"


def test_devices_are_refused() -> None:
    assert problem(Path("/dev/zero")) == "is a character device, not a regular file"
    assert problem(Path("/dev/null")) == "is a character device, not a regular file"


def test_a_socket_is_refused(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s"))
        assert problem(tmp_path / "s") == "is a socket, not a regular file"


def test_a_folder_is_not_a_file_and_a_file_is_not_a_folder(tmp_path: Path) -> None:
    assert problem(tmp_path) == "is a folder, not a file"
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(paths.UnusableFile, match=r"is a file, not a folder$"):
        paths.check_folder(tmp_path / "f")
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(paths.UnusableFile, match=r"is a FIFO \(named pipe\), not a folder$"):
        paths.check_folder(tmp_path / "pipe")
    paths.check_folder(tmp_path)


def test_missing_and_dangling(tmp_path: Path) -> None:
    assert problem(tmp_path / "nope") == "no such file or folder"
    (tmp_path / "link").symlink_to("gone")
    assert problem(tmp_path / "link") == "is a symbolic link to gone, which does not exist"
    (tmp_path / "f").write_bytes(b"")
    assert problem(tmp_path / "f" / "x") == \
        "no such file or folder (a part of the path is a file)"
    with pytest.raises(FileNotFoundError) as refused:  # a MissingFile is one, for callers
        paths.check_folder(tmp_path / "link")
    assert isinstance(refused.value, paths.UnusableFile)
    assert refused.value.errno == errno.ENOENT


def test_an_unreadable_file_or_folder() -> None:
    with shared_folder() as folder:
        (folder / "f").write_bytes(b"x")
        (folder / "f").chmod(0)
        (folder / "d").mkdir()
        (folder / "d").chmod(0)

        def refusals() -> tuple[str, str]:
            with pytest.raises(paths.UnusableFile) as refused:
                paths.check_folder(folder / "d")
            return problem(folder / "f"), str(refused.value.strerror)

        try:
            assert as_nobody(refusals) == ("cannot be read: permission denied",) * 2
        finally:
            (folder / "d").chmod(0o700)


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 11)
    assert problem(tmp_path / "big", max_bytes=10) == "is 11 bytes; at most 10 are read"
    with pytest.raises(paths.UnusableFile):
        paths.check_file(tmp_path / "big", max_bytes=10)


def test_an_unusable_file_is_an_oserror_naming_the_path(tmp_path: Path) -> None:
    """Callers that report an OSError as `path: why` report these the same way."""
    with pytest.raises(OSError) as refused:
        paths.read_regular(tmp_path / "nope")
    assert (refused.value.filename, refused.value.strerror) == (
        str(tmp_path / "nope"), "no such file or folder")

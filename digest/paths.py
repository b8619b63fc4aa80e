"""Files and folders a person names (an option, a setting, a path in a folder), checked in
one place before anything is read: a FIFO would block the open or the read for ever, a
device such as /dev/zero never ends, a folder is not a file, and a dangling symbolic link is
a missing file. Each problem is one phrase after the path, `new.csv: is a FIFO (named pipe),
not a regular file`.

`UnusableFile` is an OSError carrying the path (`filename`) and the phrase (`strerror`), so a
caller that already reports an OSError as `path: why` reports these too. Files are opened
non-blocking and checked again once open (`open_regular`): a path swapped for a FIFO after it
was checked is refused, not waited on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

# Opened so that a FIFO or a terminal never blocks the open (a regular file ignores both).
OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_NOT_FILES = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
              (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class UnusableFile(OSError):
    """A path that is not what it must be; `filename` is the path, `strerror` the phrase."""

    def __init__(self, path: Path | str, problem: str, code: int = errno.EINVAL) -> None:
        super().__init__(code, problem, str(path))

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


class MissingFile(UnusableFile, FileNotFoundError):
    """No file there (or a link to nothing): a FileNotFoundError too, for callers that
    treat a missing file apart."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(path, problem, errno.ENOENT)


def kind(mode: int) -> str:
    """What a file that is neither regular nor a folder is: "a FIFO (named pipe)"."""
    return next((name for test, name in _NOT_FILES if test(mode)), "a special file")


def _missing(path: Path) -> MissingFile:
    """Why `path`, which stat() cannot find, is missing: a dangling link says where to."""
    try:
        target = os.readlink(path)
    except OSError:
        return MissingFile(path, "no such file or folder")
    return MissingFile(path, f"is a symbolic link to {target}, which does not exist")


def _stat(path: Path) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise _missing(path) from None
    except NotADirectoryError:
        raise UnusableFile(path, "no such file or folder (a part of the path is a file)",
                           errno.ENOTDIR) from None
    except OSError as exc:
        raise UnusableFile(path, (exc.strerror or str(exc)).lower(), exc.errno or 0) from None


def _readable(path: Path, folder: bool = False) -> None:
    if not os.access(path, os.R_OK | (os.X_OK if folder else 0)):
        raise UnusableFile(path, "cannot be read: permission denied", errno.EACCES)


def check_file(path: Path, *, max_bytes: int | None = None) -> int:
    """The size of `path`, a regular file this process may read (a link is followed);
    raises UnusableFile otherwise, or when it is over `max_bytes`."""
    mode = _stat(path)
    if stat.S_ISDIR(mode.st_mode):
        raise UnusableFile(path, "is a folder, not a file", errno.EISDIR)
    if not stat.S_ISREG(mode.st_mode):
        raise UnusableFile(path, f"is {kind(mode.st_mode)}, not a regular file")
    _readable(path)
    if max_bytes is not None and mode.st_size > max_bytes:
        raise UnusableFile(path, f"is {mode.st_size:,} bytes; at most {max_bytes:,} are read",
                           errno.EFBIG)
    return mode.st_size


def check_folder(path: Path) -> None:
    """Raise UnusableFile unless `path` is a folder this process may list (a link is
    followed)."""
    mode = _stat(path)
    if not stat.S_ISDIR(mode.st_mode):
        what = "a file" if stat.S_ISREG(mode.st_mode) else kind(mode.st_mode)
        raise UnusableFile(path, f"is {what}, not a folder", errno.ENOTDIR)
    _readable(path, folder=True)


def open_regular(path: Path, *, max_bytes: int | None = None) -> BinaryIO:
    """`path` open for reading in binary, checked as `check_file` checks it, without ever
    blocking: opened non-blocking, then checked again by its descriptor."""
    check_file(path, max_bytes=max_bytes)
    try:
        fd = os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        raise _missing(path) from None
    except OSError as exc:
        raise UnusableFile(path, (exc.strerror or str(exc)).lower(), exc.errno or 0) from None
    try:
        mode = os.fstat(fd)
        if not stat.S_ISREG(mode.st_mode):
            raise UnusableFile(path, f"is {kind(mode.st_mode)}, not a regular file "
                               "(it was replaced while it was opened)")
        if max_bytes is not None and mode.st_size > max_bytes:
            raise UnusableFile(path, f"is {mode.st_size:,} bytes; at most {max_bytes:,} are "
                               "read", errno.EFBIG)
        os.set_blocking(fd, True)  # a regular file: reads never wait anyway
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, *, max_bytes: int | None = None) -> bytes:
    """The bytes of `path`, a regular file (see `open_regular`), at most `max_bytes` of
    them: a file that grew past the limit since it was checked is refused, not read whole."""
    with open_regular(path, max_bytes=max_bytes) as handle:
        if max_bytes is None:
            return handle.read()
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnusableFile(path, f"is over {max_bytes:,} bytes; at most {max_bytes:,} are "
                           "read", errno.EFBIG)
    return data


def write_whole(path: Path, chunks: Iterable[str], *, never: Iterable[Path] = (),
                never_what: str = "a file that must not be written over") -> int:
    """Write `chunks` (UTF-8) to `path` whole or not at all; the number of chunks written.

    A regular file (or a new one) is written beside itself under a temporary name and put in
    place when every chunk is there: a failure while the chunks are made (the database gone,
    a full disk) leaves the old file as it was, and the chunks are not read from a file this
    truncated. A link is followed, and the file keeps its permissions; a new file is the
    owner's only (0600, whatever the umask: what is written is personal data). Something else that
    exists (a device, a FIFO, /dev/stdout) is written directly; a folder is refused. Raises
    UnusableFile when `path` is one of `never` (`never_what` says what they are), or OSError.
    """
    try:
        mode: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode.st_mode):
        raise UnusableFile(path, "is a folder, not a file", errno.EISDIR)
    if mode is not None and not stat.S_ISREG(mode.st_mode):
        with open(path, "w", encoding="utf-8", newline="") as fh:
            return sum(1 for chunk in chunks if fh.write(chunk) is not None)
    target = Path(os.path.realpath(path))
    if any(os.path.realpath(other) == str(target) for other in never):
        raise UnusableFile(path, f"is {never_what}")
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                     suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            count = sum(1 for chunk in chunks if fh.write(chunk) is not None)
        if mode is not None:  # mkstemp made it 0600, which a new file keeps
            os.chmod(temporary, stat.S_IMODE(mode.st_mode))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return count

"""Returned mail from files: one .eml, a directory of .eml files, an mbox, a maildir, or stdin.

What `done` and `held` do depends on what the path is:

- a **maildir** (a directory with cur/ and new/) is a mailbox an MTA keeps delivering into, so
  messages are moved out of it, atomically by rename(), into Maildir++ subfolders named like the
  IMAP folders: `.digest.processed/cur/` (flagged Seen) and `.digest.held/cur/` (unread). Dovecot
  or any IMAP server on the same maildir shows them as "digest/processed" and "digest/held".
- a **single .eml, a directory of .eml files or an mbox** is input an operator handed over: it is
  read, never changed. Outcomes are recorded in `outcomes` (key -> "done" / "held") for the
  caller to report; reading the same files again is harmless because processing is idempotent.
  (An mbox cannot lose one message without being rewritten under the MTA's lock.)
- anything else (a FIFO, a device, a socket, a directory that holds no .eml file and is not a
  maildir) is refused by `kind()` before it is read: opening a FIFO waits for a writer, and a
  device such as /dev/zero never ends. Files are opened non-blocking and must be regular.
- **stdin** ("-") is one message piped in by an MTA. There is nowhere to move it: a held message
  must be kept by the caller (stored with its record, or refused with EX_TEMPFAIL so the MTA
  keeps it in its queue).
"""

from __future__ import annotations

import hashlib
import mailbox
import os
import re
import stat
import sys
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol

from digest.bounces.sources.base import ClosedOnExit, Incoming, SourceError, header_block
from digest.paths import OPEN_FLAGS
from digest.paths import kind as file_kind

Kind = Literal["stdin", "eml", "directory", "mbox", "maildir"]
Outcome = Literal["done", "held"]
# Bytes of an oversized message read to tell it from another: two may share their start.
FINGERPRINT_BYTES = 256 * 1024 * 1024
LINE_PIECE = 64 * 1024  # bytes of an mbox line read at a time
_LINESEP = os.linesep.encode()  # what mailbox.mbox writes and counts as an empty line
# A maildir name starts with the delivery time in seconds, then (Dovecot, Python's mailbox,
# qmail's modern form) "M" and the microseconds, which are not zero-padded.
_DELIVERED = re.compile(r"(\d+)\.(?:[^.]*?M(\d+))?")


def delivery_order(name: str) -> tuple[int, int, str]:
    """A maildir file name's sort key: delivery second, then microsecond, then the name (a
    plain sort of the names reads M95604 after M195604 in the same second)."""
    found = _DELIVERED.match(name)
    if found is None:
        return (0, 0, name)
    return (int(found.group(1)), int(found.group(2) or 0), name)


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class FileSource(ClosedOnExit):
    """A `Source` over a path (or "-" for stdin); see the module docstring for outcomes."""

    def __init__(self, path: Path | str, *, stdin: BinaryIO | None = None,
                 processed_folder: str = "digest/processed", held_folder: str = "digest/held",
                 max_message_bytes: int = 10 * 1024 * 1024) -> None:
        self.path = Path(path)
        self.is_stdin = str(path) == "-"
        self._blank = not str(path).strip()  # Path("") is "." : never read the cwd unasked
        self._stdin = stdin
        self.folders = {"done": _maildir_folder(processed_folder),
                        "held": _maildir_folder(held_folder)}
        self.max_message_bytes = max_message_bytes
        self.outcomes: dict[str, Outcome] = {}
        self._stdin_read = False
        self._kind: Kind | None = None

    def __repr__(self) -> str:
        return f"FileSource({'-' if self.is_stdin else str(self.path)!r})"

    def kind(self) -> Kind:
        """What the path is; raises `SourceError` if it is empty, missing or unusable: neither a
        regular file nor a directory (a FIFO would block the read, a device never end), or a
        directory that holds no .eml file and is not a maildir."""
        if self.is_stdin:
            return "stdin"
        if self._blank:
            raise SourceError("no path given (an empty argument: an unset variable?); give "
                              "a file, a directory, an mbox, a maildir, or - for stdin",
                              temporary=False)
        try:
            mode = self.path.stat().st_mode
            if stat.S_ISDIR(mode):
                return self._directory_kind()
            if not stat.S_ISREG(mode):
                hint = " (for standard input, give -)" if stat.S_ISFIFO(mode) else ""
                raise self._error(f"is {file_kind(mode)}, not a message file, mbox or "
                                  f"directory{hint}")
            with _open_regular(self.path) as f:
                return "mbox" if f.read(5) == b"From " else "eml"
        except _NotRegular:
            raise self._error("is no longer a regular file") from None
        except OSError as exc:
            raise self._error(exc) from exc

    def _directory_kind(self) -> Kind:
        """A maildir (cur/ and new/), or a directory of .eml files (or nothing yet)."""
        if (self.path / "cur").is_dir() and (self.path / "new").is_dir():
            return "maildir"
        names = os.listdir(self.path)
        if not names or any(name.lower().endswith(".eml") for name in names):
            return "directory"
        partial = [f"{n}/" for n in ("cur", "new", "tmp") if (self.path / n).is_dir()]
        if partial:
            raise self._error(f"is not a maildir: it has {' and '.join(partial)} but a "
                              "maildir needs both cur/ and new/")
        raise self._error("is a directory with no .eml file, and not a maildir "
                          "(no cur/ and new/)")

    def poll(self) -> Iterator[Incoming]:
        """Yield each message not yet reported done or held, oldest (or first) first."""
        kind = self._kind = self.kind()
        try:
            if kind == "stdin":
                yield from self._poll_stdin()
            elif kind == "mbox":
                yield from self._poll_mbox()
            else:
                for key, path in self._files(kind):
                    if key not in self.outcomes and (item := self._read_file(key, path)):
                        yield item
        except mailbox.ExternalClashError as exc:
            raise self._error("locked by another process (an MTA delivering?); "
                              "try again", temporary=True) from exc
        except (OSError, mailbox.Error) as exc:
            raise self._error(exc) from exc

    def done(self, key: str) -> None:
        """Record the outcome; in a maildir, also move the message to the processed folder."""
        self._settle(key, "done")

    def held(self, key: str) -> None:
        """Record the outcome; in a maildir, also move the message to the held folder."""
        self._settle(key, "held")

    def close(self) -> None:
        """Nothing to release: files are opened only while they are read."""

    def _error(self, exc: BaseException | str, *, temporary: bool = False) -> SourceError:
        where = "stdin" if self.is_stdin else f"file {self.path}"
        if isinstance(exc, str):
            detail = exc
        elif isinstance(exc, OSError) and exc.strerror:
            detail = exc.strerror.lower()
            if exc.filename and Path(exc.filename) != self.path:
                detail += f" ({exc.filename})"
        else:
            detail = str(exc) or exc.__class__.__name__
        return SourceError(" ".join(f"{where}: {detail}".split()), temporary=temporary)

    def _read(self, key: str, f: _Readable) -> Incoming | None:
        """The message from `f`, keeping at most one byte past the size limit (a larger one
        is hashed on, in chunks, up to FINGERPRINT_BYTES, to tell it from others)."""
        raw = f.read(self.max_message_bytes + 1)
        if not raw:
            return None  # an empty file (or an MTA's freshly created mbox) holds no message
        if len(raw) <= self.max_message_bytes:
            return Incoming(key, raw)
        digest, size = hashlib.sha256(raw), len(raw)
        while size < FINGERPRINT_BYTES and (chunk := f.read(1024 * 1024)):
            digest.update(chunk)
            size += len(chunk)
        return Incoming(key, header_block(raw), problem=(
            f"message is over the {self.max_message_bytes}-byte limit; "
            "only its headers were read"),
            fingerprint=f"{key} {size} bytes {digest.hexdigest()}")

    def _read_file(self, key: str, path: Path) -> Incoming | None:
        try:
            with _open_regular(path) as f:
                return self._read(key, f)
        except FileNotFoundError:
            if path == self.path:
                raise
            return None  # moved away since it was listed (by a concurrent poller)
        except _NotRegular:
            if path == self.path:
                raise self._error("is no longer a regular file") from None
            return None  # replaced by a FIFO or a device since it was listed: not a message

    def _poll_stdin(self) -> Iterator[Incoming]:
        if self._stdin_read:
            return
        self._stdin_read = True
        item = self._read("-", self._stdin or sys.stdin.buffer)
        if item is not None:
            yield item

    def _poll_mbox(self) -> Iterator[Incoming]:
        box = _Mbox(self.path, create=False)
        try:
            # The table of contents is made under the MTA's lock, so a message being appended
            # is not read half-written; the lock is not kept while the caller works, since
            # deliveries wait for it. A file we may not lock (a read-only copy) is read as is.
            locked = False
            with suppress(OSError):
                box.lock()
                locked = True
            indexes = sorted(box.keys())
            if locked:
                box.unlock()
            for number, index in enumerate(indexes, start=1):
                key = f"{self.path}#{number}"
                if key not in self.outcomes:
                    item = self._read(key, box.get_file(index))
                    if item is not None:
                        yield item
        finally:
            box.close()

    def _files(self, kind: Kind) -> list[tuple[str, Path]]:
        if kind == "eml":
            return [(str(self.path), self.path)]
        if kind == "directory":
            return [(str(p), p) for p in sorted(self.path.iterdir())
                    if p.suffix.lower() == ".eml" and p.is_file()]
        # Oldest delivery first. tmp/ holds deliveries in progress and is never read.
        found = [(delivery_order(p.name), f"{sub}/{p.name}", p) for sub in ("new", "cur")
                 for p in (self.path / sub).iterdir()
                 if not p.name.startswith(".") and p.is_file()]
        return [(key, path) for _, key, path in sorted(found)]

    def _settle(self, key: str, outcome: Outcome) -> None:
        # The kind the last poll found: listing a directory again for each message is quadratic.
        if not self.is_stdin and (self._kind or self.kind()) == "maildir":
            self._move(key, outcome)
        self.outcomes[key] = outcome

    def _move(self, key: str, outcome: Outcome) -> None:
        sub, _, name = key.partition("/")
        if sub not in ("new", "cur") or not name or "/" in name:
            raise ValueError(f"not a key from this maildir: {key!r}")
        folder = self.path / self.folders[outcome]
        try:
            for part in ("cur", "new", "tmp"):
                (folder / part).mkdir(parents=True, exist_ok=True)
            (folder / "maildirfolder").touch()  # marks a Maildir++ subfolder
            os.rename(self.path / sub / name, folder / "cur" / _with_flags(name, outcome))
        except FileNotFoundError as exc:
            if (self.path / sub / name).exists():
                raise self._error(exc) from exc
            # Already moved (done twice, or by a concurrent poller): nothing left to do.
        except OSError as exc:
            raise self._error(exc) from exc


class _Mbox(mailbox.mbox):
    """Python's mbox, reading lines at most LINE_PIECE bytes at a time: a file of gigabytes
    with no line break (a "From " line, then zeros) was read into memory whole."""

    # mailbox.mbox's own state, which typeshed leaves out.
    _file: Any  # the open file (typeshed's protocol for it is narrower than the stdlib's use)
    _toc: dict[int, tuple[int, int]]
    _next_key: int
    _file_length: int
    if TYPE_CHECKING:
        def _lookup(self, key: str | None = None) -> tuple[int, int]: ...

    def _generate_toc(self) -> None:
        """The (start, stop) of each message, as mailbox.mbox finds them."""
        starts: list[int] = []
        stops: list[int] = []
        last_was_empty, at_line_start = False, True
        self._file.seek(0)
        while True:
            position = self._file.tell()
            piece: bytes = self._file.readline(LINE_PIECE)
            line_start, at_line_start = at_line_start, piece.endswith(b"\n")
            if not piece:
                stops.append(position - len(_LINESEP) if last_was_empty else position)
                break
            if line_start and piece.startswith(b"From "):
                if len(stops) < len(starts):
                    stops.append(position - len(_LINESEP) if last_was_empty else position)
                starts.append(position)
                last_was_empty = False
            else:  # the rest of a long line is never empty
                last_was_empty = line_start and piece == _LINESEP
        self._toc = dict(enumerate(zip(starts, stops, strict=False)))
        self._next_key = len(self._toc)
        self._file_length = self._file.tell()

    def get_file(self, key: str, from_: bool = False) -> mailbox._PartialFile:
        """The message at `key`, after its "From " line (skipped piece by piece)."""
        start, stop = self._lookup(key)
        self._file.seek(start)
        if not from_:
            while (piece := self._file.readline(LINE_PIECE)) and not piece.endswith(b"\n"):
                pass
        return mailbox._PartialFile(self._file, self._file.tell(), stop)


class _NotRegular(OSError):
    """The path opened is not a regular file (it was swapped after it was checked)."""


def _open_regular(path: Path) -> BinaryIO:
    """`path` open for reading, without blocking; raises `_NotRegular` unless a regular file."""
    fd = os.open(path, OPEN_FLAGS)  # never blocks on a FIFO (digest.paths)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _NotRegular(f"{path}: not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _maildir_folder(name: str) -> str:
    """A "/"-separated folder name as a Maildir++ subdirectory: "a/b" -> ".a.b"."""
    return "." + ".".join(part for part in name.split("/") if part)


def _with_flags(name: str, outcome: Outcome) -> str:
    """The file name for cur/: maildir info ":2,FLAGS", with S(een) added for processed mail."""
    base, _, flags = name.partition(":2,")
    wanted = set(flags) | ({"S"} if outcome == "done" else set())
    return f"{base}:2,{''.join(sorted(wanted))}"

"""FileSource over .eml files, directories, mbox, maildir and stdin."""

from __future__ import annotations

import io
import mailbox
import os
import socket
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from digest.bounces.sources.base import Source, SourceError
from digest.bounces.sources.files import FileSource, delivery_order


def bounce(n: int, body: str = "The message could not be delivered.") -> bytes:
    """A small returned message, unique by `n`."""
    return (f"From: MAILER-DAEMON@example.net\r\nTo: bounces+t{n}@example.org\r\n"
            f"Subject: Undelivered Mail Returned to Sender ({n})\r\n"
            f"Message-ID: <bounce-{n}@example.net>\r\n\r\n{body}\r\n").encode()


def make_maildir(path: Path, count: int) -> Path:
    """A maildir with `count` messages delivered to new/."""
    box = mailbox.Maildir(path, create=True)
    for n in range(count):
        box.add(bounce(n))  # into new/, names ordered by delivery time
    box.close()
    return path


def maildir_files(path: Path) -> list[str]:
    """Every message file under the maildir and its subfolders, relative and sorted."""
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()
                  and p.parent.name in ("cur", "new", "tmp"))


def test_is_a_source(tmp_path: Path) -> None:
    src: Source = FileSource(tmp_path)
    src.close()


def test_single_eml_is_read_and_never_changed(tmp_path: Path) -> None:
    path = tmp_path / "bounce.eml"
    path.write_bytes(bounce(1))
    with FileSource(path) as src:
        assert src.kind() == "eml"
        (item,) = src.poll()
        assert (item.key, item.raw, item.problem) == (str(path), bounce(1), None)
        src.done(item.key)
        assert list(src.poll()) == []
        assert src.outcomes == {str(path): "done"}
    assert path.read_bytes() == bounce(1)
    assert [i.raw for i in FileSource(path).poll()] == [bounce(1)]  # a new run reads it again


def test_directory_of_eml_files_in_name_order(tmp_path: Path) -> None:
    for n in (2, 1, 3):
        (tmp_path / f"{n}.eml").write_bytes(bounce(n))
    (tmp_path / "notes.txt").write_text("not mail")
    (tmp_path / "sub.eml").mkdir()
    src = FileSource(tmp_path)
    assert src.kind() == "directory"
    items = list(src.poll())
    assert [i.raw for i in items] == [bounce(1), bounce(2), bounce(3)]
    src.held(items[1].key)
    assert [i.raw for i in src.poll()] == [bounce(1), bounce(3)]
    assert src.outcomes == {str(tmp_path / "2.eml"): "held"}
    assert (tmp_path / "2.eml").exists()


def test_mbox(tmp_path: Path) -> None:
    path = tmp_path / "bounces"
    box = mailbox.mbox(path)
    for n in range(3):
        box.add(bounce(n))
    box.close()
    src = FileSource(path)
    assert src.kind() == "mbox"
    items = list(src.poll())
    assert [i.key for i in items] == [f"{path}#1", f"{path}#2", f"{path}#3"]
    for n, item in enumerate(items):
        assert item.raw.replace(b"\r\n", b"\n") == bounce(n).replace(b"\r\n", b"\n")
    src.done(items[0].key)
    assert [i.key for i in src.poll()] == [f"{path}#2", f"{path}#3"]
    assert len(mailbox.mbox(path)) == 3  # never rewritten


def test_mbox_locked_by_the_mta_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bounces"
    mta = mailbox.mbox(path)
    mta.add(bounce(1))
    mta.lock()
    try:
        with pytest.raises(SourceError) as error:
            list(FileSource(path).poll())
    finally:
        mta.close()
    assert str(error.value) == (
        f"file {path}: locked by another process (an MTA delivering?); try again")
    assert error.value.temporary
    assert [i.raw.count(b"bounce-1") for i in FileSource(path).poll()] == [1]  # lock released


def test_empty_file_holds_no_message(tmp_path: Path) -> None:
    (tmp_path / "mbox").touch()
    assert list(FileSource(tmp_path / "mbox").poll()) == []


def test_maildir_moves_done_and_held_into_subfolders(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "Maildir", 3)
    (root / "tmp" / "123.being-delivered").write_bytes(b"half a mess")
    src = FileSource(root)
    assert src.kind() == "maildir"
    first, second, third = src.poll()
    assert [first.raw, second.raw, third.raw] == [bounce(0), bounce(1), bounce(2)]
    assert first.key.startswith("new/")
    src.done(first.key)
    src.held(second.key)
    src.done(first.key)  # again, as after a crash between recording and moving: harmless
    assert [i.raw for i in FileSource(root).poll()] == [bounce(2)]
    assert maildir_files(root) == sorted([
        f".digest.held/cur/{second.key.removeprefix('new/')}:2,",
        f".digest.processed/cur/{first.key.removeprefix('new/')}:2,S",
        third.key, "tmp/123.being-delivered"])
    assert (root / ".digest.held" / "maildirfolder").exists()
    assert (root / ".digest.held" / "new").is_dir()


def test_maildir_keeps_existing_flags(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "Maildir", 1)
    (only,) = (root / "new").iterdir()
    only.rename(root / "cur" / f"{only.name}:2,F")
    src = FileSource(root)
    (item,) = src.poll()
    assert item.key == f"cur/{only.name}:2,F"
    src.done(item.key)
    assert maildir_files(root) == [f".digest.processed/cur/{only.name}:2,FS"]


def test_maildir_abandoned_mid_poll_loses_nothing(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "Maildir", 6)
    crashed = FileSource(root)
    for index, item in enumerate(crashed.poll()):
        if index % 2 == 0:
            crashed.done(item.key)
        if index == 3:
            break
    rest = FileSource(root)
    assert [i.raw for i in rest.poll()] == [bounce(1), bounce(3), bounce(4), bounce(5)]


def test_maildir_folder_names_follow_the_imap_ones(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "Maildir", 1)
    src = FileSource(root, held_folder="bounces/for people/")
    (item,) = src.poll()
    src.held(item.key)
    assert (root / ".bounces.for people" / "cur").is_dir()


def test_stdin(tmp_path: Path) -> None:
    src = FileSource("-", stdin=io.BytesIO(bounce(1)))
    assert src.kind() == "stdin"
    (item,) = src.poll()
    assert (item.key, item.raw) == ("-", bounce(1))
    src.held(item.key)  # nowhere to move it: the caller keeps it
    assert src.outcomes == {"-": "held"}
    assert list(src.poll()) == []


def test_empty_stdin_holds_no_message() -> None:
    assert list(FileSource("-", stdin=io.BytesIO(b"")).poll()) == []


@pytest.mark.parametrize("where", ["stdin", "eml", "mbox"])
def test_oversized_message_is_headers_and_a_problem(tmp_path: Path, where: str) -> None:
    big = bounce(1, body="x" * 5000)
    path = tmp_path / "big.eml"
    if where == "mbox":
        path = tmp_path / "big.mbox"
        box = mailbox.mbox(path)
        box.add(big)
        box.close()
    else:
        path.write_bytes(big)
    src = FileSource("-" if where == "stdin" else path, stdin=io.BytesIO(big),
                     max_message_bytes=2000)
    (item,) = src.poll()
    assert item.problem == "message is over the 2000-byte limit; only its headers were read"
    assert item.raw.replace(b"\r\n", b"\n") == \
        big.split(b"\r\n\r\n")[0].replace(b"\r\n", b"\n") + b"\n\n"


def test_missing_path_is_one_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.eml"
    with pytest.raises(SourceError) as error:
        list(FileSource(missing).poll())
    assert str(error.value) == f"file {missing}: no such file or directory"
    assert not error.value.temporary


def test_path_through_a_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file.eml").write_bytes(bounce(1))
    bad = tmp_path / "file.eml" / "x"
    with pytest.raises(SourceError) as error:
        list(FileSource(bad).poll())
    assert str(error.value) == f"file {bad}: not a directory"


def test_maildir_reads_oldest_first_though_microseconds_are_not_padded(tmp_path: Path) -> None:
    root = make_maildir(tmp_path / "Maildir", 0)
    names = ["1700000001.M5P1Q1.host", "1700000000.M195604P1Q2.host,S=90:2,",
             "1700000000.M95604P1Q3.host", "1699999999.P1Q4.host", "odd-name"]
    for n, name in enumerate(names):
        (root / ("cur" if ":2," in name else "new") / name).write_bytes(bounce(n))
    got = [item.raw for item in FileSource(root).poll()]
    assert got == [bounce(4), bounce(3), bounce(2), bounce(1), bounce(0)]
    assert sorted(names) != [names[i] for i in (4, 3, 2, 1, 0)]  # a plain sort gets it wrong


@pytest.mark.parametrize("name", ["1700000000.M95604P1.h", "1700000000.12345_1.h", "x.y", ""])
def test_delivery_order_never_fails_on_a_name(name: str) -> None:
    second, micro, same = delivery_order(name)
    assert same == name and second >= 0 and micro >= 0


def refusal(path: Path | str) -> SourceError:
    """The error polling `path` raises (a FIFO must not block: the test has a timeout)."""
    with pytest.raises(SourceError) as error:
        list(FileSource(path).poll())
    assert not error.value.temporary and "\n" not in str(error.value)
    return error.value


@pytest.mark.timeout(20)
def test_a_fifo_a_device_or_a_socket_is_refused_without_reading_it(tmp_path: Path) -> None:
    # Opening a FIFO waited for a writer for ever; /dev/zero was read as a 10 MB message.
    fifo = tmp_path / "bounce.eml"
    os.mkfifo(fifo)
    assert str(refusal(fifo)) == (f"file {fifo}: is a FIFO (named pipe), not a message file, "
                                  "mbox or directory (for standard input, give -)")
    for device in ("/dev/null", "/dev/zero"):
        assert str(refusal(device)) == (f"file {device}: is a character device, not a message "
                                        "file, mbox or directory")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s"))
        assert "is a socket" in str(refusal(tmp_path / "s"))


@pytest.mark.timeout(20)
def test_special_files_inside_a_directory_or_maildir_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(bounce(1))
    os.mkfifo(tmp_path / "b.eml")
    (tmp_path / "c.eml").symlink_to("/dev/zero")
    assert [item.key for item in FileSource(tmp_path).poll()] == [str(tmp_path / "a.eml")]
    root = make_maildir(tmp_path / "Maildir", 1)
    os.mkfifo(root / "new" / "1.fifo")
    assert len(list(FileSource(root).poll())) == 1


def test_a_regular_file_swapped_for_a_fifo_after_listing_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(bounce(1))
    src = FileSource(tmp_path)
    assert src.kind() == "directory"
    (tmp_path / "a.eml").unlink()
    os.mkfifo(tmp_path / "a.eml")
    assert src._read_file("a", tmp_path / "a.eml") is None  # no wait for a writer


@pytest.mark.parametrize(("layout", "problem"), [
    (["notes.txt", "sub/"], "is a directory with no .eml file, and not a maildir "
                            "(no cur/ and new/)"),
    (["cur/"], "is not a maildir: it has cur/ but a maildir needs both cur/ and new/"),
    (["new/", "tmp/"], "is not a maildir: it has new/ and tmp/ but a maildir needs both cur/ "
                       "and new/"),
])
def test_a_directory_that_is_neither_kind_is_refused(tmp_path: Path, layout: list[str],
                                                    problem: str) -> None:
    # Each was read as an empty directory of .eml files: "0 message(s)", exit 0.
    for name in layout:
        if name.endswith("/"):
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).write_text("x")
    assert str(refusal(tmp_path)) == f"file {tmp_path}: {problem}"


def test_an_empty_directory_is_a_drop_folder_with_nothing_yet(tmp_path: Path) -> None:
    assert list(FileSource(tmp_path).poll()) == []


def test_an_unreadable_file_or_directory_is_one_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, which reads any file: the refusal is the kernel's, simulated.
    path = tmp_path / "bounce.eml"
    path.write_bytes(bounce(1))
    real_open = os.open

    def refuse_open(name: str | os.PathLike[str], flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(name).name.endswith(".eml"):
            raise PermissionError(13, "Permission denied", str(name))
        return real_open(name, flags, *args, **kwargs)

    def refuse_listdir(name: object) -> list[str]:
        raise PermissionError(13, "Permission denied", str(name))

    monkeypatch.setattr(os, "open", refuse_open)
    assert str(refusal(path)) == f"file {path}: permission denied"
    other = tmp_path / "more"
    other.mkdir()
    (other / "x.eml").write_bytes(bounce(2))
    assert str(refusal(other)) == f"file {other}: permission denied ({other / 'x.eml'})"
    monkeypatch.setattr(os, "open", real_open)
    monkeypatch.setattr(os, "listdir", refuse_listdir)
    assert str(refusal(other)) == f"file {other}: permission denied"


@pytest.mark.timeout(60)
def test_a_huge_sparse_file_is_read_only_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.eml"
    with path.open("wb") as f:
        f.write(bounce(1))
        f.truncate(4 * 1024**3)  # 4 GiB, sparse: costs no disk
    (item,) = FileSource(path, max_message_bytes=1024 * 1024).poll()
    assert item.problem == ("message is over the 1048576-byte limit; only its headers were "
                            "read")
    assert item.raw.startswith(b"From: MAILER-DAEMON@example.net")


def test_a_huge_mbox_line_is_never_read_whole(tmp_path: Path) -> None:
    # A "From " line then 256 MiB without a line break: mailbox.mbox read the line whole to
    # find the messages (600 MB of zeros took 1.3 GB of memory).
    path = tmp_path / "huge.mbox"
    with path.open("wb") as f:
        f.write(b"From MAILER-DAEMON Tue May 14 09:12:03 2024\n" + bounce(1))
        f.truncate(256 * 1024**2)
    tracemalloc.start()
    try:
        (item,) = FileSource(path, max_message_bytes=1024 * 1024).poll()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert item.problem is not None and item.raw.startswith(b"From: MAILER-DAEMON")
    assert peak < 32 * 1024**2, peak


@pytest.mark.parametrize("content", [
    b"", b"From a\n", b"From a\nx\n\nFrom b\ny\n", b"From a\nx\nFrom b\ny", b"\n\nFrom a\n\n\n",
    b"From a\n" + b"z" * (200 * 1024) + b"From b\n\nFrom c\n" + b"q" * 70000 + b"\n\n",
    b"From a\n" + b"z" * (64 * 1024 - 1) + b"\nFrom b\n" + b"w" * (64 * 1024) + b"From c\n",
    b"From a\r\nx\r\n\r\nFrom b\r\n", b"xFrom a\nFrom b\n\n",
])
def test_the_mbox_reader_finds_what_python_s_finds(tmp_path: Path, content: bytes) -> None:
    from digest.bounces.sources.files import _Mbox

    path = tmp_path / "box"
    path.write_bytes(content)
    ours, theirs = _Mbox(path, create=False), mailbox.mbox(path, create=False)
    try:
        assert sorted(ours.keys()) == sorted(theirs.keys())
        assert ours._toc == theirs._toc  # type: ignore[attr-defined]
        for key in ours.iterkeys():  # a mailbox iterates over its messages, not keys
            assert ours.get_file(key).read() == theirs.get_file(key).read()
    finally:
        ours.close()
        theirs.close()

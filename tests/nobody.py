"""Running a piece of a test as an unprivileged user, for what a file's mode denies.

CI runs as root, whom no mode denies: a file chmod 000 is read all the same. `as_nobody`
runs a function in a forked child that has given up root for `nobody`, and hands back what
it returned (or raises what it raised); as any other user it just calls the function.
The files it uses go in `shared_folder()`, which `nobody` may enter (pytest's own temporary
folders are root's alone).
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from digest.cli import main

T = TypeVar("T")


def as_nobody(fn: Callable[[], T]) -> T:
    """`fn()` as the user `nobody` when this process is root, else as this user."""
    if os.geteuid() != 0:
        return fn()
    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root for good, run, send the outcome, leave at once
        os.close(read)
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            outcome: tuple[bool, object] = (True, fn())
        except BaseException as exc:  # handed to the parent, raised there
            outcome = (False, exc)
        with os.fdopen(write, "wb") as out:
            pickle.dump(outcome, out)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as got:
        data = got.read()
    os.waitpid(pid, 0)
    ok, value = pickle.loads(data)
    if not ok:
        raise value  # type: ignore[misc]
    return value  # type: ignore[no-any-return]


@contextlib.contextmanager
def shared_folder() -> Iterator[Path]:
    """A new folder `nobody` may enter and read (but not write), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="digest-shared-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def digest_as_nobody(cwd: Path, *args: str) -> tuple[int, str, str]:
    """The console script run in `cwd` by `as_nobody`: its exit code, stdout and stderr."""

    def run() -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        os.chdir(cwd)
        code: object = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as done:
                code = done.code
        return (code if isinstance(code, int) else 0), out.getvalue(), err.getvalue()

    here = Path.cwd()
    try:
        return as_nobody(run)
    finally:
        os.chdir(here)  # as another user, `run` changed this process's folder

"""The loopback SMTP sink, Postfix's smtp-source, and a child runner that reports peak RSS.

Peak RSS is the child's own: wait4() on its pid, in a fresh launcher process (see _LAUNCHER).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
HOST = "127.0.0.1"
_COUNTER = re.compile(rb"mesg=(\d+)")


# A small, freshly exec'd process spawns the measured command and reports its rusage. Linux
# carries the pre-exec high-water RSS of a forked child into its ru_maxrss, so a command
# spawned straight from this (large) process would report at least this process's size.
_LAUNCHER = """
import json, os, sys, time
report, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawnp(cmd[0], cmd, os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(report, "w") as f:
    json.dump({"code": os.waitstatus_to_exitcode(status), "seconds": seconds,
               "maxrss": usage.ru_maxrss}, f)
"""


@dataclass(frozen=True)
class ChildResult:
    """One finished child process: exit code, wall seconds, its own peak RSS, its output."""

    returncode: int
    seconds: float
    maxrss_kib: int
    output: str

    @property
    def rss_mb(self) -> float:
        """Peak RSS in MB (10^6 bytes)."""
        return self.maxrss_kib * 1024 / 1e6


def run_child(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
              timeout: float = 1800) -> ChildResult:
    """Run a command to its end via the launcher: wall time spawn to exit, its own peak RSS."""
    with tempfile.TemporaryDirectory() as tmp, (Path(tmp) / "out").open("w+b") as log:
        report = Path(tmp) / "report.json"
        proc = subprocess.Popen([sys.executable, "-S", "-c", _LAUNCHER, str(report), *cmd],
                                env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except BaseException:  # timeout or Ctrl-C: end the launcher and the command
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        log.seek(0)
        output = log.read().decode("utf-8", "replace")
        if not report.exists():
            raise RuntimeError(f"launcher failed ({proc.returncode}):\n{output[-2000:]}")
        got = json.loads(report.read_text())
    return ChildResult(int(got["code"]), float(got["seconds"]), int(got["maxrss"]), output)


def free_port() -> int:
    """An unused TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the sink exited at start (code {proc.returncode})")
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the sink did not listen on {HOST}:{port}")


class Sink:
    """A loopback SMTP sink in its own process: Postfix's smtp-sink, else aiosmtpd's Sink."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.postfix = os.access(SMTP_SINK, os.X_OK)
        self.log_path = workdir / "sink.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def kind(self) -> str:
        """What is listening, for the report."""
        if self.postfix:
            return f"Postfix smtp-sink (`{' '.join(self.command())}`)"
        return "aiosmtpd Sink handler (fallback: Postfix smtp-sink not installed)"

    def command(self) -> list[str]:
        """The sink's command line."""
        if self.postfix:
            user = ["-u", "nobody"] if os.geteuid() == 0 else []  # root must drop privileges
            return [SMTP_SINK, "-c", *user, f"{HOST}:{self.port}", "1000"]
        return [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{HOST}:{self.port}",
                "-c", "aiosmtpd.handlers.Sink"]

    def __enter__(self) -> Sink:
        log = self.log_path.open("wb")
        self._log = log
        self._proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        _wait_listening(self.port, self._proc)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log is not None:
            self._log.close()

    def received(self) -> int | None:
        """Messages the sink has taken so far (smtp-sink -c counter), or None if unknown."""
        if not self.postfix:
            return None
        time.sleep(0.1)  # the counter is written after the reply to "."
        with self.log_path.open("rb") as f:
            f.seek(max(0, self.log_path.stat().st_size - 4096))
            found = _COUNTER.findall(f.read())
        return int(found[-1]) if found else 0


def smtp_source(port: int, sessions: int, messages: int, size: int) -> ChildResult | None:
    """Postfix's smtp-source: `messages` of `size` payload bytes over `sessions` kept sessions."""
    if not os.access(SMTP_SOURCE, os.X_OK):
        return None
    cmd = [SMTP_SOURCE, "-d", "-s", str(sessions), "-m", str(messages), "-l", str(size),
           f"{HOST}:{port}"]
    return run_child(cmd, timeout=600)


def smtp_source_command(port: int, sessions: int, messages: int, size: int) -> str:
    """The smtp-source command line, for the report."""
    return f"smtp-source -d -s {sessions} -m {messages} -l {size} {HOST}:{port}"

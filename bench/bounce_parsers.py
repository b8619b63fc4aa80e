"""Bounce parsers compared on tests/bounces/corpus: digest's stdlib parser and PyPI libraries.

The libraries are not project dependencies; install them into a throwaway venv and run from
the repository root (docs/bounces.md has the figures):

    python3.11 -m venv /tmp/bouncelibs
    /tmp/bouncelibs/bin/pip install flanker flufl.bounce bounced bounce-email mail-parser
    /tmp/bouncelibs/bin/python -m bench.bounce_parsers [--repeat 20]

Each library is imported only inside its adapter, so a missing one is reported, not fatal.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import importlib
import json
import signal
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "bounces" / "corpus"
EXPECTED = CORPUS.parent / "expected.json"
NO_ADDRESS = "(no address)"
Verdict = dict[str, str]  # recipient -> "hard" | "soft"; {} means "not a bounce"


def ours(raw: bytes) -> Verdict:
    """digest.bounces.parse: HARD/SOFT Feedback by recipient."""
    parse: Any = importlib.import_module("digest.bounces.parse").parse
    return {
        fb.recipient or NO_ADDRESS: fb.kind.value
        for fb in parse(raw)
        if fb.kind.value in ("hard", "soft")
    }


def flufl_bounce(raw: bytes) -> Verdict:
    """flufl.bounce.all_failures: (temporary, permanent) address sets."""
    lib: Any = importlib.import_module("flufl.bounce")
    temporary, permanent = lib.all_failures(email.message_from_bytes(raw))
    found = {a.decode("utf-8", "replace").lower(): "soft" for a in temporary}
    found.update({a.decode("utf-8", "replace").lower(): "hard" for a in permanent})
    return found


def flanker(raw: bytes) -> Verdict:
    """flanker.mime.bounce.detect: a score and a status, but no recipient."""
    create: Any = importlib.import_module("flanker.mime.create")
    bounce: Any = importlib.import_module("flanker.mime.bounce")
    result = bounce.detect(create.from_string(raw))
    if not result.is_bounce():
        return {}
    return {NO_ADDRESS: "soft" if str(result.status).strip().startswith("4") else "hard"}


def bounced(raw: bytes) -> Verdict:
    """bounced.get_bounces: DSN fields only (None for anything else)."""
    lib: Any = importlib.import_module("bounced.bounced")
    found: Verdict = {}
    for item in lib.get_bounces(email.message_from_bytes(raw)) or ():
        if item.action in ("delivered", "relayed", "expanded"):
            continue
        soft = item.action == "delayed" or str(item.status or "").startswith("4")
        found[str(item.recipient[1]).lower()] = "soft" if soft else "hard"
    return found


def bounce_email(raw: bytes) -> Verdict:
    """bounce_email.BounceEmail: is_bounced and bounce_type, no recipient."""
    lib: Any = importlib.import_module("bounce_email")
    result = lib.BounceEmail(raw.decode("utf-8", "replace"))
    if not result.is_bounced:
        return {}
    return {NO_ADDRESS: "soft" if "Transient" in str(result.bounce_type) else "hard"}


def mail_parser(raw: bytes) -> Verdict:
    """mail-parser parses only (no bounce classification): timed and checked for crashes."""
    lib: Any = importlib.import_module("mailparser")
    lib.parse_from_bytes(raw)
    return {}


ADAPTERS: dict[str, Callable[[bytes], Verdict]] = {
    "digest (stdlib)": ours,
    "flufl.bounce": flufl_bounce,
    "flanker": flanker,
    "bounced": bounced,
    "bounce-email": bounce_email,
    "mail-parser": mail_parser,
}
ADDRESSLESS = {"flanker", "bounce-email"}  # judged on the kinds alone


def truth() -> dict[str, Verdict]:
    """The expected HARD/SOFT recipients of every corpus file."""
    expected: dict[str, Any] = json.loads(EXPECTED.read_text("utf-8"))
    return {
        name: {
            fb["recipient"] or NO_ADDRESS: fb["kind"]
            for fb in entry["feedback"]
            if fb["kind"] in ("hard", "soft")
        }
        for name, entry in expected.items()
    }


def hostile() -> dict[str, bytes]:
    """Generated inputs too big to keep as files."""
    dsn = (CORPUS / "rfc3464-hard.eml").read_bytes()
    deep = [b'Content-Type: multipart/mixed; boundary="b0"\n\n']
    deep += [b'--b%d\nContent-Type: multipart/mixed; boundary="b%d"\n\n' % (i - 1, i)
             for i in range(1, 2000)]
    return {
        "2000-deep multipart": b"".join(deep),
        "1 MB header": b"X-Junk: " + b"a" * 2**20 + b"\n" + dsn,
        "1 MB Content-Type": dsn.replace(
            b"multipart/report;", b"multipart/report" + b'; a="b"' * 150_000 + b";", 1
        ),
    }


class Timeout(Exception):
    """A hostile input took longer than the limit."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    """SIGALRM handler."""
    raise Timeout


def run(adapter: Callable[[bytes], Verdict], raw: bytes, limit: float = 20.0) -> Verdict | str:
    """The verdict, or the exception's name (or 'timeout') as a string."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return adapter(raw)
    except Timeout:
        return "timeout"
    except Exception as error:
        return type(error).__name__
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def kinds(verdict: Verdict) -> set[str]:
    """The set of kinds in a verdict (empty: not a bounce)."""
    return set(verdict.values())


def measure(name: str, repeat: int) -> dict[str, Any]:
    """Accuracy, false alarms, crashes and time per message of one adapter."""
    adapter, expected = ADAPTERS[name], truth()
    files = {path.name: path.read_bytes() for path in sorted(CORPUS.iterdir())}
    kind_right = exact = 0
    crashes: list[str] = []
    false_alarms: list[str] = []
    missed: list[str] = []
    wrong: list[str] = []
    for file, raw in files.items():
        got = run(adapter, raw)
        if isinstance(got, str):
            crashes.append(f"{file}: {got}")
            continue
        want = expected[file]
        kind_right += kinds(got) == kinds(want)
        exact += got == want
        if got and not want:
            false_alarms.append(file)
        elif want and not got:
            missed.append(file)
        elif kinds(got) != kinds(want):
            wrong.append(file)
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        for raw in files.values():
            run(adapter, raw)
        timings.append((time.perf_counter() - started) / len(files))
    extreme: dict[str, str] = {}
    for case, raw in hostile().items():
        started = time.perf_counter()
        got = run(adapter, raw)
        elapsed = f"{(time.perf_counter() - started) * 1000:.0f} ms"
        extreme[case] = f"{got}, {elapsed}" if isinstance(got, str) else f"ok, {elapsed}"
    return {
        "kind_right": kind_right,
        "exact": None if name in ADDRESSLESS or name == "mail-parser" else exact,
        "false_alarms": false_alarms,
        "missed": missed,
        "wrong_kind": wrong,
        "crashes": crashes,
        "us_per_message": round(statistics.median(timings) * 1e6),
        "hostile": extreme,
    }


def main() -> None:
    """Print one JSON object per adapter."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--repeat", type=int, default=20)
    options.add_argument("--only", action="append", choices=sorted(ADAPTERS))
    args = options.parse_args()
    total = len(list(CORPUS.iterdir()))
    for name in args.only or ADAPTERS:
        result = measure(name, args.repeat)
        print(json.dumps({"parser": name, "files": total, **result}, ensure_ascii=False))


if __name__ == "__main__":
    main()

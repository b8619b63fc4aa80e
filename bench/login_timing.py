"""Does a failed login take as long for an unknown name as for a known one? (#11: medians
within 20%.) The unit test counts the work (tests/web/test_login.py); this times it.

Run from the repository root:  .venv/bin/python bench/login_timing.py --rounds 41
Each round times `digest.web.auth.check_login` once for a known name and once for an
unknown one, alternating which goes first, so that the machine's load falls on both alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `digest` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import SecretStr

from bench.report import machine
from digest.settings import Settings, generate_secret_key
from digest.web.auth import check_login, hash_password

TARGET = 0.20  # the medians within 20% of each other


def timed(settings: Settings, name: str) -> float:
    """Seconds one failed check of `name` takes."""
    start = time.perf_counter()
    assert not check_login(settings, name, "wrong password")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Time the two kinds of failed login, print the medians, their ratio and the verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    args = parser.parse_args(argv)
    settings = Settings(_env_file=None,  # type: ignore[call-arg]
                        secret_key=SecretStr(generate_secret_key()),
                        editor_accounts=f"sian:{hash_password('the real one')}")
    timed(settings, "warm-up")  # the dummy hash is made on the first unknown name
    known: list[float] = []
    unknown: list[float] = []
    for n in range(args.rounds):
        pair = [("sian", known), ("nobody", unknown)]
        for name, into in pair if n % 2 == 0 else reversed(pair):
            into.append(timed(settings, name))
    k, u = statistics.median(known), statistics.median(unknown)
    ratio = u / k
    verdict = "PASS" if abs(ratio - 1) <= TARGET else "FAIL"
    for line in machine():
        print(line)
    print(f"rounds: {args.rounds}; median known {k * 1000:.1f} ms, unknown {u * 1000:.1f} ms; "
          f"unknown/known {ratio:.3f}: {verdict} (within {TARGET:.0%})")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())

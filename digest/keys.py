"""DIGEST_SECRET_KEY: what a key that may sign tokens and sessions is, and a new one."""

from __future__ import annotations

import secrets
import zlib

# Keys that are (or were) public: in this repository's code, tests or documentation.
KNOWN_DEMO_KEYS = frozenset({
    "change-me-in-production-this-is-only-for-the-demo", "test-secret",
    "bench-secret-not-for-production", "<long random string>",
})
MIN_KEY_CHARS = 43  # 32 random bytes as URL-safe base64 (`digest secret-key` prints 64)
MIN_HEX_KEY_CHARS = 64  # 32 random bytes as hex
HOW_TO_MAKE_A_KEY = "make one with `digest secret-key` and set DIGEST_SECRET_KEY"


class InsecureSecretKey(ValueError):
    """DIGEST_SECRET_KEY is missing, public or too weak to sign anything with."""


def secret_key_problem(key: str | None) -> str | None:
    """Why `key` must not sign tokens and sessions (one line), or None if it will do."""
    if not key:
        return f"DIGEST_SECRET_KEY is not set: {HOW_TO_MAKE_A_KEY}"
    if key.strip() in KNOWN_DEMO_KEYS:
        return f"DIGEST_SECRET_KEY is a demo value published in the repository: {HOW_TO_MAKE_A_KEY}"
    hexadecimal = all(c in "0123456789abcdefABCDEF" for c in key)
    needed = MIN_HEX_KEY_CHARS if hexadecimal else MIN_KEY_CHARS
    # A repeated or patterned key compresses well; 32 random bytes in any text form do not.
    patterned = len(set(key)) < 10 or len(zlib.compress(key.encode(), 9)) < len(key) * 0.6
    if len(key) < needed or patterned:
        return (f"DIGEST_SECRET_KEY is too weak: it needs at least 32 random bytes "
                f"({MIN_KEY_CHARS} URL-safe or {MIN_HEX_KEY_CHARS} hex characters); "
                f"{HOW_TO_MAKE_A_KEY}")
    return None


def generate_secret_key() -> str:
    """A new random key (48 bytes, URL-safe base64: 64 characters)."""
    return secrets.token_urlsafe(48)

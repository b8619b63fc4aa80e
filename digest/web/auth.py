"""Editors' passwords (scrypt), the account list, and the login check with its throttle."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta
from functools import cache

from digest.audience import throttle
from digest.settings import SettingInvalid, Settings
from digest.store.models import ThrottleScope
from digest.text import one_line, unsafe_character, unstorable

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_NAME = 200
MAX_PASSWORD = 1024  # scrypt's cost does not depend on it, but there is no need for more


def password_problem(password: str) -> str | None:
    """Why a new editor password could never log in (`check_login` reads at most MAX_PASSWORD
    characters of what is typed, and a form sends text); None if it can be used."""
    if not password:
        return "is empty"
    if len(password) > MAX_PASSWORD:
        return f"is {len(password)} characters; the login reads at most {MAX_PASSWORD}"
    if unstorable(password):
        return "holds a NUL or bytes that are not UTF-8 text, which no login form sends"
    return None


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash`, for DIGEST_EDITOR_ACCOUNTS (see `password_problem`)."""
    if problem := password_problem(password):
        raise ValueError(f"the password {problem}")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of a password against a stored hash."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8", "surrogatepass"),
                             salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except ValueError:
        return False


@cache
def _dummy_hash() -> str:
    """A hash no password is known for, made once: unknown names are checked against it."""
    return hash_password(secrets.token_urlsafe(32))


def name_problem(name: str) -> str | None:
    """Why `name` cannot be an editor's login name (DIGEST_EDITOR_ACCOUNTS is `name:hash`
    entries joined by commas, and the login form trims what is typed); None if it can."""
    if not name.strip():
        return "is empty"
    if name != name.strip():
        return "starts or ends with a space, which the login form trims"
    if len(name) > MAX_NAME:
        return f"is {len(name)} characters; the login reads at most {MAX_NAME}"
    if "," in name or ":" in name:
        return "holds a comma or a colon, which DIGEST_EDITOR_ACCOUNTS uses to separate entries"
    if unsafe_character(name):
        return "holds a control or invisible character"
    return None


def hash_problem(stored: str) -> str | None:
    """Why `stored` is not a hash `verify_password` can check (each such account could never
    log in); None if it is one `hash_password` could have written."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return "is not a scrypt$n$r$p$salt$hash made by digest editor-password"
    n, r, p = (int(x) if x.isascii() and x.isdigit() else 0 for x in parts[1:4])
    # hashlib.scrypt refuses work needing more than its 32 MiB default (128·n·r bytes).
    if n < 2 or n & (n - 1) or not 1 <= r <= 64 or not 1 <= p <= 16 or 128 * n * r > 32 << 20:
        return "has scrypt costs (n, r, p) that the login cannot use"
    try:
        salt, digest = (base64.b64decode(x, validate=True) for x in parts[4:])
    except ValueError:
        return "has a salt or hash that is not base64"
    if not salt or len(digest) != 64:
        return "has a salt or hash of the wrong length"
    return None


def _entry_problem(name: str, stored: str, seen: dict[str, str]) -> str | None:
    if problem := name_problem(name):
        return f"the name {problem}"
    if not stored:
        return "has no hash after its name and a colon"
    if problem := hash_problem(stored):
        return f"the hash {problem}"
    return "gives a name given before" if name in seen else None


def accounts(settings: Settings) -> dict[str, str]:
    """Editor name -> password hash, from the settings; SettingInvalid names the entry that
    could never log in (no hash, a bad name or hash, a name given twice)."""
    out: dict[str, str] = {}
    for number, entry in enumerate(settings.editor_accounts.split(","), 1):
        if not entry.strip():
            continue
        name, _, stored = (part.strip() for part in entry.partition(":"))
        if problem := _entry_problem(name, stored, out):
            raise SettingInvalid("editor_accounts", f"entry {number} ({one_line(name)!r}) "
                                 f"{problem}; make one with: digest editor-password NAME")
        out[name] = stored
    return out


def check_login(settings: Settings, name: str, password: str) -> bool:
    """Whether the name and password match an editor account.

    An unknown name costs exactly what a known one does: one scrypt verification, here
    against a dummy hash, so the time taken does not tell which names exist.
    """
    stored = accounts(settings).get(name)
    ok = verify_password(password[:MAX_PASSWORD], stored or _dummy_hash())
    return ok and stored is not None


def login_limits(settings: Settings) -> tuple[throttle.Limit, throttle.Limit]:
    """Failed logins per account name and per client address, in one window."""
    window = timedelta(minutes=settings.login_window_minutes)
    return (throttle.Limit(ThrottleScope.LOGIN_ACCOUNT, settings.login_max_failures, window),
            throttle.Limit(ThrottleScope.LOGIN_CLIENT, settings.login_max_failures, window))


def account_key(name: str) -> str:
    """The throttle key of an account name (as typed, case-folded)."""
    return throttle.digest_key(name.strip().casefold())

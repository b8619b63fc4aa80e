"""Last touches to a finished message: the staging redirect and DKIM signing."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from digest.delivery.transports.base import Outgoing
from digest.settings import SettingInvalid, Settings, setting_file

MAX_KEY_BYTES = 1024 * 1024  # a PEM RSA key is a few KB (16,384 bits: about 13 KB)

MIN_KEY_BITS = 1024  # RFC 8301 3.2: verifiers must not accept smaller RSA keys
# Headers DKIM covers (RFC 8058 asks for the List-Unsubscribe pair to be signed).
SIGNED_HEADERS = [b"From", b"To", b"Subject", b"Date", b"Message-ID", b"List-Unsubscribe",
                  b"List-Unsubscribe-Post", b"MIME-Version", b"Content-Type"]


class Finisher:
    """Applies DIGEST_REDIRECT_ALL_TO and DKIM (when configured) to each message."""

    def __init__(self, settings: Settings, *, redirect: bool = True) -> None:
        self.redirect_to = settings.redirect_all_to if redirect else None
        # dkim.sign with this selector, domain and key bound: None when not signing.
        self.sign: Callable[[bytes], bytes] | None = None
        if settings.dkim_selector and settings.dkim_private_key_path:
            import dkim  # only when signing: dkimpy and dnspython take a while to import

            self.sign = functools.partial(
                dkim.sign, selector=settings.dkim_selector.encode(),
                domain=(settings.dkim_domain or settings.sender_domain).encode(),
                privkey=_private_key(settings.dkim_private_key_path),
                include_headers=SIGNED_HEADERS)

    def finish(self, message: Outgoing) -> Outgoing:
        """Return the message redirected and/or signed; unchanged if neither is configured."""
        prefix = b""
        recipient = message.recipient
        if self.redirect_to:
            prefix += f"X-Digest-Original-To: {message.recipient}\r\n".encode("ascii")
            recipient = self.redirect_to
        if self.sign is not None:
            prefix = self.sign(prefix + message.data) + prefix
        if not prefix and recipient == message.recipient:
            return message
        # Header lines never start with a dot, so the stuffed body can be reused as is.
        wire = prefix + message.wire if message.wire is not None else None
        return replace(message, recipient=recipient, data=prefix + message.data, wire=wire)


def _private_key(path: Path) -> bytes:
    """The DKIM key file's bytes, checked: a key that cannot be read or parsed is a setting
    that cannot be used, found before a send writes anything (not at its first message)."""
    from dkim.crypto import UnparsableKeyError, parse_pem_private_key

    data = setting_file("dkim_private_key_path", path, max_bytes=MAX_KEY_BYTES)
    try:
        bits = int(parse_pem_private_key(data)["modulus"]).bit_length()
    except (UnparsableKeyError, ValueError, IndexError, TypeError, KeyError):
        raise SettingInvalid("dkim_private_key_path",
                             f"{path}: not a PEM RSA private key") from None
    if bits < MIN_KEY_BITS:  # it signed, and receivers ignored every signature
        raise SettingInvalid("dkim_private_key_path",
                             f"{path}: a {bits}-bit key; receivers ignore signatures made "
                             f"with fewer than {MIN_KEY_BITS} bits (RFC 8301): use 2048")
    return data

"""The bounce mailbox over IMAP: read with BODY.PEEK[], then move each message out when told.

Processed mail goes to `processed_folder` (marked \\Seen) and mail a person must look at to
`held_folder` (left unread); both are created and subscribed on first use. Folder names are
written with "/" and translated to the server's hierarchy delimiter and personal namespace
("digest/processed" is "digest.processed" on a Maildir++ Dovecot, "INBOX.digest.processed" on
Courier). Security is "tls" (implicit, port 993), "starttls" (port 143) or "none", which is
refused for any host but loopback because it would send the password in clear.
"""

from __future__ import annotations

import imaplib
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal

from imapclient import DELETED, SEEN, IMAPClient  # type: ignore[import-untyped]
from imapclient.exceptions import LoginError  # type: ignore[import-untyped]

from digest.bounces.sources.base import (
    HEADER_PREVIEW_BYTES,
    ClosedOnExit,
    Incoming,
    SourceError,
    header_block,
)
from digest.network import socket_failure, speaks_tls, text_of
from digest.paths import UnusableFile, check_file

Security = Literal["tls", "starttls", "none"]
_SIZE_CHUNK = 500  # UIDs per RFC822.SIZE fetch: keeps command lines far below server limits


class IMAPSource(ClosedOnExit):
    """A `Source` over one IMAP mailbox, on one connection opened on first use."""

    def __init__(self, host: str, *, username: str, password: str, port: int | None = None,
                 security: Security = "tls", ca_file: Path | str | None = None,
                 mailbox: str = "INBOX", processed_folder: str = "digest/processed",
                 held_folder: str = "digest/held", max_message_bytes: int = 10 * 1024 * 1024,
                 batch_messages: int = 100, batch_bytes: int = 8 * 1024 * 1024,
                 timeout: float = 30) -> None:
        self.host = host
        self.port = port or (993 if security == "tls" else 143)
        self.security: Security = security
        self.username = username
        self._password = password
        self.ca_file = Path(ca_file) if ca_file is not None else None
        self.mailbox = mailbox
        self.folders = {"processed": processed_folder, "held": held_folder}
        self.max_message_bytes = max_message_bytes
        self.batch_messages = max(1, batch_messages)
        self.batch_bytes = batch_bytes
        self.timeout = timeout
        if security == "none" and not _is_loopback(host):
            raise self._error("security 'none' would send the password in clear; "
                              "use 'tls' or 'starttls' (plain IMAP is allowed on loopback only)",
                              temporary=False)
        self._check_folders()
        self._client: Any = None  # IMAPClient, connected, logged in, `mailbox` selected
        self._uidvalidity = 0
        self._resolved: dict[str, str] = {}
        self._can_move = False
        self._uidplus = False

    def __repr__(self) -> str:
        return f"IMAPSource({self.host}:{self.port}, {self.username!r}, {self.mailbox!r})"

    def _check_folders(self) -> None:
        """Refuse (permanently) a folder name that is empty or holds a control character, and
        two roles naming one folder: mail moved into the mailbox it came from is read again on
        every poll, and held mail among processed mail is never found. Names are compared as
        the server would: "/"-parts, INBOX in any case."""
        named = {"mailbox": self.mailbox, "processed folder": self.folders["processed"],
                 "held folder": self.folders["held"]}
        seen: dict[str, str] = {}
        for role, name in named.items():
            key = _folder_key(name, "/" if role != "mailbox" else "")
            if not key or any(c < " " or c == "\x7f" for c in name):
                raise self._error(f"{role} {name!r} is not a folder name: it must be non-empty "
                                  "and without control characters", temporary=False)
            if key in seen:
                raise self._error(f"{role} {name!r} is the same folder as the {seen[key]}; "
                                  "the mailbox, processed and held folders must differ",
                                  temporary=False)
            seen[key] = role

    def poll(self) -> Iterator[Incoming]:
        """Yield every message in the mailbox not marked \\Deleted, in UID order."""
        client = self._ensure()
        with self._errors("search"):
            client.noop()  # lets the server announce mail that arrived since the last poll
            if not self._can_move:
                self._expunge_leftovers(client)
            uids = sorted(client.search(["NOT", "DELETED"]))
            sizes: dict[int, int] = {}
            for start in range(0, len(uids), _SIZE_CHUNK):
                chunk = client.fetch(uids[start:start + _SIZE_CHUNK], ["RFC822.SIZE"])
                sizes.update({uid: int(data[b"RFC822.SIZE"]) for uid, data in chunk.items()})
        validity = self._uidvalidity
        for batch in self._batches([uid for uid in uids if uid in sizes], sizes):
            self._ensure()  # reconnects if a failed done() dropped the connection meanwhile
            if self._uidvalidity != validity:
                return  # the mailbox was recreated: these UIDs name other messages now
            yield from self._fetch(batch, sizes)

    def done(self, key: str) -> None:
        """Move the message to the processed folder, marked \\Seen."""
        self._move(key, "processed")

    def held(self, key: str) -> None:
        """Move the message, still unread, to the held folder for a person to read."""
        self._move(key, "held")

    def close(self) -> None:
        """Log out; a connection that is already broken is just dropped."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            _shutdown(client)

    def _error(self, what: str, *, temporary: bool = True) -> SourceError:
        line = " ".join(what.split())
        return SourceError(f"imap {self.host}:{self.port}: {line[:300]}", temporary=temporary)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn any failure into a one-line SourceError; a failed connection is dropped."""
        try:
            yield
        except SourceError:
            raise
        except (OSError, imaplib.IMAP4.error) as exc:
            client, self._client = self._client, None
            if client is not None:
                _shutdown(client)
            raise self._error(_describe(action, exc, self.timeout),
                              temporary=_is_temporary(action, exc)) from exc

    def _ensure(self) -> Any:
        if self._client is not None:
            return self._client
        context = None
        if self.security != "none":
            if self.ca_file is not None:  # a FIFO would block OpenSSL's read; a folder, fail
                try:
                    check_file(self.ca_file)
                except UnusableFile as exc:
                    raise self._error(f"setting DIGEST_BOUNCE_IMAP_CA_FILE: {exc}",
                                      temporary=False) from None
            with self._errors(f"loading CA file {self.ca_file}" if self.ca_file else "TLS setup"):
                cafile = str(self.ca_file) if self.ca_file else None
                context = ssl.create_default_context(cafile=cafile)
        try:
            with self._errors("connect"):
                client = IMAPClient(self.host, self.port, ssl=self.security == "tls",
                                    ssl_context=context, timeout=self.timeout)
        except SourceError as failed:
            misfit = self._misfit(failed.__cause__)
            if misfit is None:
                raise
            raise self._error(misfit, temporary=False) from failed.__cause__
        self._client = client  # from here on, _errors() shuts it down on failure
        if self.security == "starttls":
            with self._errors("STARTTLS"):
                client.starttls(context)
        with self._errors("login"):
            client.login(self.username, self._password)
        with self._errors("setup"):
            self._can_move = client.has_capability("MOVE")
            self._uidplus = client.has_capability("UIDPLUS")
            self._resolved = {role: self._resolve(client, name)
                              for role, name in self.folders.items()}
            if _folder_key(self.mailbox) in {_folder_key(f) for f in self._resolved.values()}:
                raise self._error(f"mailbox {self.mailbox!r} is also the processed or held "
                                  f"folder on this server ({', '.join(self._resolved.values())})",
                                  temporary=False)
            for folder in self._resolved.values():
                _create(client, folder)
        with self._errors(f"select {self.mailbox}"):
            self._uidvalidity = int(client.select_folder(self.mailbox)[b"UIDVALIDITY"])
        return client

    def _misfit(self, exc: BaseException | None) -> str | None:
        """Why connecting failed when DIGEST_BOUNCE_IMAP_SECURITY does not fit the port, made
        sure of by a second short look; None for any other failure (it may pass by itself)."""
        if self.security != "tls" and isinstance(exc, TimeoutError | imaplib.IMAP4.abort) \
                and speaks_tls(self.host, self.port, self.timeout):
            return ("sent no IMAP greeting but answers TLS: it is an implicit-TLS port, set "
                    "DIGEST_BOUNCE_IMAP_SECURITY=tls")
        if self.security == "tls" and isinstance(exc, ssl.SSLError) \
                and not isinstance(exc, ssl.SSLCertVerificationError) \
                and _greets_in_plain(self.host, self.port, self.timeout):
            return ("answered the TLS hello in plain IMAP: it is a plain port, not an "
                    "implicit-TLS one: set DIGEST_BOUNCE_IMAP_SECURITY=starttls, or use the "
                    "server's implicit-TLS port (usually 993)")
        return None

    def _resolve(self, client: Any, name: str) -> str:
        """A "/"-separated folder name in the server's own delimiter and namespace."""
        prefix, delimiter = "", "/"
        personal = client.namespace().personal if client.has_capability("NAMESPACE") else None
        if personal:
            prefix, delimiter = personal[0]
        else:
            listed = client.list_folders("", "")  # LIST "" "" answers with the delimiter
            delimiter = text_of(listed[0][1]) if listed and listed[0][1] else "/"
        delimiter = delimiter or "/"  # NIL: a flat namespace; "/" is as good as any
        folder = delimiter.join(part for part in name.split("/") if part)
        return folder if folder.startswith(prefix) else prefix + folder

    def _batches(self, uids: list[int], sizes: dict[int, int]) -> Iterator[list[int]]:
        batch: list[int] = []
        total = 0  # bytes in `batch`: bounds the memory one FETCH reply takes
        for uid in uids:
            size = min(sizes[uid], self.max_message_bytes)
            if batch and (len(batch) >= self.batch_messages or total + size > self.batch_bytes):
                yield batch
                batch, total = [], 0
            batch.append(uid)
            total += size
        if batch:
            yield batch

    def _fetch(self, uids: list[int], sizes: dict[int, int]) -> Iterator[Incoming]:
        small = [uid for uid in uids if sizes[uid] <= self.max_message_bytes]
        large = [uid for uid in uids if sizes[uid] > self.max_message_bytes]
        preview = min(HEADER_PREVIEW_BYTES, self.max_message_bytes)
        with self._errors("fetch"):
            # PEEK: nothing is marked \Seen before the caller has dealt with it.
            bodies = self._client.fetch(small, ["BODY.PEEK[]"]) if small else {}
            heads = self._client.fetch(
                large, [f"BODY.PEEK[HEADER]<0.{preview}>"]) if large else {}
        for uid in uids:
            key = f"{self._uidvalidity}:{uid}"
            raw = bodies.get(uid, {}).get(b"BODY[]")
            # The body was not fetched: the size and UID tell apart two that start alike.
            fingerprint = f"imap {self.host} {self.mailbox} {key} {sizes[uid]} bytes"
            if raw is not None and len(raw) <= self.max_message_bytes:
                yield Incoming(key, raw)
            elif uid in heads or raw is not None:
                head = next((value for name, value in heads.get(uid, {}).items()
                             if name.startswith(b"BODY[HEADER]")), None)  # "...<0>" or not
                yield Incoming(key, head if head is not None else header_block(raw or b"", preview),
                               problem=f"message of {sizes[uid]} bytes is over the "
                                       f"{self.max_message_bytes}-byte limit; only its headers "
                                       "were read", fingerprint=fingerprint)
            elif uid in bodies:
                yield Incoming(key, b"", problem="the server returned no content for it",
                               fingerprint=fingerprint)
            # else: expunged meanwhile by another client, so not ours to report

    def _move(self, key: str, role: str) -> None:
        validity, _, uid_text = key.partition(":")
        if not uid_text.isdigit() or not validity.isdigit():
            raise ValueError(f"not a key from this source: {key!r}")
        client = self._ensure()
        if int(validity) != self._uidvalidity:
            raise self._error(f"{self.mailbox} was recreated (UIDVALIDITY changed); message "
                              f"{key} was not moved and will be read again")
        uid, folder = int(uid_text), self._resolved[role]
        with self._errors(f"move to {folder}"):
            if role == "processed":
                client.add_flags([uid], [SEEN], silent=True)
            if self._can_move:
                client.move([uid], folder)
                return
            # Without MOVE: a crash after COPY leaves the message in both folders; the next
            # poll skips it if \Deleted was set, else reads it again (deduped by the caller).
            client.copy([uid], folder)
            client.add_flags([uid], [DELETED], silent=True)
            if self._uidplus:
                client.uid_expunge([uid])
            else:
                client.expunge()

    def _expunge_leftovers(self, client: Any) -> None:
        """Finish moves interrupted between COPY+\\Deleted and EXPUNGE (copy already made)."""
        if self._uidplus:
            leftovers = client.search(["DELETED"])
            if leftovers:
                client.uid_expunge(leftovers)
        else:
            client.expunge()  # side effect: expunges anything marked \Deleted in the mailbox


def _folder_key(name: str, delimiter: str = "") -> str:
    """A folder name as the server tells folders apart: split on `delimiter` ("/" for the
    settings' names; none for a name in the server's own form), empty parts dropped, and INBOX
    in any case (RFC 3501 5.1) written INBOX."""
    parts = [part for part in (name.split(delimiter) if delimiter else [name.strip()]) if part]
    if parts and parts[0].upper() == "INBOX":
        parts[0] = "INBOX"
    return "/".join(parts)


def _create(client: Any, folder: str) -> None:
    if not client.folder_exists(folder):
        try:
            client.create_folder(folder)
        except imaplib.IMAP4.error:
            if not client.folder_exists(folder):  # else another poller created it first
                raise
    client.subscribe_folder(folder)  # so that people's mail clients show the held folder


def _shutdown(client: Any) -> None:
    with suppress(OSError):
        client.shutdown()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _greets_in_plain(host: str, port: int, timeout: float) -> bool:
    """Whether host:port sends an IMAP greeting (`* OK`, `* PREAUTH`) in plain text."""
    try:
        with socket.create_connection((host, port), timeout) as sock:
            return sock.makefile("rb").readline(1024).startswith((b"* OK", b"* PREAUTH"))
    except OSError:
        return False


def _is_temporary(action: str, exc: BaseException) -> bool:
    """Whether a failure may pass by itself: not a refused login, certificate or CA file."""
    permanent = isinstance(exc, LoginError | ssl.SSLCertVerificationError)
    return not permanent and not action.startswith("loading CA file")


def _describe(action: str, exc: BaseException, timeout: float) -> str:
    """What went wrong, for one line; the server's words, never the password."""
    if isinstance(exc, LoginError):
        return f"login failed ({_server_text(exc)})"
    if isinstance(exc, imaplib.IMAP4.abort):
        return f"closed the connection during {action} ({_server_text(exc)})"
    return (socket_failure(exc, during=action, timeout=timeout)
            or f"{action} failed ({_server_text(exc)})")


def _server_text(exc: BaseException) -> str:
    first = exc.args[0] if exc.args else ""
    text = text_of(first) if isinstance(first, bytes | str) else str(first)
    match = re.fullmatch(r"b(['\"])(.*)\1", text)  # imapclient re-wraps bytes as "b'...'"
    return match.group(2) if match else text or exc.__class__.__name__

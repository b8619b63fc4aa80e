"""A real Dovecot IMAP server on loopback, for the bounce-mailbox tests.

One server per test session (starts in ~0.05 s on first use, stops in ~1 s), with a
throwaway configuration, TLS certificate and state under a short temporary directory (unix
socket paths must stay under 108 bytes, which pytest's tmp_path does not guarantee). Each test
gets its own user and maildir: a static passdb accepts any user name with the session's password
(Dovecot rereads a passwd-file at most once a second, too slowly for a user per test).

Dovecot refuses mail access as root and runs its login processes unprivileged: as root the
mail processes run as the `dovecot` user and logins as `dovenull` (both created by the Debian
package), so the directory is made over to `dovecot`; as any other user everything runs as
that user.
"""

from __future__ import annotations

import datetime as dt
import grp
import ipaddress
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from imapclient import IMAPClient  # type: ignore[import-untyped]

from tests.conftest import skip_or_fail

DOVECOT = Path(os.environ.get("DIGEST_TEST_DOVECOT", "/usr/sbin/dovecot"))
HOWTO = (f"Dovecot not found at {DOVECOT}; install it with "
         "`DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd` "
         "(the package's service need not run) or point DIGEST_TEST_DOVECOT at the binary")
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Stored:
    """A message as it sits in a folder."""

    raw: bytes
    flags: frozenset[str]


@dataclass(frozen=True)
class Dovecot:
    """One test's account on the running server; `port` is plain IMAP (STARTTLS offered)."""

    host: str
    port: int
    tls_port: int
    user: str
    password: str
    ca_file: Path
    maildir: Path

    def client(self) -> IMAPClient:
        """A logged-in plain-IMAP client for setting up and inspecting the mailbox."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> int:
        """APPEND one raw message to `folder`; returns its UID."""
        with self.client() as client:
            reply = client.append(folder, raw)
        # b"[APPENDUID <uidvalidity> <uid>] Append completed."
        return int(reply.split(b"]")[0].split()[-1])

    def read(self, folder: str = "INBOX") -> list[Stored]:
        """What `folder` holds (server spelling, e.g. "digest.held"), without marking it read."""
        with self.client() as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            found = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]", "FLAGS"])
        return [Stored(data[b"BODY[]"],
                       frozenset(f.decode() for f in data[b"FLAGS"] if f != b"\\Recent"))
                for _, data in sorted(found.items())]


def free_port() -> int:
    """A TCP port that is free on loopback right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost: (ca, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "digest test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    paths[2].chmod(0o600)
    return paths


class DovecotServer:
    """`dovecot -F` with a configuration of its own; `add_user` names an isolated account."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="dovecot-", dir="/tmp"))
        self.base.chmod(0o755)  # the unprivileged login processes must reach base/run
        self.port, self.tls_port = free_port(), free_port()
        self.ca_file, cert, key = write_certificates(self.base)
        self.password = secrets.token_urlsafe(12)
        self.log = self.base / "dovecot.log"
        (self.base / "home").mkdir()
        me = pwd.getpwuid(os.getuid())
        if me.pw_uid == 0:
            mail, login = pwd.getpwnam("dovecot"), pwd.getpwnam("dovenull")
            os.chown(self.base / "home", mail.pw_uid, mail.pw_gid)
        else:
            mail = login = me
        dh = Path("/usr/share/dovecot/dh.pem")
        self.conf = self.base / "dovecot.conf"
        self.conf.write_text(f"""\
instance_name = digest-test-{self.base.name}
base_dir = {self.base}/run
state_dir = {self.base}/state
log_path = {self.log}
protocols = imap
listen = {HOST}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
{f"ssl_dh = <{dh}" if dh.exists() else ""}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {mail.pw_name}
default_internal_group = {_group(mail)}
default_login_user = {login.pw_name}
mail_uid = {mail.pw_uid}
mail_gid = {mail.pw_gid}
first_valid_uid = {mail.pw_uid}
first_valid_gid = {mail.pw_gid}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
}}
passdb {{
  driver = static
  args = password={self.password}
}}
userdb {{
  driver = static
  args = home={self.base}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
""")
        self._users = itertools.count(1)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, wait: float = 15) -> DovecotServer:
        """Start the server and wait until both ports accept connections."""
        self._process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait
        for port in (self.port, self.tls_port):
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(f"dovecot exited with {self._process.returncode}:\n"
                                       f"{self.log_tail()}")
                try:
                    socket.create_connection((HOST, port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"dovecot not listening on {port}:\n"
                                           f"{self.log_tail()}") from None
                    time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop the server and delete its directory."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        """The end of Dovecot's log, for failure messages."""
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def add_user(self) -> Dovecot:
        """A new account with an empty mailbox."""
        user = f"user{next(self._users)}"
        return Dovecot(HOST, self.port, self.tls_port, user, self.password, self.ca_file,
                       self.base / "home" / user / "Maildir")


def _group(user: pwd.struct_passwd) -> str:
    return grp.getgrgid(user.pw_gid).gr_name


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    """The session's Dovecot server (skipped, or failed under DIGEST_TEST_STRICT, if absent)."""
    if not os.access(DOVECOT, os.X_OK):
        skip_or_fail(HOWTO)
    if os.getuid() == 0:
        try:
            pwd.getpwnam("dovecot")
            pwd.getpwnam("dovenull")
        except KeyError:
            skip_or_fail("running as root needs the dovecot and dovenull users; " + HOWTO)
    server = DovecotServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def dovecot(dovecot_server: DovecotServer) -> Dovecot:
    """A fresh account (user, password, empty maildir) on the session's Dovecot."""
    return dovecot_server.add_user()

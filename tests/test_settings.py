"""The secret key's rules, and what the site URL decides (https, hosts, origin)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from digest.settings import (
    KNOWN_DEMO_KEYS,
    VERP_SUFFIX,
    InsecureSecretKey,
    Settings,
    generate_secret_key,
    secret_key_problem,
)
from digest.tokens import Tokens


def bare(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", [
    generate_secret_key(), secrets.token_urlsafe(32), secrets.token_hex(32),
    secrets.token_urlsafe(32).replace("-", "+").replace("_", "/") + "=",  # openssl rand -base64
], ids=["generate_secret_key", "urlsafe-32-bytes", "hex-32-bytes", "base64-32-bytes"])
def test_keys_of_32_random_bytes_or_more_are_accepted(key: str) -> None:
    assert secret_key_problem(key) is None
    assert Tokens(bare(secret_key=SecretStr(key))).make_expiring(1)


@pytest.mark.parametrize(("key", "reason"), [
    (None, "is not set"), ("", "is not set"),
    *[(k, "demo value") for k in sorted(KNOWN_DEMO_KEYS)],
    pytest.param(secrets.token_urlsafe(31)[:42], "too weak", id="urlsafe-31-bytes"),
    # hex: 62 characters hold only 31 bytes
    pytest.param(secrets.token_hex(31), "too weak", id="hex-31-bytes"),
    ("a" * 80, "too weak"), ("abcdefghij" * 8, "too weak"), ("0123456789" * 7, "too weak"),
])
def test_missing_public_or_weak_keys_are_refused_in_one_line(key: str | None,
                                                             reason: str) -> None:
    problem = secret_key_problem(key)
    assert problem is not None and reason in problem and "\n" not in problem
    assert "digest secret-key" in problem
    settings = bare(secret_key=None if key is None else SecretStr(key))
    with pytest.raises(InsecureSecretKey):
        Tokens(settings)


def test_there_is_no_default_key() -> None:
    assert bare().secret_key is None
    with pytest.raises(InsecureSecretKey, match="not set"):
        bare().signing_key()


def test_generated_keys_differ() -> None:
    assert len({generate_secret_key() for _ in range(5)}) == 5


def test_the_site_url_decides_https_hosts_and_origin() -> None:
    https = bare(site_url="https://Digest.Example.org/", trusted_hosts=" www.example.org, ")
    assert https.https and https.site_origin == "https://Digest.Example.org"
    assert https.allowed_hosts == {"digest.example.org", "www.example.org"}
    local = bare(site_url="http://127.0.0.1:8000")
    assert not local.https and local.allowed_hosts == {"127.0.0.1"}


@pytest.mark.parametrize("url", ["ftp://digest.example.org", "digest.example.org",
                                 "https://", "https:///path", "javascript:alert(1)",
                                 "https://digest.example.org/?utm=x",
                                 "https://digest.example.org/#top",
                                 "https://user:pw@digest.example.org",
                                 "https://digest.example.org:abc/",
                                 "https://digest.example.org:99999/",
                                 "https://digest.example.org:0/"])
def test_a_site_url_links_cannot_be_built_on_is_refused(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        bare(site_url=url)
    assert info.value.errors()[0]["loc"] == ("site_url",)


@pytest.mark.parametrize("url", ["https://digest.example.org", "http://127.0.0.1:8000",
                                 "https://example.org/digest/", "https://[::1]:8443"])
def test_a_site_url_with_a_host_is_kept(url: str) -> None:
    assert bare(site_url=url).site_url == url


@pytest.mark.parametrize("zone", ["Mars/Base", "", "Europe", "../../etc/passwd",
                                  "/etc/localtime", "Europe/London\x00"])
def test_an_unknown_time_zone_is_refused_at_load(zone: str) -> None:
    with pytest.raises(ValidationError) as info:
        bare(timezone=zone)
    assert "IANA time zone" in str(info.value)


def test_known_time_zones_are_kept() -> None:
    assert bare(timezone="Europe/London").tz.key == "Europe/London"
    assert bare(timezone="UTC").tz.key == "UTC"


PATHS = sorted(name for name, info in Settings.model_fields.items()
               if "Path" in str(info.annotation))
FOLDERS = ["content_dir", "templates_dir", "var_dir"]


def test_every_path_setting_is_covered() -> None:
    assert sorted({*FOLDERS, "smtp_ca_file", "bounce_imap_ca_file",
                   "dkim_private_key_path"}) == PATHS


@pytest.mark.parametrize("value", ["", "  "])
@pytest.mark.parametrize("name", FOLDERS)
def test_an_empty_folder_setting_is_refused_not_taken_as_the_current_one(
        name: str, value: str) -> None:
    """`DIGEST_VAR_DIR=` in a .env was Path(""), the current directory: the outbox and the
    previews went wherever the command ran."""
    with pytest.raises(ValidationError, match="must name a folder"):
        bare(**{name: value})


@pytest.mark.parametrize("value", ["", " "])
@pytest.mark.parametrize("name", sorted(set(PATHS) - set(FOLDERS)))
def test_an_empty_optional_file_setting_is_unset(name: str, value: str) -> None:
    """Path("") was truthy: an empty DIGEST_SMTP_CA_FILE= was loaded as the CA file `.`."""
    assert getattr(bare(**{name: value}), name) is None


def test_a_templates_folder_without_the_templates_is_refused_at_load(tmp_path: Path) -> None:
    """It failed at the first render (`'email.mjml.j2' not found`), naming no setting."""
    (tmp_path / "email").mkdir()
    with pytest.raises(ValidationError, match="has no web/, feeds/ folder"):
        bare(templates_dir=tmp_path)
    for part in ("web", "feeds"):
        (tmp_path / part).mkdir()
    assert bare(templates_dir=tmp_path).templates_dir == tmp_path


def test_a_var_dir_that_is_a_file_is_refused_at_load(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("x")
    with pytest.raises(ValidationError, match="is not a folder"):
        bare(var_dir=tmp_path / "var")
    assert bare(var_dir=tmp_path / "new").var_dir == tmp_path / "new"  # made when needed


NUMBERS = sorted(name for name, info in Settings.model_fields.items()
                 if str(info.annotation) in ("<class 'int'>", "<class 'float'>", "int | None"))


def test_every_number_has_a_lower_and_an_upper_bound() -> None:
    """A duration or a count far past any use overflows a timedelta, a C int or a database
    integer where it is used, far from the setting: each is refused at load instead."""
    from annotated_types import Ge, Gt, Le

    assert len(NUMBERS) == 35  # every int and float setting (a new one is checked too)
    for name in NUMBERS:
        metadata = Settings.model_fields[name].metadata
        assert any(isinstance(m, Le) for m in metadata), f"{name} has no upper bound"
        assert any(isinstance(m, Ge | Gt) for m in metadata), f"{name} has no lower bound"


@pytest.mark.parametrize("name", NUMBERS)
def test_a_huge_or_negative_number_is_refused_naming_its_setting(name: str) -> None:
    for value in (10**12, -1):
        with pytest.raises(ValidationError) as info:
            bare(**{name: value})
        assert [e["loc"] for e in info.value.errors()] == [(name,)]


@pytest.mark.parametrize("name", NUMBERS)
def test_a_number_in_the_environment_must_be_ascii_digits(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """int() and float() also read `1_0` as 10 and other scripts' digits (`٣`, `３`)."""
    info = Settings.model_fields[name]
    whole = "float" not in str(info.annotation)
    for value in ("1_0", "\u0663", "\uff13", "0x10", "1 0", "3\u200b", "ten"):
        monkeypatch.setenv(f"DIGEST_{name.upper()}", value)
        with pytest.raises(ValidationError) as refused:
            Settings(_env_file=None)  # type: ignore[call-arg]
        assert [e["loc"] for e in refused.value.errors()] == [(name,)], value
        assert "in ASCII digits" in refused.value.errors()[0]["msg"], value
    kept = info.default if info.default is not None else 3
    for spelled in (f"{kept}", f" {kept} ", f"+{kept}"):
        monkeypatch.setenv(f"DIGEST_{name.upper()}", spelled)
        got = getattr(Settings(_env_file=None), name)  # type: ignore[call-arg]
        assert got == kept and isinstance(got, int if whole else float), spelled


@pytest.mark.parametrize(("name", "value", "words"), [
    ("sender_email", "nope", "must have an @-sign"),
    ("sender_email", "digest@", "after the @-sign"),
    ("reply_to", "x", "'x' is not an email address"),
    ("envelope_from", "a@@example.org", "is not an email address"),
    ("redirect_all_to", "qa@bücher.de", "write it as qa@xn--bcher-kva.de"),
    ("bounce_address", "bounces@example..org", "is not an email address"),
    ("editors", "ed@example.org, not-an-address", "'not-an-address' is not an email address"),
    ("editors", "ed@example.org;other@example.org", "is not an email address"),
])
def test_an_address_setting_must_be_an_address(name: str, value: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        bare(**{name: value})
    assert info.value.errors()[0]["loc"] == (name,) and words in str(info.value)


def test_good_addresses_are_kept_as_written() -> None:
    kept = bare(sender_email="Digest@Example.org", reply_to="golygydd+digest@example.cymru",
                editors="a@example.org, b@example.net,", bounce_address="bounces@example.org")
    assert kept.sender_email == "Digest@Example.org"
    assert kept.editor_addresses == ["a@example.org", "b@example.net"]


@pytest.mark.parametrize("url", ["postgresql://u@127.0.0.1:abc/db", "postgresql://u@h:0/db",
                                 "postgresql://u@h:99999/db", "postgresql+psycopg://u@h:-1/db",
                                 "postgresql://u@[::1]:x/db"])
def test_a_database_url_with_a_bad_port_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="port must be a number from 1 to 65535"):
        bare(database_url=url)


@pytest.mark.parametrize("url", ["postgresql://u@127.0.0.1:5432/db", "postgresql://u@h/db",
                                 "postgresql://u@[::1]:5432/db", "postgresql://u@h1:1,h2:2/db",
                                 "sqlite:///var/x.db"])
def test_good_database_urls_are_kept(url: str) -> None:
    assert bare(database_url=url).database_url == url


@pytest.mark.parametrize(("address", "usable"), [
    ("bounces@example.org", True), ("b=c@example.org", True), ("b.c-d_e@example.org", True),
    ("b" * 37 + "@example.org", True), ("b" * 38 + "@example.org", False),
    ("bounces+x@example.org", False), ("+@example.org", False), ("bounces+@example.org", False),
])
def test_the_bounce_address_setting_takes_exactly_the_verp_bases_a_send_can_use(
        address: str, usable: bool) -> None:
    from digest.delivery import verp

    try:
        verp.envelope_sender(address, "a" * verp.MAX_TAG)
        sendable = True
    except ValueError:
        sendable = False
    assert sendable is usable
    if usable:
        assert Settings(_env_file=None, bounce_address=address).bounce_address == address  # type: ignore[call-arg]
    else:
        with pytest.raises(ValidationError, match="bounce_address"):
            Settings(_env_file=None, bounce_address=address)  # type: ignore[call-arg]
    assert VERP_SUFFIX == verp.MAX_TAG + 1


@pytest.mark.parametrize(("host", "words"), [
    ("mail example.org", "must not contain spaces"),
    ("", "must name a host"),
    ("a..b", "not a host name"),  # it was an internal error (UnicodeError) at the first message
    ("smtp.example.org:587", "the port is a setting of its own"),
    ("127.0.0.1:25", "the port is a setting of its own"),
    ("smtp://mail.example.org", "not an address with a scheme"),
    ("[::1]", "write it without the brackets: ::1"),
    ("mäil.example.org", "write it as xn--mil-qla.example.org"),
    ("-bad.example.org", "not a host name"),
])
def test_a_relay_host_that_is_no_host_name_is_refused_at_load(host: str, words: str) -> None:
    """Each was "could not be found" (or an internal error) once a send had begun."""
    with pytest.raises(ValidationError) as info:
        bare(smtp_host=host)
    assert info.value.errors()[0]["loc"] == ("smtp_host",) and words in str(info.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "smtp.example.org",
                                  "smtp.example.org.", "xn--mil-qla.example.org", "mx_1.lan"])
def test_relay_hosts_are_kept(host: str) -> None:
    assert bare(smtp_host=host).smtp_host == host


def test_a_user_name_and_a_password_come_together_and_the_refusal_never_shows_the_password(
        ) -> None:
    """A password alone was silently no AUTH; a user name alone an AUTH with no password."""
    with pytest.raises(ValidationError) as alone:
        bare(smtp_password="s3cret-pass")
    assert alone.value.errors()[0]["loc"] == ("smtp_username",)
    assert "DIGEST_SMTP_PASSWORD is set" in str(alone.value)
    assert "s3cret-pass" not in str(alone.value)
    for password in (None, ""):
        with pytest.raises(ValidationError, match="DIGEST_SMTP_PASSWORD is not"):
            bare(smtp_username="digest", smtp_password=password)
    assert bare(smtp_username="", smtp_password="").smtp_username is None  # both empty: unset
    both = bare(smtp_username="digest", smtp_password="s3cret-pass")
    assert both.smtp_password is not None and both.smtp_username == "digest"


def test_a_ca_file_must_hold_a_certificate(tmp_path: Path,
                                           certificate: tuple[Path, Path]) -> None:
    """It was "TLS failed during connect (NO_CERTIFICATE_OR_CRL_FOUND)" or "connect failed
    (No such file or directory)" at the first connection, naming neither file nor setting."""
    text = tmp_path / "notes.txt"
    text.write_text("not a certificate\n")
    binary = tmp_path / "der.crt"
    binary.write_bytes(b"0\x82\x03\xff\xfe")
    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo)  # OpenSSL's own open waited on it for ever
    for field in ("smtp_ca_file", "bounce_imap_ca_file"):
        for path, words in [(text, "holds no PEM certificate"), (certificate[1], "holds no PEM"),
                            (binary, "holds no PEM certificate (not ASCII text)"),
                            (tmp_path / "gone.pem", "no such file or folder"),
                            (tmp_path, "is a folder"), (fifo, "is a FIFO")]:
            with pytest.raises(ValidationError) as info:
                bare(**{field: path})
            assert info.value.errors()[0]["loc"] == (field,)
            assert str(path) in str(info.value) and words in str(info.value), str(info.value)
        assert getattr(bare(**{field: certificate[0]}), field) == certificate[0]


@pytest.mark.parametrize(("values", "field", "words"), [
    ({"dkim_selector": "sel ect"}, "dkim_selector", "ASCII letters, digits and hyphens"),
    ({"dkim_selector": "sél"}, "dkim_selector", "ASCII letters, digits and hyphens"),
    ({"dkim_selector": "s;x=1"}, "dkim_selector", "ASCII letters, digits and hyphens"),
    ({"dkim_selector": "s..t"}, "dkim_selector", "ASCII letters, digits and hyphens"),
    ({"dkim_domain": "exa mple.org"}, "dkim_domain", "must not contain spaces"),
    ({"dkim_domain": "exämple.org"}, "dkim_domain", "write it as xn--exmple-cua.org"),
    ({"dkim_domain": "127.0.0.1:25"}, "dkim_domain", "the host name alone"),
    ({"dkim_selector": None}, "dkim_private_key_path", "DIGEST_DKIM_SELECTOR is not"),
    ({"dkim_private_key_path": None}, "dkim_private_key_path", "DIGEST_DKIM_SELECTOR is set"),
    ({"dkim_private_key_path": None, "dkim_selector": None}, "dkim_private_key_path",
     "DIGEST_DKIM_DOMAIN is set"),
])
def test_dkim_settings_that_cannot_sign_are_refused_at_load(
        values: dict[str, object], field: str, words: str) -> None:
    """Each signed with garbage, or did not sign at all, and said nothing."""
    complete = {"dkim_selector": "digest2026", "dkim_domain": "example.org",
                "dkim_private_key_path": Path("/etc/digest/dkim.pem")}
    with pytest.raises(ValidationError) as info:
        bare(**{**complete, **values})
    assert info.value.errors()[0]["loc"] == (field,) and words in str(info.value)


def test_whole_dkim_settings_are_kept() -> None:
    kept = bare(dkim_selector="digest-2026.a", dkim_private_key_path=Path("/k.pem"))
    assert kept.dkim_selector == "digest-2026.a" and kept.dkim_domain is None
    assert bare(dkim_selector="", dkim_domain=" ").dkim_selector is None  # empty: unset


@pytest.mark.parametrize(("value", "words"), [
    ("<digest.example.org>", "without the angle brackets: digest.example.org"),
    ("dïgest.example.org", "ASCII letters"),  # it was an internal error at the first message
    ("digest", "at least one dot"), ("a@b.org", "ASCII letters"), ("a..b", "ASCII letters"),
])
def test_a_list_id_that_is_no_list_id_is_refused_at_load(value: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        bare(list_id=value)
    assert info.value.errors()[0]["loc"] == ("list_id",) and words in str(info.value)

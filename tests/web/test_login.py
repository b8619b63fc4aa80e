"""The login throttle (per account name and per client address, kept in the database) and
the same work and time for unknown names as for known ones."""

from __future__ import annotations

import hashlib

import pytest

from tests.web.client import PASSWORD, Clock, try_login
from tests.web.conftest import MakeWeb


def test_failures_per_account_end_in_429_with_retry_after_then_clear(make_web: MakeWeb) -> None:
    clock = Clock()
    client, _, settings = make_web(clock=clock)
    assert [try_login(client, password="wrong") for _ in range(5)] == [401] * 5
    clock.advance(minutes=5)
    csrf_page = client.get("/editor/login")
    assert csrf_page.status_code == 200
    from tests.web.client import form_csrf

    blocked = client.post("/editor/login", data={"name": "sian", "password": PASSWORD,
                                                 "csrf": form_csrf(csrf_page.text)})
    assert blocked.status_code == 429  # even the right password, while the account is locked
    assert int(blocked.headers["retry-after"]) == 10 * 60  # the first failure leaves at 15
    assert "Too many failed logins" in blocked.text
    other_client, _, _ = make_web(clock=clock, client=("198.51.100.9", 40000))
    assert try_login(other_client) == 429  # per account, whoever asks
    clock.advance(minutes=10)
    assert try_login(client) == 303  # the window has passed
    assert [try_login(client, password="wrong") for _ in range(5)] == [401] * 5  # reset
    assert settings.login_max_failures == 5


def test_failures_per_client_address_cover_every_name(make_web: MakeWeb) -> None:
    clock = Clock()
    client, _, _ = make_web(clock=clock)
    codes = [try_login(client, name=f"guess{i}", password="x") for i in range(6)]
    assert codes == [401] * 5 + [429]
    assert try_login(client) == 429  # a real editor from that address waits as well
    elsewhere, _, _ = make_web(clock=clock, client=("203.0.113.5", 40000))
    assert try_login(elsewhere) == 303


def test_counters_outlive_the_process(make_web: MakeWeb) -> None:
    clock = Clock()
    first, _, _ = make_web(clock=clock)
    for _ in range(5):
        try_login(first, password="wrong")
    restarted, _, _ = make_web(clock=clock)  # a new app (process) on the same database
    assert try_login(restarted) == 429


def test_a_successful_login_does_not_count_and_clears_its_account(make_web: MakeWeb) -> None:
    clock = Clock()
    client, _, _ = make_web(clock=clock)
    for _ in range(4):
        assert try_login(client, password="wrong") == 401
    assert try_login(client) == 303
    # The client has used 4 of its 5: the success took its own attempt back.
    assert [try_login(client, name="other", password="x") for _ in range(2)] == [401, 429]
    elsewhere, _, _ = make_web(clock=clock, client=("203.0.113.5", 40000))
    assert [try_login(elsewhere, password="wrong") for _ in range(6)] == [401] * 5 + [429]


def test_an_unknown_name_costs_the_same_work_as_a_known_one(
        make_web: MakeWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same work, counted rather than timed (`bench/login_timing.py` times it): one
    scrypt with the same cost parameters and the same sizes, whether the name exists or not."""
    client, _, _ = make_web(login_max_failures=1000)
    try_login(client, name="warm-up", password="x")  # the dummy hash is made once, here
    calls: list[tuple[int, int, int, int, int, int]] = []
    real = hashlib.scrypt

    def counted(password: bytes, *, salt: bytes, n: int, r: int, p: int, **kw: int) -> bytes:
        calls.append((len(password), len(salt), n, r, p, kw.get("dklen", 64)))
        return real(password, salt=salt, n=n, r=r, p=p, **kw)

    monkeypatch.setattr(hashlib, "scrypt", counted)  # what digest.web.auth calls
    work = {}
    for name in ("sian", "nobody", "a" * 200):
        calls.clear()
        assert try_login(client, name=name, password="wrong") == 401
        work[name] = list(calls)
    assert len(work["sian"]) == 1 and work["nobody"] == work["sian"] == work["a" * 200]


@pytest.mark.parametrize(("lang", "expired", "wrong", "waits"), [
    ("cy", "Roedd y ffurflen wedi dod i ben", "Enw neu gyfrinair anghywir.",
     ["ymhen 10 munud.", "ymhen 1 funud."]),
    ("en", "The form had expired", "Wrong name or password.",
     ["in 10 minutes.", "in 1 minute."]),
])
def test_the_login_pages_refusals_are_said_in_the_pages_language(
        make_web: MakeWeb, lang: str, expired: str, wrong: str, waits: list[str]) -> None:
    # They were English on the Welsh page (the default): plain strings no catalog held, and
    # the wait an f-string ("minute(s)").
    from tests.web.client import form_csrf

    clock = Clock()
    client, _, _ = make_web(clock=clock)
    as_lang = {"Accept-Language": lang}

    def post(password: str, csrf: str | None = None) -> tuple[int, str]:
        token = csrf or form_csrf(client.get("/editor/login", headers=as_lang).text)
        got = client.post("/editor/login", headers=as_lang,
                          data={"name": "sian", "password": password, "csrf": token})
        assert f'<html lang="{lang}"' in got.text
        return got.status_code, got.text

    status, text = post(PASSWORD, csrf="not the form's")
    assert status == 403 and expired in text
    for _ in range(5):
        status, text = post("wrong")
        assert status == 401 and wrong in text
    clock.advance(minutes=5)
    status, text = post(PASSWORD)
    assert status == 429 and waits[0] in text
    clock.advance(minutes=9, seconds=30)
    status, text = post(PASSWORD)
    assert status == 429 and waits[1] in text


def test_ipv4_clients_of_a_dual_stack_server_are_counted_apart(make_web: MakeWeb) -> None:
    # A server listening on `::` sees IPv4 clients as `::ffff:a.b.c.d`; taken for IPv6, all
    # of them were one /64 (`::/64`): one guesser locked every IPv4 editor out, and used up
    # every IPv4 visitor's sign-ups.
    clock = Clock()
    guesser, _, _ = make_web(clock=clock, client=("::ffff:192.0.2.7", 40000))
    assert [try_login(guesser, name=f"guess{i}", password="x") for i in range(6)] \
        == [401] * 5 + [429]
    editor, _, _ = make_web(clock=clock, client=("::ffff:198.51.100.20", 40000))
    assert try_login(editor) == 303
    same, _, _ = make_web(clock=clock, client=("192.0.2.7", 40001))  # the guesser, unmapped
    assert try_login(same) == 429
    neighbour, _, _ = make_web(clock=clock, client=("2001:db8:1:2::99", 40000))
    v6, _, _ = make_web(clock=clock, client=("2001:db8:1:2::1", 40000))
    assert [try_login(v6, name=f"guess{i}", password="x") for i in range(5)] == [401] * 5
    assert try_login(neighbour) == 429  # IPv6 clients still by their /64


def test_sign_ups_from_ipv4_clients_of_a_dual_stack_server_are_counted_apart(
        make_web: MakeWeb) -> None:
    first, _, settings = make_web(client=("::ffff:192.0.2.7", 40000))
    limit = settings.signup_client_limit_per_hour
    for i in range(limit):
        assert first.post("/subscribe", data={"email": f"s{i}@example.org",
                                              "language": "cy"}).status_code == 200
    assert first.post("/subscribe", data={"email": "over@example.org",
                                          "language": "cy"}).status_code == 429
    other, _, _ = make_web(client=("::ffff:203.0.113.50", 40000))
    assert other.post("/subscribe", data={"email": "other@example.org",
                                          "language": "cy"}).status_code == 200

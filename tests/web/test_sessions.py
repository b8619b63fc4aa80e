"""Editors' sessions on the server: the cookie, logout, timeouts, rotation, CSRF, and the old
signed-cookie attack (a cookie signed with the public demo key)."""

from __future__ import annotations

import base64
import hashlib
import json
from http.cookies import SimpleCookie

import sqlalchemy as sa
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.store.models import EditorSession
from digest.web.sessions import COOKIE
from tests.web.client import SITE, Clock, form_csrf, issue_id, login, subscriber_tokens
from tests.web.conftest import MakeWeb, Web


def set_cookies(response_headers: list[str]) -> dict[str, SimpleCookie]:
    out = {}
    for header in response_headers:
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name in jar:
            out[name] = jar
    return out


def cookie_flags(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:]}


def session_cookie_header(client: TestClient) -> str:
    csrf = form_csrf(client.get("/editor/login").text)
    from tests.web.client import PASSWORD

    done = client.post("/editor/login", data={"name": "sian", "password": PASSWORD,
                                              "csrf": csrf})
    assert done.status_code == 303
    return next(h for h in done.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}="))


def fresh_client(web: Web, cookie: str | None = None) -> TestClient:
    client = TestClient(web[0].app, base_url=SITE, follow_redirects=False)
    if cookie is not None:
        client.cookies.set(COOKIE, cookie, domain="digest.example.org", path="/editor")
    return client


def test_the_cookie_is_a_random_id_stored_hashed_with_strict_flags(web: Web, engine: Engine,
                                                                   session: Session) -> None:
    client = web[0]
    header = session_cookie_header(client)
    value = header.split(";")[0].split("=", 1)[1]
    assert len(value) == 43  # 32 random bytes, nothing else: no name, no signature
    flags = cookie_flags(header)
    assert {"httponly", "secure", "samesite=strict", "path=/editor"} <= flags
    rows = session.exec(select(EditorSession)).all()
    assert [r.id for r in rows] == [hashlib.sha256(value.encode()).hexdigest()]
    assert rows[0].editor == "sian" and rows[0].revoked_at is None
    assert client.get("/editor").status_code == 200


def test_cookies_are_secure_only_when_the_site_is_https(make_web: MakeWeb) -> None:
    client, _, _ = make_web(site_url="http://digest.example.org")
    login_page = client.get("/editor/login")
    assert "secure" not in cookie_flags(login_page.headers["set-cookie"])
    assert "samesite=strict" in cookie_flags(login_page.headers["set-cookie"])
    lang = client.get("/subscribe?lang=en").headers["set-cookie"]
    assert {"httponly", "samesite=lax"} <= cookie_flags(lang) and "secure" not in lang.lower()
    https_client, _, _ = make_web()
    lang = https_client.get("/subscribe?lang=en").headers["set-cookie"]
    assert {"httponly", "samesite=lax", "secure"} <= cookie_flags(lang)


def test_public_pages_set_no_editor_cookie(web: Web, session: Session) -> None:
    client, _, settings = web
    login(client)
    _, prefs, unsub = subscriber_tokens(session, settings, "rhys.price@example.org")
    for response in (client.get("/subscribe"), client.get("/archive"), client.get(f"/p/{prefs}"),
                     client.get(f"/u/{unsub}"), client.get("/nowhere"),
                     client.post("/subscribe", data={"email": "x@example.org",
                                                     "language": "cy"}),
                     client.post(f"/p/{prefs}", data={"action": "language", "language": "en"})):
        names = {h.split("=", 1)[0] for h in response.headers.get_list("set-cookie")}
        assert names <= {"lang"}, (response.url, names)
    assert client.get("/editor").status_code == 200  # the editor is still logged in


def test_a_cookie_copied_before_logout_is_refused_after_it(web: Web) -> None:
    client = web[0]
    csrf = login(client)
    copied = client.cookies.get(COOKIE)
    assert copied
    thief = fresh_client(web, copied)
    assert thief.get("/editor").status_code == 200  # a copy works while the session lives
    assert client.post("/editor/logout", data={"csrf": csrf}).status_code == 303
    refused = thief.get("/editor")
    assert refused.status_code == 303 and refused.headers["location"] == f"{SITE}/editor/login"
    assert thief.post("/editor/issues/1/approve", data={"csrf": csrf}).status_code == 303


def test_idle_timeout_and_absolute_lifetime_end_sessions_on_the_server(
        make_web: MakeWeb, session: Session) -> None:
    clock = Clock()
    client, _, settings = make_web(clock=clock)
    login(client)
    clock.advance(minutes=29)
    assert client.get("/editor").status_code == 200  # activity resets the idle clock
    clock.advance(minutes=29)
    assert client.get("/editor").status_code == 200
    clock.advance(minutes=30)
    assert client.get("/editor").status_code == 303  # idle for the whole 30 minutes
    session.rollback()
    assert session.exec(select(EditorSession)).one().revoked_at == clock.now

    login(client)
    for _ in range(int(settings.session_max_hours * 60 / 25)):  # busy all day long
        clock.advance(minutes=25)
        assert client.get("/editor").status_code == 200
    clock.advance(minutes=25)  # now past 12 hours since login
    assert client.get("/editor").status_code == 303


def test_the_session_id_is_new_at_every_login_and_a_planted_one_is_ignored(web: Web) -> None:
    client = web[0]
    planted = "A" * 43  # an attacker's chosen id (session fixation)
    client.cookies.set(COOKIE, planted, domain="digest.example.org", path="/editor")
    assert client.get("/editor").status_code == 303
    client.cookies.clear()
    login(client)
    first = client.cookies.get(COOKIE)
    assert first and first != planted
    login(client)
    second = client.cookies.get(COOKIE)
    assert second and second != first
    assert fresh_client(web, first).get("/editor").status_code == 303  # the old one is revoked
    assert fresh_client(web, second).get("/editor").status_code == 200
    assert fresh_client(web, planted).get("/editor").status_code == 303


def test_a_cookie_signed_with_the_old_demo_key_opens_nothing(web: Web) -> None:
    """The attack the old signed session allowed: forge {"editor": "sian"} with the public key."""
    data = base64.b64encode(json.dumps({"editor": "sian", "csrf": "x"}).encode())
    forged = TimestampSigner("change-me-in-production-this-is-only-for-the-demo").sign(data)
    attacker = fresh_client(web, forged.decode())
    assert attacker.get("/editor").status_code == 303
    assert attacker.post("/editor/issues/1/approve", data={"csrf": "x"}).status_code == 303


def test_editor_forms_need_this_sessions_csrf_token(web: Web, make_web: MakeWeb,
                                                    session: Session) -> None:
    client = web[0]
    iid = issue_id(session)
    csrf = login(client)
    other = make_web()[0]
    other_csrf = login(other)
    assert other_csrf != csrf
    for data in ({}, {"csrf": ""}, {"csrf": "forged"}, {"csrf": other_csrf}, {"csrf": "ŵ\x80"}):
        refused = client.post(f"/editor/issues/{iid}/approve", data=data,
                              headers={"Accept-Language": "en"})
        assert refused.status_code == 403 and "<h1>Not allowed</h1>" in refused.text
    assert client.post(f"/editor/issues/{iid}/approve", data={"csrf": csrf}).status_code == 303


def test_the_login_form_needs_its_own_csrf_cookie(web: Web) -> None:
    client = web[0]
    csrf = form_csrf(client.get("/editor/login").text)
    nonce = client.cookies.get("digest_login")
    client.cookies.clear()  # a cross-site login form: the token without our cookie
    from tests.web.client import PASSWORD

    forged = client.post("/editor/login", data={"name": "sian", "password": PASSWORD,
                                                "csrf": csrf})
    assert forged.status_code == 403 and COOKIE not in forged.headers.get("set-cookie", "")
    assert client.post("/editor/login", data={"name": "sian", "password": PASSWORD,
                                              "csrf": "ŷ"}).status_code == 403
    client.cookies.set("digest_login", nonce or "", domain="digest.example.org",
                       path="/editor/login")
    done = client.post("/editor/login", data={"name": "sian", "password": PASSWORD,
                                              "csrf": csrf})
    assert done.status_code == 303
    assert "digest_login=" in done.headers.get("set-cookie", "")  # spent: deleted at login


def test_an_origin_is_ours_only_with_the_sites_scheme_host_and_port(
        web: Web, session: Session) -> None:
    client, _, settings = web
    sid, prefs, _ = subscriber_tokens(session, settings, "eleri.thomas@example.org")
    others = ("http://digest.example.org", "https://digest.example.org:8443",
              "http://digest.example.org:443", "https://digest.example.org.evil.example",
              "https://user@digest.example.org", "https://digest.example.org/path",
              "ftp://digest.example.org", "https://digest.example.org:99999", "digest.example.org",
              "https://evil.example", "")
    for origin in others:  # no Fetch metadata (an older browser): the Origin decides
        refused = client.post(f"/p/{prefs}", data={"action": "unsubscribe"},
                              headers={"Origin": origin})
        assert refused.status_code == 403, origin
    session.rollback()
    assert session.execute(sa.text("SELECT state FROM subscriber WHERE id = :i"),
                           {"i": sid}).scalar() == "active"
    for origin in (SITE, "https://digest.example.org:443", "https://DIGEST.example.org"):
        kept = client.post(f"/p/{prefs}", data={"action": "language", "language": "cy"},
                           headers={"Origin": origin})
        assert kept.status_code == 200, origin


def test_serialized_origin_reads_only_an_http_origin() -> None:
    from digest.web.guard import serialized_origin

    assert serialized_origin("https://Digest.Example.org.:443") == "https://digest.example.org"
    assert serialized_origin("http://h.example:8080/") == "http://h.example:8080"
    for bad in ("javascript://h.example", "https://", "https://h.example:x",
                "https://a:b@h.example", "https://h.example?q", "https://h.example#f"):
        assert serialized_origin(bad) is None, bad


def test_cross_site_writes_are_refused_except_the_one_click_unsubscribe(
        web: Web, session: Session) -> None:
    client, _, settings = web
    csrf = login(client)
    iid = issue_id(session)
    sid, prefs, unsub = subscriber_tokens(session, settings, "eleri.thomas@example.org")
    evil = ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
            {"Origin": "https://evil.example"})
    for headers in evil:
        assert client.post(f"/editor/issues/{iid}/approve", data={"csrf": csrf},
                           headers=headers).status_code == 403
        assert client.post("/subscribe", data={"email": "x@example.org", "language": "cy"},
                           headers=headers).status_code == 403
        assert client.post(f"/p/{prefs}", data={"action": "unsubscribe"},
                           headers=headers).status_code == 403
    session.rollback()
    assert session.execute(sa.text("SELECT state FROM subscriber WHERE id = :i"),
                           {"i": sid}).scalar() == "active"
    ours = {"Sec-Fetch-Site": "same-origin", "Origin": SITE}
    assert client.post(f"/p/{prefs}", data={"action": "language", "language": "cy"},
                       headers=ours).status_code == 200
    provider = client.post(f"/u/{unsub}", content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded",
                                    "Sec-Fetch-Site": "cross-site",
                                    "Origin": "https://mail.example"})
    assert provider.status_code == 200  # RFC 8058: no cookie, no CSRF token, any origin

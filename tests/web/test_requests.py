"""What requests may carry: trusted hosts, the body limit, bad input that must not crash,
the editor's notices and test-send address, and answers that wait for the commit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.policy import default
from typing import get_args

from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.store.models import Issue, IssueState, Subscriber, SubscriberState
from tests.web.client import SITE, issue_id, login, subscriber_tokens
from tests.web.conftest import MakeWeb, Web

ENGLISH = {"Accept-Language": "en"}


def test_only_the_sites_host_is_answered(web: Web, make_web: MakeWeb, session: Session) -> None:
    client, _, settings = web
    _, _, unsub = subscriber_tokens(session, settings, "eleri.thomas@example.org")
    for host in ("evil.example", "digest.example.org.evil.example", "", "[::1]", "a b"):
        for method, path in (("GET", "/subscribe"), ("GET", "/editor/login"),
                             ("POST", f"/u/{unsub}")):
            refused = client.request(method, path, headers={"Host": host})
            assert refused.status_code == 400, (host, path)
    assert client.get("/subscribe", headers={"Host": "DIGEST.example.org:443"}).status_code == 200
    extra, _, _ = make_web(trusted_hosts="digest-admin.example.org")
    via_extra = extra.get("/", headers={"Host": "digest-admin.example.org"})
    assert via_extra.status_code == 307
    assert via_extra.headers["location"] == f"{SITE}/subscribe"  # built from the site URL
    assert client.get("/", headers={"Host": "digest-admin.example.org"}).status_code == 400


def test_form_bodies_over_the_limit_get_413(web: Web) -> None:
    client, transport, settings = web
    big = {"email": "big@example.org", "language": "cy", "name": "x" * settings.max_form_bytes}
    refused = client.post("/subscribe", data=big, headers=ENGLISH)
    assert refused.status_code == 413 and "<h1>Too large</h1>" in refused.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b"email=big%40example.org&language=cy&name="
        for _ in range(settings.max_form_bytes // 1000 + 1):
            yield b"x" * 1000

    streamed = client.post("/subscribe", content=chunks(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert streamed.status_code == 413 and transport.sent == []
    fine = client.post("/subscribe", data={**big, "name": "x" * 1000})
    assert fine.status_code == 200 and len(transport.sent) == 1


BAD_PUBLIC = [
    "/archive/99999999999999999999999/cy", "/archive/%C2%B9/both", "/archive/2026-13/cy",
    "/archive/2026-09/fr", "/archive/%00/cy", "/reviews/%00", "/reviews/..%2F..%2Fetc",
    "/reviews/" + "a" * 5000, "/reviews/%F0%9F%92%A9", "/p/%00", "/u/%C2%B9.x",
    "/p/99999999999999999999999.AAAA", "/confirm/%C2%B9", "/confirm/1.2.3",
    "/u/" + "A" * 4000, "/nowhere/%FF",
]


def test_bad_paths_get_a_page_in_the_visitors_language(web: Web) -> None:
    client = web[0]
    for path in BAD_PUBLIC:  # one app for all: each setup syncs the whole demo
        for headers, lang in ((ENGLISH, "en"), ({"Accept-Language": "cy"}, "cy")):
            response = client.get(path, headers=headers)
            assert response.status_code in (400, 404), (path, response.status_code)
            assert response.headers["content-type"].startswith("text/html"), path
            assert f'<html lang="{lang}">' in response.text, path
            assert '"detail"' not in response.text, path
    assert client.get("/archive/2026-09/cy").status_code == 404  # beside them: not sent yet
    assert client.get("/reviews/adoption-sibling-relationships").status_code == 200


def test_bad_editor_paths_and_forms_get_pages_not_500s(web: Web, session: Session) -> None:
    client = web[0]
    csrf = login(client)
    iid = issue_id(session)
    for path in ("/editor/issues/99999999999999999999", "/editor/issues/%C2%B9",
                 "/editor/issues/%D9%A1", "/editor/issues/abc", "/editor/issues/0",
                 "/editor/issues/-1", f"/editor/issues/{iid}/email/fr",
                 "/editor/issues/99999999999/email/cy", f"/editor/issues/{iid}?variant=xx"):
        response = client.get(path, headers=ENGLISH)
        assert response.status_code in (400, 404), path
        assert "<html" in response.text and '"detail"' not in response.text
    assert client.get(f"/editor/issues/{iid}").status_code == 200  # beside them: a good one
    for action, data in (("test", {"address": "a@example.org", "language": "fr"}),
                         ("approve", {"reason": "\x00"}), ("cancel", {"reason": "nul\x00"})):
        response = client.post(f"/editor/issues/{iid}/{action}", data={"csrf": csrf, **data})
        assert response.status_code in (303, 400), action


def test_bad_public_forms_get_400_pages(web: Web, session: Session) -> None:
    client, transport, settings = web
    _, prefs, _ = subscriber_tokens(session, settings, "rhys.price@example.org")
    for data in ({"email": "a@example.org", "language": "fr"}, {"email": "a@example.org"},
                 {"email": "nul\x00@example.org", "language": "cy"},
                 {"email": "a@example.org\r\nBcc: b@example.org", "language": "cy"}):
        response = client.post("/subscribe", data=data, headers=ENGLISH)
        assert response.status_code == 400 and '<html lang="en">' in response.text, data
    for data in ({"action": "bogus"}, {"action": "language", "language": "fr"}, {}):
        assert client.post(f"/p/{prefs}", data=data).status_code == 400, data
    nul_name = client.post("/subscribe", data={"email": "n@example.org", "language": "cy",
                                               "name": "Nia\x00"})
    assert nul_name.status_code == 400 and transport.sent == []  # a NUL: refused at the door


def test_the_status_box_shows_only_the_apps_own_messages(web: Web, session: Session) -> None:
    client = web[0]
    login(client)
    iid = issue_id(session)
    injected = client.get(f"/editor/issues/{iid}",
                          params={"notice": "Your session expired: log in at evil.example"})
    assert injected.status_code == 200 and "evil.example" not in injected.text
    assert 'class="notice"' not in injected.text
    script = client.get(f"/editor/issues/{iid}", params={"notice": "<script>x</script>"})
    assert "<script>x" not in script.text and "&lt;script&gt;" not in script.text
    known = client.get(f"/editor/issues/{iid}", params={"notice": "approved"})
    assert '<p class="notice" role="status">Approved. The issue can now be sent.</p>' in known.text


def test_the_test_address_must_be_one_plain_address(web: Web, session: Session) -> None:
    client, transport, _ = web
    csrf = login(client)
    iid = issue_id(session)
    for address in ("qa@example.org\r\nBcc: victim@example.net", "qa@example.org\nBcc: v@x.org",
                    "not an address", "qa@example.org, victim@example.net", "", "qa@\x00.org"):
        refused = client.post(f"/editor/issues/{iid}/test", data={
            "csrf": csrf, "address": address, "language": "cy"})
        assert refused.status_code == 400
        if "\x00" not in address:  # a NUL is refused by the guard, before the editor's page
            assert "Not sent: the test address must be one email address" in refused.text
    assert transport.sent == []
    sent = client.post(f"/editor/issues/{iid}/test", data={
        "csrf": csrf, "address": " QA@example.org ", "language": "en"})
    assert "notice=test-sent" in sent.headers["location"]
    assert [m.recipient for m in transport.sent] == ["qa@example.org"]
    message = message_from_bytes(transport.sent[0].data, policy=default)
    assert message["To"] == "qa@example.org" and message["Bcc"] is None


@contextmanager
def failing_commits(engine: Engine, session: Session) -> Iterator[None]:
    """Make every COMMIT after a change to a subscriber fail: a trigger inserts a row that
    breaks a deferred foreign key, which both databases check only at COMMIT. (`session`, the
    test's, ends its transaction first: its read lock would hold up the DDL.)"""
    ddl = ["CREATE TABLE commit_parent (id INTEGER PRIMARY KEY)",
           "CREATE TABLE commit_child (parent_id INTEGER REFERENCES commit_parent (id) "
           "DEFERRABLE INITIALLY DEFERRED)"]
    if engine.dialect.name == "sqlite":
        ddl += [f"CREATE TRIGGER fail_{event} AFTER {event} ON subscriber "
                "BEGIN INSERT INTO commit_child VALUES (1); END" for event in ("UPDATE", "INSERT")]
        undo = ["DROP TRIGGER fail_UPDATE", "DROP TRIGGER fail_INSERT"]
    else:
        ddl += ["CREATE FUNCTION fail_commit() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN INSERT INTO commit_child VALUES (1); RETURN NULL; END $$",
                "CREATE TRIGGER fail_commit AFTER INSERT OR UPDATE ON subscriber "
                "FOR EACH ROW EXECUTE FUNCTION fail_commit()"]
        undo = ["DROP TRIGGER fail_commit ON subscriber", "DROP FUNCTION fail_commit()"]
    session.rollback()
    with engine.begin() as conn:
        for statement in ddl:
            conn.exec_driver_sql(statement)
    try:
        yield
    finally:
        session.rollback()
        with engine.begin() as conn:
            for statement in [*undo, "DROP TABLE commit_child", "DROP TABLE commit_parent"]:
                conn.exec_driver_sql(statement)


def state_of(session: Session, email: str) -> SubscriberState | None:
    session.rollback()
    sub = session.exec(select(Subscriber).where(Subscriber.email == email)).first()
    return None if sub is None else sub.state


ONE_CLICK = {"content": b"List-Unsubscribe=One-Click",
             "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


def test_public_writes_answer_only_after_their_commit(web: Web, session: Session,
                                                      engine: Engine) -> None:
    client, transport, settings = web
    _, prefs, unsub = subscriber_tokens(session, settings, "eleri.thomas@example.org")
    _, prefs_rhys, _ = subscriber_tokens(session, settings, "rhys.price@example.org")
    assert client.post("/subscribe", data={"email": "pending@example.org",
                                           "language": "cy"}).status_code == 200
    confirm = re.search(r"https://digest\.example\.org(/confirm/\S+)",
                        transport.sent[0].data.decode())
    assert confirm is not None
    with failing_commits(engine, session):
        failed = client.post(f"/u/{unsub}", **ONE_CLICK)  # type: ignore[arg-type]
        assert failed.status_code == 503 and failed.headers["retry-after"] == "30"
        assert "location" not in failed.headers  # a provider retries a 5xx, never a redirect
        assert client.post(f"/p/{prefs_rhys}", data={"action": "unsubscribe"}
                           ).status_code == 503
        assert client.get(confirm.group(1)).status_code == 503
        assert client.post(confirm.group(1)).status_code == 503
        assert client.post("/subscribe", data={"email": "new@example.org",
                                               "language": "cy"}).status_code == 503
    assert len(transport.sent) == 1  # no confirmation link to a row that was never stored
    assert state_of(session, "new@example.org") is None
    assert state_of(session, "eleri.thomas@example.org") is SubscriberState.ACTIVE
    assert state_of(session, "rhys.price@example.org") is SubscriberState.ACTIVE
    assert state_of(session, "pending@example.org") is SubscriberState.PENDING
    # The same requests once the database takes them: stored, then answered.
    assert client.post(f"/u/{unsub}", **ONE_CLICK).status_code == 200  # type: ignore[arg-type]
    assert client.post(f"/p/{prefs_rhys}", data={"action": "unsubscribe"}).status_code == 200
    assert client.get(confirm.group(1)).status_code == 200
    assert client.post("/subscribe", data={"email": "new@example.org",
                                           "language": "cy"}).status_code == 200
    assert state_of(session, "eleri.thomas@example.org") is SubscriberState.UNSUBSCRIBED
    assert state_of(session, "rhys.price@example.org") is SubscriberState.UNSUBSCRIBED
    assert state_of(session, "pending@example.org") is SubscriberState.ACTIVE
    assert state_of(session, "new@example.org") is SubscriberState.PENDING
    assert prefs


def test_a_nul_byte_anywhere_in_a_request_is_a_400_page(web: Web, session: Session) -> None:
    # PostgreSQL refuses NUL in text, so one reaching a query was a 500 there (found by the
    # fuzz test on the subscribers' search); no field of ours may hold one.
    client, transport, settings = web
    csrf = login(client)
    _, prefs, unsub = subscriber_tokens(session, settings, "rhys.price@example.org")
    for path in ("/editor/subscribers?q=a%00b", "/r/2026-09%00/0/cy", "/feeds/cy/issues.atom?x=%00",
                 "/editor/reports/issues/2026%0009", "/reviews/a%00b"):
        got = client.get(path)
        assert got.status_code in (400, 404) and "<html" in got.text, path
    signup = client.post("/subscribe", data={"email": "nul@example.org", "name": "a\x00b",
                                             "language": "cy"})
    assert signup.status_code == 400 and transport.sent == []
    kept = client.post(f"/p/{prefs}", data={"language": "en\x00", "csrf": csrf})
    assert kept.status_code == 400
    # The same requests without the NUL are answered.
    assert client.get("/editor/subscribers?q=ab").status_code == 200
    assert client.post("/subscribe", data={"email": "nul@example.org", "name": "ab",
                                           "language": "cy"}).status_code == 200
    assert client.post(f"/u/{unsub}", data={"List-Unsubscribe": "One-Click"}).status_code == 200


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_a_form_no_browser_sends_from_our_pages_is_a_400_page(web: Web, session: Session) -> None:
    # Starlette reads bad bytes as U+FFFD (or Latin-1) and keeps the last of two values, so
    # each of these was stored or acted on as something nobody typed.
    client, transport, settings = web
    csrf = login(client)
    _, prefs, unsub = subscriber_tokens(session, settings, "rhys.price@example.org")
    signup = b"email=odd%40example.org&language=cy&name="
    for body in (signup + b"%E9",  # Latin-1 é, not UTF-8
                 signup + b"%ED%A0%80",  # an encoded lone surrogate
                 signup + b"%C3",  # a cut-off sequence
                 signup + "é".encode(),  # raw UTF-8, not percent-encoded
                 signup + b"\x00",  # a raw NUL as well as %00
                 b"email=odd%40example.org&language=cy&email=other%40example.org",
                 b"email=odd%40example.org&language=cy&language=en",
                 b"email=odd%40example.org&lang%C3=cy"):
        refused = client.post("/subscribe", content=body, headers={**FORM, **ENGLISH})
        assert refused.status_code == 400 and "<html" in refused.text, body
    assert transport.sent == [] and state_of(session, "odd@example.org") is None
    assert state_of(session, "other@example.org") is None
    twice = client.post(f"/p/{prefs}", content=b"language=en&language=cy&csrf=" + csrf.encode(),
                        headers=FORM)
    assert twice.status_code == 400
    one_click = client.post(f"/u/{unsub}", headers=FORM,
                            content=b"List-Unsubscribe=One-Click&List-Unsubscribe=One-Click")
    assert one_click.status_code == 400
    assert state_of(session, "rhys.price@example.org") is SubscriberState.ACTIVE

    def chunks() -> Iterator[bytes]:  # a body in pieces is judged whole
        yield b"email=odd%40example.org&language=cy&name=%C3"
        yield b"%A9"  # completes "é": fine once joined

    got = client.post("/subscribe", content=chunks(), headers=FORM)
    assert got.status_code == 200, got.text
    session.rollback()  # a fresh snapshot
    kept = session.exec(select(Subscriber).where(Subscriber.email == "odd@example.org")).one()
    assert kept.name == "é"

    def split_bad() -> Iterator[bytes]:
        yield b"email=late%40example.org&language=cy"
        yield b"&language=en"

    assert client.post("/subscribe", content=split_bad(), headers=FORM).status_code == 400
    assert state_of(session, "late@example.org") is None
    # Welsh letters, a "+" for a space and empty fields are what browsers send: kept.
    fine = client.post("/subscribe", headers=FORM,
                       content=b"email=ok%40example.org&language=cy&name=Gw%C5%B7n+Jones&x=")
    assert fine.status_code == 200
    session.rollback()  # a fresh snapshot
    ok = session.exec(select(Subscriber).where(Subscriber.email == "ok@example.org")).one()
    assert ok.name == "Gwŷn Jones"


def test_a_form_is_judged_however_its_type_is_spelled_or_sent(web: Web,
                                                             session: Session) -> None:
    # Starlette parses a form whatever the case of its Content-Type, with spaces around it,
    # from the first of two such headers, and as multipart/form-data too: the guard judged
    # only the exact lower-case spelling (the last header), so `email=a&email=b` kept b and
    # a Latin-1 name was stored as U+FFFD or mojibake, through every form of the site.
    client, transport, settings = web
    csrf = login(client)
    _, prefs, _ = subscriber_tokens(session, settings, "rhys.price@example.org")
    smuggled = b"email=one%40example.org&language=cy&email=two%40example.org&name=%E9"
    for spelled in ("Application/X-WWW-Form-Urlencoded", " application/x-www-form-urlencoded",
                    "APPLICATION/X-WWW-FORM-URLENCODED; charset=utf-8",
                    "\tapplication/x-www-form-urlencoded"):
        refused = client.post("/subscribe", content=smuggled,
                              headers={"Content-Type": spelled, **ENGLISH})
        assert refused.status_code == 400 and "<html" in refused.text, spelled
    # Two Content-Type headers: the app reads the first.
    refused = client.post("/subscribe", content=smuggled, headers=[
        ("Content-Type", "application/x-www-form-urlencoded"), ("Content-Type", "text/plain")])
    assert refused.status_code == 400
    parts = [("email", "three@example.org"), ("email", "four@example.org"),
             ("language", "cy"), ("name", "\xe9")]
    multipart = client.post("/subscribe", files=[(k, (None, v)) for k, v in parts])
    assert multipart.status_code == 400 and "<html" in multipart.text
    language = client.post(f"/p/{prefs}", files={"action": (None, "language"),
                                                 "language": (None, "en")})
    assert language.status_code == 400
    note = client.post(f"/editor/issues/{issue_id(session)}/cancel",
                       files={"csrf": (None, csrf), "reason": (None, "by multipart")})
    assert note.status_code == 400
    assert transport.sent == []
    for email in ("one@example.org", "two@example.org", "three@example.org",
                  "four@example.org"):
        assert state_of(session, email) is None
    assert state_of(session, "rhys.price@example.org") is SubscriberState.ACTIVE
    session.rollback()
    assert session.exec(select(Issue.state)).one() is IssueState.DRAFT
    # The spellings browsers use are answered as before.
    fine = client.post("/subscribe", content=b"email=five%40example.org&language=cy",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert fine.status_code == 200


def number_params(client: TestClient) -> set[tuple[str, str]]:
    """(route, parameter) for every path or query parameter of the app that is a number."""
    found = set()
    for route in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        dependant = getattr(route, "dependant", None)
        for field in (dependant.path_params + dependant.query_params) if dependant else []:
            if int in (field.field_info.annotation, *get_args(field.field_info.annotation)):
                found.add((route.path or "", field.name))
    return found


# Every number a route takes: a path that puts the spelling in it, and a good spelling.
NUMBERS = {
    ("/r/{period}/{position}/{lang}", "position"): ("GET", "/r/2026-09/{}/cy", "1"),
    ("/editor/reports/years/{year}", "year"): ("GET", "/editor/reports/years/{}", "2026"),
    ("/editor/reports/years/{year}.csv", "year"): ("GET", "/editor/reports/years/{}.csv",
                                                   "2026"),
    ("/editor/subscribers", "before"): ("GET", "/editor/subscribers?before={}", "5"),
    ("/editor/subscribers", "after"): ("GET", "/editor/subscribers?after={}", "5"),
    ("/editor/subscribers/{sid}", "sid"): ("GET", "/editor/subscribers/{}", "1"),
    ("/editor/subscribers/{sid}/export.json", "sid"): ("GET",
                                                      "/editor/subscribers/{}/export.json", "1"),
    ("/editor/subscribers/{sid}/unsubscribe", "sid"): ("POST",
                                                      "/editor/subscribers/{}/unsubscribe", "1"),
    ("/editor/subscribers/{sid}/language", "sid"): ("POST", "/editor/subscribers/{}/language",
                                                   "1"),
    ("/editor/subscribers/{sid}/erase", "sid"): ("POST", "/editor/subscribers/{}/erase", "1"),
}


def test_a_number_in_a_path_or_query_is_written_in_ascii_digits(web: Web) -> None:
    # pydantic's int took `+1`, ` 1`, `1.0`, `01` and `1_0` (which is 10) as numbers, so one
    # subscriber's page or one item's click had many addresses; and a query's number over
    # 2**63 was a 500 (SQLite's driver overflows; PostgreSQL refuses it).
    client, _, _ = web
    login(client)
    assert number_params(client) == set(NUMBERS), "a number parameter without a line here"
    for (_route, param), (method, path, good) in sorted(NUMBERS.items()):
        in_query = "?" in path
        for bad in ("+" + good, "%20" + good, good + "%20", good + ".0", "0" + good,
                    good[:1] + "_" + good[1:] if len(good) > 1 else good + "_0",
                    "%D9%A1", "-" + good, "9" * 20, "9" * 30, "2147483648"):
            answer = client.request(method, path.format(bad), headers=ENGLISH)
            assert answer.status_code == (400 if in_query else 404), (param, path, bad)
            assert "<html" in answer.text
        form = {"csrf": "not this session's", "language": "en"} if method == "POST" else None
        answer = client.request(method, path.format(good), data=form)
        # A POST with a wrong CSRF token reaches the route, and is refused there.
        assert answer.status_code in ((403,) if form else (200, 302)), (param, path)

"""Security headers on every response of every route, listed from the app itself: a route
added without a sample here fails, and so does any response that lacks its headers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session

from digest.settings import REPO_ROOT
from tests.web.client import form_csrf, issue_id, login, subscriber_tokens, try_login
from tests.web.conftest import MakeWeb, Web


@dataclass
class Ctx:
    """What the samples need: a logged-in client, its CSRF token, an issue and tokens."""

    client: TestClient
    csrf: str
    issue: int
    prefs: str
    unsub: str
    confirm: str


def form(ctx: Ctx, path: str, **data: str) -> Response:
    return ctx.client.post(path, data={"csrf": ctx.csrf, **data})


# Each route: the requests that show its kinds of answer (page, redirect, refusal, not found).
SAMPLES: dict[tuple[str, str], Callable[[Ctx], list[Response]]] = {
    ("GET", "/"): lambda c: [c.client.get("/")],
    ("GET", "/static/site.css"): lambda c: [c.client.get("/static/site.css")],
    ("GET", "/subscribe"): lambda c: [c.client.get("/subscribe"),
                                      c.client.get("/subscribe?lang=en")],
    ("POST", "/subscribe"): lambda c: [
        c.client.post("/subscribe", data={"email": "h@example.org", "language": "cy"}),
        c.client.post("/subscribe", data={"email": "nope", "language": "cy"}),
        c.client.post("/subscribe", data={"language": "fr"})],
    ("GET", "/confirm/{token}"): lambda c: [c.client.get(f"/confirm/{c.confirm}"),
                                            c.client.get("/confirm/bad")],
    ("POST", "/confirm/{token}"): lambda c: [c.client.post(f"/confirm/{c.confirm}"),
                                             c.client.post("/confirm/bad")],
    ("GET", "/p/{token}"): lambda c: [c.client.get(f"/p/{c.prefs}"), c.client.get("/p/bad")],
    ("POST", "/p/{token}"): lambda c: [
        c.client.post(f"/p/{c.prefs}", data={"action": "language", "language": "cy"}),
        c.client.post(f"/p/{c.prefs}", data={"action": "bogus"})],
    ("GET", "/u/{token}"): lambda c: [c.client.get(f"/u/{c.unsub}"), c.client.get("/u/bad")],
    ("POST", "/u/{token}"): lambda c: [
        c.client.post(f"/u/{c.unsub}", content=b"List-Unsubscribe=One-Click",
                      headers={"Content-Type": "application/x-www-form-urlencoded"}),
        c.client.post("/u/bad")],
    ("GET", "/archive"): lambda c: [c.client.get("/archive")],
    ("GET", "/archive/{period}/{language}"): lambda c: [
        c.client.get("/archive/2026-09/cy"), c.client.get("/archive/%C2%B9/cy")],
    ("GET", "/reviews/{slug}"): lambda c: [
        c.client.get("/reviews/adoption-sibling-relationships"), c.client.get("/reviews/nope")],
    ("GET", "/editor/login"): lambda c: [c.client.get("/editor/login")],
    ("POST", "/editor/login"): lambda c: [
        c.client.post("/editor/login", data={"name": "x", "password": "y", "csrf": "z"})],
    ("POST", "/editor/logout"): lambda c: [form(c, "/editor/logout", csrf="forged")],
    ("GET", "/editor"): lambda c: [c.client.get("/editor")],
    ("GET", "/editor/issues/{issue_id}"): lambda c: [
        c.client.get(f"/editor/issues/{c.issue}"), c.client.get("/editor/issues/999999")],
    ("GET", "/editor/issues/{issue_id}/email/{language}"): lambda c: [
        c.client.get(f"/editor/issues/{c.issue}/email/cy"),
        c.client.get(f"/editor/issues/{c.issue}/email/fr")],
    ("POST", "/editor/issues/{issue_id}/check-links"): lambda c: [
        form(c, "/editor/issues/999999/check-links")],
    ("POST", "/editor/issues/{issue_id}/test"): lambda c: [
        form(c, f"/editor/issues/{c.issue}/test", address="qa@example.org", language="cy"),
        form(c, f"/editor/issues/{c.issue}/test", address="qa@x.org\r\nBcc: y", language="cy")],
    ("POST", "/editor/issues/{issue_id}/approve"): lambda c: [
        form(c, f"/editor/issues/{c.issue}/approve", csrf="forged")],
    ("POST", "/editor/issues/{issue_id}/cancel"): lambda c: [
        form(c, f"/editor/issues/{c.issue}/cancel", csrf="forged")],
    ("POST", "/editor/issues/{issue_id}/reopen"): lambda c: [
        form(c, f"/editor/issues/{c.issue}/reopen", csrf="forged")],
    ("POST", "/editor/issues/{issue_id}/replan"): lambda c: [
        form(c, f"/editor/issues/{c.issue}/replan")],
    ("POST", "/editor/issues/{issue_id}/send"): lambda c: [
        form(c, f"/editor/issues/{c.issue}/send")],
    ("GET", "/editor/issues/{issue_id}/side-by-side"): lambda c: [
        c.client.get(f"/editor/issues/{c.issue}/side-by-side"),
        c.client.get("/editor/issues/999999/side-by-side")],
    ("GET", "/feeds/{lang}/{name}"): lambda c: [c.client.get("/feeds/cy/issues.atom"),
                                               c.client.get("/feeds/en/reviews.rss"),
                                               c.client.get("/feeds/fr/issues.atom")],
    ("GET", "/r/{period}/{position}/{lang}"): lambda c: [c.client.get("/r/2026-09/0/cy"),
                                                         c.client.get("/r/2026-09/99/cy")],
    ("GET", "/p/{token}/privacy"): lambda c: [c.client.get(f"/p/{c.prefs}/privacy"),
                                              c.client.get("/p/bad/privacy")],
    ("POST", "/privacy/{token}/export"): lambda c: [
        c.client.post("/privacy/bad/export", data={})],
    ("POST", "/privacy/{token}/erase"): lambda c: [
        c.client.post("/privacy/bad/erase", data={})],
    ("GET", "/editor/reports"): lambda c: [c.client.get("/editor/reports")],
    ("GET", "/editor/reports/issues/{period}"): lambda c: [
        c.client.get("/editor/reports/issues/2026-09"),
        c.client.get("/editor/reports/issues/1999-01")],
    ("GET", "/editor/reports/issues/{period}.csv"): lambda c: [
        c.client.get("/editor/reports/issues/2026-09.csv")],
    ("GET", "/editor/reports/years/{year}"): lambda c: [
        c.client.get("/editor/reports/years/2026"), c.client.get("/editor/reports/years/1")],
    ("GET", "/editor/reports/years/{year}.csv"): lambda c: [
        c.client.get("/editor/reports/years/2026.csv")],
    ("GET", "/editor/subscribers"): lambda c: [c.client.get("/editor/subscribers"),
                                               c.client.get("/editor/subscribers?q=rhys")],
    ("GET", "/editor/subscribers/export.csv"): lambda c: [
        c.client.get("/editor/subscribers/export.csv")],
    ("GET", "/editor/subscribers/{sid}"): lambda c: [
        c.client.get(f"/editor/subscribers/{sid_of(c)}"),
        c.client.get("/editor/subscribers/999999")],
    ("GET", "/editor/subscribers/{sid}/export.json"): lambda c: [
        c.client.get(f"/editor/subscribers/{sid_of(c)}/export.json")],
    ("POST", "/editor/subscribers/{sid}/unsubscribe"): lambda c: [
        form(c, f"/editor/subscribers/{sid_of(c)}/unsubscribe", csrf="forged")],
    ("POST", "/editor/subscribers/{sid}/language"): lambda c: [
        form(c, f"/editor/subscribers/{sid_of(c)}/language", csrf="forged", language="en")],
    ("POST", "/editor/subscribers/{sid}/erase"): lambda c: [
        form(c, f"/editor/subscribers/{sid_of(c)}/erase", confirm="not the address")],
    ("POST", "/webhooks/{name}"): lambda c: [c.client.post("/webhooks/mailgun", content=b"{}"),
                                            c.client.post("/webhooks/nowhere", content=b"{}")],
}


def sid_of(ctx: Ctx) -> int:
    """The id of the subscriber whose tokens the context holds (a token starts with it)."""
    return int(ctx.prefs.split(".")[0])
EMAIL_FRAME = "/editor/issues/{issue_id}/email/{language}"
EMAIL_PAGE = "/archive/{period}/{language}"
TOKEN_ROUTES = {"/confirm/{token}", "/p/{token}", "/u/{token}"}


def directives(csp: str) -> dict[str, str]:
    return {part.split()[0]: part.partition(" ")[2] for part in
            (p.strip() for p in csp.split(";")) if part}


def check(response: Response, route: str) -> None:
    """Every header this kind of response must carry; `route` is its path template."""
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    h = response.headers
    assert h.get("x-content-type-options") == "nosniff", where
    assert h.get("strict-transport-security", "").startswith("max-age="), where
    assert h.get("referrer-policy") == "no-referrer", where
    csp = directives(h.get("content-security-policy", ""))
    assert csp.get("default-src") == "'none'" and "script-src" not in csp, where  # no script
    assert csp.get("base-uri") == "'none'", where
    framed = route == EMAIL_FRAME
    assert csp.get("frame-ancestors") == ("'self'" if framed else "'none'"), where
    assert h.get("x-frame-options") == ("SAMEORIGIN" if framed else "DENY"), where
    if route in (EMAIL_FRAME, EMAIL_PAGE):
        assert "sandbox" in csp and csp.get("style-src") == "'unsafe-inline'", where
    else:
        assert csp.get("style-src") == "'self'" and "unsafe" not in h["content-security-policy"]
    if route.startswith("/editor") or route in TOKEN_ROUTES:
        assert h.get("cache-control") == "no-store", where
    html = h.get("content-type", "").startswith("text/html")
    if response.status_code == 200 and html and route != EMAIL_FRAME:
        # A page's language is negotiated (the framed email's is in its path): a shared cache
        # must key on what chose it.
        vary = {v.strip().lower() for v in h.get("vary", "").split(",")}
        assert {"accept-language", "cookie"} <= vary, where


def routes_of(client: TestClient) -> set[tuple[str, str]]:
    return {(m, r.path or "") for r in iter_route_contexts(client.app.routes)  # type: ignore[attr-defined]
            for m in (r.methods or ()) if m != "HEAD"}


def test_every_route_and_every_answer_carries_the_security_headers(web: Web,
                                                                   session: Session) -> None:
    client, transport, settings = web
    routes = routes_of(client)
    assert routes == set(SAMPLES), "a route without a sample here (or a sample without a route)"
    client.post("/subscribe", data={"email": "pending@example.org", "language": "en"})
    confirm = re.search(r"/confirm/(\S+)", transport.sent[0].data.decode())
    assert confirm is not None
    _, prefs, unsub = subscriber_tokens(session, settings, "rhys.price@example.org")
    ctx = Ctx(client, login(client), issue_id(session), prefs, unsub, confirm.group(1))
    statuses = set()
    for (_, route), sample in sorted(SAMPLES.items()):
        for response in sample(ctx):
            check(response, route)
            statuses.add(response.status_code)
        if "{" not in route:  # the same path with a method it does not take
            wrong = client.request("DELETE", route)
            assert wrong.status_code == 405, route
            check(wrong, route)
    assert {200, 303, 307, 400, 403, 404} <= statuses


def test_refusals_before_the_app_and_crashes_carry_them_too(make_web: MakeWeb) -> None:
    client, _, _ = make_web(raise_server_exceptions=False)

    def crash() -> None:
        raise RuntimeError("a bug")

    client.app.add_api_route("/crash", crash)  # type: ignore[attr-defined]
    answers = {
        "host": client.get("/subscribe", headers={"Host": "evil.example"}),
        "size": client.post("/subscribe", content=b"x" * 70_000,
                            headers={"Content-Type": "application/x-www-form-urlencoded"}),
        "cross-site": client.post("/subscribe", headers={"Sec-Fetch-Site": "cross-site"}),
        "crash": client.get("/crash"),
        "unknown": client.get("/nowhere"),
    }
    assert {k: r.status_code for k, r in answers.items()} == {
        "host": 400, "size": 413, "cross-site": 403, "crash": 500, "unknown": 404}
    for response in answers.values():
        check(response, "/subscribe")
        assert "<html" in response.text and "Traceback" not in response.text
    for _ in range(5):
        try_login(client, password="wrong")
    throttled = client.post("/editor/login", data={
        "name": "sian", "password": "x", "csrf": form_csrf(client.get("/editor/login").text)})
    assert throttled.status_code == 429
    check(throttled, "/editor/login")


def test_the_preview_frames_its_own_email_in_a_sandbox(web: Web, session: Session) -> None:
    client = web[0]
    login(client)
    page = client.get(f"/editor/issues/{issue_id(session)}")
    assert directives(page.headers["content-security-policy"]).get("frame-src") == "'self'"
    frames = re.findall(r"<iframe [^>]*>", page.text)
    assert len(frames) == 2
    for frame in frames:
        allowed = re.search(r'\ssandbox="([^"]*)"', frame)
        assert allowed is not None, frame  # links may open a new tab; nothing else
        assert set(allowed.group(1).split()) == {"allow-popups",
                                                 "allow-popups-to-escape-sandbox"}


def test_no_header_for_http_sites_claims_https(make_web: MakeWeb) -> None:
    client, _, _ = make_web(site_url="http://digest.example.org")
    response = client.get("/subscribe", headers={"Host": "digest.example.org"})
    assert response.status_code == 200 and "strict-transport-security" not in response.headers


# All but the archived issue: the stored email shown inside the site's frame brings its own
# inline styles, so that one page is served under the sandboxed email CSP (EMAIL_PAGE), which
# allows inline style and no script; `check` above holds it to that.
@pytest.mark.parametrize("template", sorted(p for p in (REPO_ROOT / "templates" / "web")
                                            .glob("*.j2") if p.name != "archive_issue.html.j2"),
                         ids=lambda p: p.name)
def test_page_templates_have_no_inline_script_or_style(template: object) -> None:
    text = template.read_text(encoding="utf-8")  # type: ignore[attr-defined]
    assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=|javascript:", text, re.I)


def test_every_get_route_answers_head_but_the_ones_that_act(web: Web) -> None:
    """RFC 9110 9.1; the one-click confirmation is the exception (a scanner's HEAD must not
    confirm anyone), and the click counter, which treats HEAD as a scanner's."""
    client = web[0]
    contexts = list(iter_route_contexts(client.app.routes))  # type: ignore[attr-defined]
    gets = {r.path for r in contexts if "GET" in (r.methods or ())}
    heads = {r.path for r in contexts if "HEAD" in (r.methods or ())}
    assert gets - heads == {"/confirm/{token}"}
    for path in ("/", "/subscribe", "/archive", "/static/site.css", "/feeds/cy/issues.atom",
                 "/feeds/en/reviews.rss", "/editor/login",
                 "/reviews/adoption-sibling-relationships"):
        got, head = client.get(path), client.head(path)
        assert (head.status_code, head.content) == (got.status_code, b""), path
        assert head.headers.get("content-type") == got.headers.get("content-type"), path
        check(head, path)
    assert client.head("/nowhere").status_code == 404


def test_every_token_route_is_redacted_in_the_log_and_not_stored(web: Web) -> None:
    """A route whose path carries a subscriber's token names it `{token}`; every such route
    is logged without it and answered no-store. Other parameters are not secrets."""
    from digest.web.guard import Kind, kind_of
    from digest.web.logs import redact

    paths = {path for _, path in routes_of(web[0])}
    params = {p for path in paths for p in re.findall(r"{(\w+)}", path)}
    assert params == {"token", "issue_id", "language", "lang", "period", "position", "slug",
                      "name", "year", "sid"}, "a new path parameter: is it a token? then `{token}`"
    token_paths = sorted(p for p in paths if "{token}" in p)
    assert len(token_paths) == 6  # confirm, preferences, privacy (3), unsubscribe
    for path in token_paths:
        sample = path.replace("{token}", "17.SECRETsignature")
        assert "SECRET" not in redact(sample) and "SECRET" not in redact(sample + "?lang=cy")
        assert kind_of(sample) is Kind.TOKEN_PAGE, path

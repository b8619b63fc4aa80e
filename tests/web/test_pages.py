"""digest.web.pages and links: the visitor's language, and the links a page builds from the
request (which a 404 page takes from whatever path was asked for)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from digest.delivery.transports.memory import MemoryTransport
from digest.settings import Settings
from digest.web.app import create_app
from digest.web.links import site_path
from digest.web.pages import accepted_languages
from tests.web.client import PASSWORD, SITE, form_csrf, issue_id, subscriber_tokens
from tests.web.conftest import Web


@pytest.mark.parametrize(("header", "wanted"), [
    ("cy-GB;q=0.1, en;q=0.9", ["en", "cy_GB"]),
    ("en;q=0.5,cy;q=0.9", ["cy", "en"]),
    ("en, cy", ["en", "cy"]),
    ("en;q=0", []),  # "not acceptable"
    ("en;q=0.000, cy;q=0.001", ["cy"]),
    ("en-GB;Q=0.3,cy", ["cy", "en_GB"]),  # parameter names are case-insensitive
    ("en;q=nan, cy;q=0.2", ["cy"]), ("en;q=2, cy;q=0.5", ["cy"]), ("en;q=abc", []),
    ("en ; q = 0.4 , cy ; q = 0.6", ["cy", "en"]), (",,;,", []), ("", []),
])
def test_accept_language_is_ranked_by_weight(header: str, wanted: list[str]) -> None:
    assert accepted_languages(header) == wanted


@pytest.mark.parametrize(("header", "lang"), [
    ("cy-GB;q=0.1, en;q=0.9", "en"), ("en;q=0.5,cy;q=0.9", "cy"), ("en;q=0", "cy"),
    ("fr, en;q=0.8, cy;q=0.5", "en"), ("*", "cy"), ("en-US", "en"), ("x" * 5000, "cy"),
])
def test_pages_speak_the_most_wanted_language(web: Web, header: str, lang: str) -> None:
    page = web[0].get("/subscribe", headers={"Accept-Language": header})
    assert page.status_code == 200 and f'<html lang="{lang}">' in page.text


@pytest.mark.parametrize(("path", "link"), [
    ("/subscribe", "/subscribe"), ("//evil.example/x", "/evil.example/x"),
    ("/\\evil.example", "/evil.example"), ("\\\\evil.example", "/evil.example"),
    ("///\\/evil.example", "/evil.example"), ("/caf\u00e9 x", "/caf%C3%A9%20x"),
    ("/a\tb", "/a%09b"), ('/x"y<z>', "/x%22y%3Cz%3E"), ("/a%2Fb", "/a%252Fb"),
    ("/x\ud800", "/x%3F"),
])
def test_site_path_stays_on_the_site(path: str, link: str) -> None:
    assert site_path(path) == link


def test_a_404_pages_language_links_stay_on_the_site(web: Web) -> None:
    client = web[0]
    for asked in (f"{SITE}//evil.example/x", "/%2F%2Fevil.example/x", "/%5C%5Cevil.example/x",
                  "/%5C/evil.example", "/%09/%2Fevil.example"):
        page = client.get(asked)
        assert page.status_code == 404, asked
        links = re.findall(r'href="([^"]*lang=(?:cy|en)[^"]*)"', page.text)
        assert len(links) >= 2, asked  # the language switch, in both of its places
        for link in links:
            relative = link.removeprefix(SITE)
            assert relative.startswith("/") and relative[1] not in "/\\", (asked, link)



def behind_proxy(app: ASGIApp, prefix: str) -> ASGIApp:
    """`app` as a proxy serves it under `prefix`: stripped from each request's path."""
    async def strip(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "path": scope["path"].removeprefix(prefix) or "/",
                     "raw_path": scope["raw_path"].removeprefix(prefix.encode()) or b"/"}
        await app(scope, receive, send)
    return strip


def test_every_link_and_cookie_keeps_the_site_urls_path_prefix(
        engine: Engine, web_settings: Settings, session: Session) -> None:
    # DIGEST_SITE_URL may carry a path, which a proxy strips before the app: a page's own
    # links, forms, style sheet and frames, and the editor's cookie paths, must keep it, or
    # they lead off the site and the browser never sends the editor's cookies back.
    settings = web_settings.model_copy(update={"site_url": f"{SITE}/digest"})
    app = behind_proxy(create_app(settings, engine, MemoryTransport), "/digest")
    sub_id, prefs, unsub = subscriber_tokens(session, settings, "angharad.jones@example.org")
    with TestClient(app, base_url=f"{SITE}/digest", follow_redirects=False) as client:
        paths = ["/subscribe", "/archive", "/reviews/adoption-sibling-relationships",
                 f"/p/{prefs}", f"/p/{prefs}/privacy", f"/u/{unsub}", "/nowhere"]
        pages = [client.get(path) for path in paths]
        form = client.get("/editor/login?lang=en")
        assert "Path=/digest/editor/login" in form.headers["set-cookie"]
        done = client.post("/editor/login", data={"name": "sian", "password": PASSWORD,
                                                  "csrf": form_csrf(form.text)})
        assert done.headers["location"] == f"{SITE}/digest/editor"
        assert "Path=/digest/editor;" in done.headers["set-cookie"]
        issue = issue_id(session)
        pages += [form] + [client.get(path) for path in (
            "/editor", f"/editor/issues/{issue}", f"/editor/issues/{issue}/side-by-side",
            "/editor/subscribers", f"/editor/subscribers/{sub_id}", "/editor/reports",
            "/editor/reports/years/2026")]
    for page in pages:
        assert page.status_code in (200, 404), page.url
        for link in re.findall(r'(?:href|src|action)="([^"]*)"', page.text):
            if link.startswith(SITE):
                link = link.removeprefix(SITE)
            elif not link.startswith("/"):
                continue  # another site's, or this page's own (?after=)
            assert link.startswith("/digest/"), (str(page.url), link)

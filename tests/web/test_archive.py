"""The archive over HTTP: the list by month name in the visitor's language, and each sent
issue inside the site's frame."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete

from digest.delivery.transports.memory import MemoryTransport
from digest.settings import Settings
from digest.store.models import IssueVariant, Language
from tests.web import demo_site

SITE = "https://digest.example.org"


@pytest.fixture
def archive(engine: Engine, session: Session, db_settings: Settings) -> Iterator[TestClient]:
    """The app with the demo issue planned, not yet sent."""
    demo_site.plan_demo(session, db_settings)
    with demo_site.client(engine, db_settings, MemoryTransport()) as client:
        yield client


def sent(engine: Engine, session: Session, settings: Settings) -> None:
    demo_site.send_demo(engine, session, settings, MemoryTransport())


def test_nothing_in_the_archive_until_an_issue_is_sent(archive: TestClient) -> None:
    page = archive.get("/archive?lang=cy")
    assert page.status_code == 200 and "Dim rhifynnau eto." in page.text
    for variant in ("cy", "en", "both"):
        assert archive.get(f"/archive/2026-09/{variant}").status_code == 404


def test_issues_are_listed_by_month_in_the_visitors_language(
        archive: TestClient, engine: Engine, session: Session, db_settings: Settings) -> None:
    sent(engine, session, db_settings)
    cy = archive.get("/archive?lang=cy").text
    assert '<h2><a href="/archive/2026-09/cy">Medi 2026</a></h2>' in cy
    assert "<p>5 adolygiad newydd · 4 seminar i ddod · 2 eitem newyddion</p>" in cy
    assert 'href="/archive/2026-09/en" lang="en" hreflang="en">English</a>' in cy
    assert 'href="/archive/2026-09/both"' in cy
    assert "2026-09</" not in cy and ">2026-09<" not in cy  # no raw periods
    en = archive.get("/archive?lang=en").text
    assert '<h2><a href="/archive/2026-09/en">September 2026</a></h2>' in en
    assert "<p>5 new reviews · 4 seminars coming up · 2 news items</p>" in en
    assert '<header class="site">' in en and "<h1>Archive</h1>" in en
    for lang in ("cy", "en"):  # the page in the other language, and the feeds, in <head>
        assert f'<link rel="alternate" hreflang="{lang}" href="{SITE}/archive?lang={lang}">' in en
    assert f'type="application/atom+xml" title="Social Work Research Digest: issues (Atom)" ' \
           f'href="{SITE}/feeds/en/issues.atom">' in en


@pytest.mark.parametrize(("variant", "lang", "other"), [("cy", "cy", "en"), ("en", "en", "cy")])
def test_an_archived_issue_is_shown_in_the_sites_frame(
        archive: TestClient, engine: Engine, session: Session, db_settings: Settings,
        variant: str, lang: str, other: str) -> None:
    sent(engine, session, db_settings)
    page = archive.get(f"/archive/2026-09/{variant}")
    html = page.text
    assert page.status_code == 200 and html.startswith("<!doctype html>")
    assert f'<html lang="{lang}">' in html
    assert f'<header class="digest-site" lang="{lang}">' in html
    assert f'<a href="{SITE}/archive?lang={lang}">← ' in html  # the way back to the list
    assert f'href="{SITE}/archive/2026-09/{other}" lang="{other}" hreflang="{other}"' in html
    assert f'aria-current="page">{"Cymraeg" if lang == "cy" else "English"}</a>' in html
    for code in ("cy", "en"):
        assert f'<link rel="alternate" hreflang="{code}" href="{SITE}/archive/2026-09/{code}">' \
            in html
    assert html.count("<body") == 1 and html.count("<head>") == 1 and html.count("<title>") == 1
    assert 'role="main"' in html and "<h1 " in html  # the email, whole
    assert "ZZdigest" not in html and "/u/" not in html and "/p/" not in html
    assert ">Unsubscribe<" not in html and ">Dad-danysgrifio<" not in html
    invite = re.findall(rf'<a href="{SITE}/subscribe\?lang=(cy|en)">', html)
    assert invite == [lang, lang]  # the email's footer and the site's
    assert re.findall(r'href="(https?://[^/"]+)', html)  # absolute links ...
    assert {h for h in re.findall(r'href="(https?://[^/"]+)', html)} <= {
        SITE, "https://example.org", "https://doi.org"}  # ... to our site or the items'


def test_the_bilingual_issue_frame_speaks_the_visitors_language(
        archive: TestClient, engine: Engine, session: Session, db_settings: Settings) -> None:
    sent(engine, session, db_settings)
    en = archive.get("/archive/2026-09/both?lang=en").text
    assert '<html lang="cy">' in en  # the email starts in Welsh ...
    assert '<header class="digest-site" lang="en">' in en  # ... the frame is the visitor's
    assert "All issues" in en
    cy = archive.get("/archive/2026-09/both?lang=cy").text
    assert "Pob rhifyn" in cy
    assert cy.count('<a href="https://digest.example.org/subscribe?lang=') == 3  # cy, en, frame


def test_the_bilingual_issue_page_is_cached_per_language_and_keeps_the_choice(
        archive: TestClient, engine: Engine, session: Session, db_settings: Settings) -> None:
    # Its frame speaks the language of ?lang, the cookie or Accept-Language: a shared cache
    # must not give one reader's language to the next, and ?lang= is remembered as elsewhere.
    sent(engine, session, db_settings)
    archive.cookies.clear()
    asked = archive.get("/archive/2026-09/both", headers={"accept-language": "en"})
    assert '<header class="digest-site" lang="en">' in asked.text
    assert "Accept-Language" in asked.headers["vary"] and "Cookie" in asked.headers["vary"]
    chosen = archive.get("/archive/2026-09/both?lang=en")
    assert "lang=en" in chosen.headers["set-cookie"]
    assert '<header class="digest-site" lang="en">' in archive.get("/archive/2026-09/both").text
    # A one-language variant speaks its own language whoever asks: no choice stored.
    archive.cookies.clear()
    assert "set-cookie" not in archive.get("/archive/2026-09/cy?lang=en").headers


def test_the_archive_refuses_what_it_does_not_have(
        archive: TestClient, engine: Engine, session: Session, db_settings: Settings) -> None:
    sent(engine, session, db_settings)
    for path in ("/archive/2026-9/cy", "/archive/2026-13/cy", "/archive/1999-01/cy",
                 "/archive/..%2F/cy"):
        assert archive.get(path).status_code == 404, path
    assert archive.get("/archive/2026-09/fr").status_code == 404  # a page, not FastAPI's JSON


def test_the_list_links_only_to_variants_the_issue_has(
        archive: TestClient, engine: Engine, session: Session, db_settings: Settings) -> None:
    sent(engine, session, db_settings)
    session.execute(delete(IssueVariant).where(col(IssueVariant.language) == Language.BOTH))
    session.commit()
    cy = archive.get("/archive?lang=cy").text
    assert 'href="/archive/2026-09/en"' in cy and "/archive/2026-09/both" not in cy
    for href in re.findall(r'href="(/archive/2026-09/[a-z]+)"', cy):
        assert archive.get(href).status_code == 200, href

"""The editors' pages in Welsh and English, their checks' timing and wording, and the
side-by-side view, over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.delivery.transports.memory import MemoryTransport
from digest.settings import Settings
from digest.store.models import Issue, Review
from digest.web.auth import hash_password
from tests.web import demo_site

PASSWORD = "correct horse battery staple"


@pytest.fixture
def editors(engine: Engine, session: Session, db_settings: Settings) -> Iterator[TestClient]:
    """The app with the demo issue planned and an editor, sian, logged in (no language
    chosen yet: the pages start in Welsh)."""
    settings = db_settings.model_copy(update={
        "editor_accounts": f"sian:{hash_password(PASSWORD)}"})
    demo_site.plan_demo(session, settings)
    with demo_site.client(engine, settings, MemoryTransport()) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/editor/login").text)
        assert csrf is not None
        client.post("/editor/login", data={"name": "sian", "password": PASSWORD,
                                           "csrf": csrf.group(1)})
        yield client


def issue_id(session: Session) -> int:
    session.rollback()
    return session.exec(select(Issue)).one().id or 0


def test_the_editors_pages_speak_welsh_first_and_switch_with_the_toggle(
        editors: TestClient, session: Session) -> None:
    iid = issue_id(session)
    listing = editors.get("/editor").text
    assert '<html lang="cy">' in listing
    for welsh in ("<h1>Rhifynnau</h1>", ">Cyfnod<", ">Statws<", ">Anfon ar ôl<", ">drafft<",
                  "Allgofnodi sian", "Golygyddion"):
        assert welsh in listing, welsh
    assert 'data-label="Anfon ar ôl"' in listing  # the phone layout's labels, too
    page = editors.get(f"/editor/issues/{iid}?variant=en").text  # English email, Welsh page
    assert '<html lang="cy">' in page and "Rhifyn 2026-09" in page
    assert 'href="/editor/issues/1?variant=en" aria-current="page"' in page
    for welsh in ("Gwiriadau", "Cyfieithiadau", "heb ei wirio eto", "Anfon prawf",
                  "Cymeradwyo", "Hanes", "wedi&#39;i gynllunio", "Ochr yn ochr"):
        assert welsh in page, welsh
    toggle = re.search(r'<a href="([^"]+)" lang="en" hreflang="en">English</a>', page)
    assert toggle is not None and toggle.group(1) == f"/editor/issues/{iid}?variant=en&amp;lang=en"
    english = editors.get(f"/editor/issues/{iid}?variant=en&lang=en").text
    assert '<html lang="en">' in english and "Issue 2026-09" in english
    assert "Checks" in english and "not checked yet" in english and "Gwiriadau" not in english
    assert 'aria-current="page"><span lang="en">English</span>' in english  # the tab kept
    assert '<html lang="en">' in editors.get("/editor").text  # remembered
    assert "hreflang" not in english.split("</head>")[0]  # no alternates for editor pages


def test_notices_are_in_the_editors_language(editors: TestClient, session: Session) -> None:
    iid = issue_id(session)
    refused = editors.post(f"/editor/issues/{iid}/send", data={"csrf": csrf(editors)})
    assert refused.headers["location"].endswith("&notice=not-sent")  # a code, never text
    assert "Heb ei anfon" in editors.get(refused.headers["location"]).text
    editors.get("/editor?lang=en")
    refused = editors.post(f"/editor/issues/{iid}/send", data={"csrf": csrf(editors)})
    assert "Not sent: only an approved issue" in editors.get(refused.headers["location"]).text


def csrf(client: TestClient) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/editor").text)
    assert found is not None
    return found.group(1)


def test_checks_say_when_they_are_judged(editors: TestClient, session: Session,
                                         engine: Engine, db_settings: Settings) -> None:
    iid = issue_id(session)
    page = editors.get(f"/editor/issues/{iid}?lang=en").text
    when = re.search(r'<p class="meta" id="checks-at">([^<]+)</p>', page)
    assert when is not None
    # The demo issue's send time is 8 September 2026 00:00 in Cardiff; today is later, so
    # the checks are judged as of now.
    assert when.group(1).startswith("Judged against the time the issue will be sent, ")
    demo_site.send_demo(engine, session, db_settings, MemoryTransport())
    sent = editors.get(f"/editor/issues/{iid}?lang=cy").text
    assert "Fel yr oeddent pan ddechreuodd yr anfon" in sent
    assert "Gwirio&#39;r dolenni" not in sent  # no link check on what has gone


def test_side_by_side_shows_both_languages_and_flags_the_gaps(
        editors: TestClient, session: Session) -> None:
    iid = issue_id(session)
    review = session.exec(select(Review).where(
        Review.slug == "adoption-sibling-relationships")).one()
    review.teaser_cy = None
    review.body_cy = "Byr."
    session.commit()
    page = editors.get(f"/editor/issues/{iid}/side-by-side?lang=cy").text
    assert "<h1>Cymraeg a Saesneg ochr yn ochr</h1>" in page
    assert "2 faes i edrych arnynt" in page  # Welsh plural: two fields
    flagged = re.findall(r'<li><a href="#(item-\d+-\w+)">', page)
    assert len(flagged) == 2 and all(f'id="{anchor}"' in page for anchor in flagged)
    assert page.count('class="flagged"') == 2
    assert "Ar goll yn Gymraeg" in page and "Llawer byrrach na&#39;r Saesneg" in page
    pair = page[page.index(f'id="{flagged[0]}"'):]
    assert pair.index('<div lang="cy"') < pair.index('<div lang="en"')  # Welsh first
    assert page.count('<section class="item"') == 11
    assert "<h4>" in page and "<h2>What question" not in page  # bodies' headings moved down
    english = editors.get(f"/editor/issues/{iid}/side-by-side?lang=en").text
    assert "2 fields to look at" in english and "Missing in Welsh" in english
    assert editors.get("/editor/issues/999/side-by-side").status_code == 404
    editors.cookies.clear()
    assert editors.get(f"/editor/issues/{iid}/side-by-side").status_code == 303  # login first

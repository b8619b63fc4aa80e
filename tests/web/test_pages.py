"""digest.web.pages and links: the visitor's language, and the links a page builds from the
request (which a 404 page takes from whatever path was asked for)."""

from __future__ import annotations

import re

import pytest

from digest.web.links import site_path
from digest.web.pages import accepted_languages
from tests.web.client import SITE
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

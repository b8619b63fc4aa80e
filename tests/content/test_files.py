"""Content files: validation with located errors, all-or-nothing, and sync to both databases."""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from digest.cli import app
from digest.content.files import (
    ContentError,
    ContentInvalid,
    ReviewMeta,
    SeminarMeta,
    load_dir,
)
from digest.content.sync import SyncReport, upsert
from digest.settings import Settings
from digest.store.db import make_engine, upgrade
from digest.store.models import News, NewsKind, Review, Seminar

REVIEW_EN = """---
type: review
published: 2026-09-02
reviewer: Dr Gwyn Jones
citation:
  authors: [Sarah Meakings, Amanda Coffey]
  year: 2021
  title: The influence of adoption on sibling relationships
  journal: British Journal of Social Work
  doi: 10.1093/bjsw/bcaa001
url: https://example.org/review
title: Adoption and siblings
teaser: Most children placed for adoption had a brother or sister.
---
## What did they find?

English body.
"""
REVIEW_CY = """---
title: Mabwysiadu a brodyr a chwiorydd ŵ ŷ
teaser: Roedd gan y rhan fwyaf frawd neu chwaer; gŵyl a ŷd.
---
Corff Cymraeg: Ŵyn ac ŷd.
"""
SEMINAR_EN = """---
type: seminar
published: 2026-08-20
starts_at: "2026-09-15T12:00"
ends_at: "2026-09-15T13:30"
presenters:
  - name: Dr Siân Evans
    affiliation: Cardiff University
online: true
title: Lunchtime seminar
teaser: A talk about care leavers.
location: Glamorgan Building, Cardiff
---
"""
SEMINAR_CY = ("---\ntitle: Seminar amser cinio\nteaser: Sgwrs am bobl ifanc sy'n gadael gofal.\n"
              "location: Adeilad Morgannwg, Caerdydd\n---\n")
NEWS_EN = """---
type: news
published: 2026-01-10
kind: resource
author: Research team
url: https://example.org/toolkit
title: A new toolkit
teaser: Free resources for practitioners.
---
"""
NEWS_CY = "---\ntitle: Pecyn cymorth newydd\nteaser: Adnoddau am ddim.\n---\n"
GOOD = {
    "reviews/adoption.en.md": REVIEW_EN, "reviews/adoption.cy.md": REVIEW_CY,
    "seminars/care-leavers.en.md": SEMINAR_EN, "seminars/care-leavers.cy.md": SEMINAR_CY,
    "seminars/winter.en.md": SEMINAR_EN.replace("2026-09-15", "2026-01-20"),
    "seminars/winter.cy.md": SEMINAR_CY,
    "news/toolkit.en.md": NEWS_EN, "news/toolkit.cy.md": NEWS_CY,
}


def write(root: Path, files: Mapping[str, str | bytes]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    return root


def errors_of(root: Path) -> list[ContentError]:
    with pytest.raises(ContentInvalid) as info:
        load_dir(root)
    for e in info.value.errors:
        assert str(e.path) in str(info.value)
    return info.value.errors


def one_error(root: Path) -> ContentError:
    errors = errors_of(root)
    assert len(errors) == 1, errors
    return errors[0]


def apply(session: Session, root: Path, settings: Settings) -> SyncReport:
    """What `digest content sync` does: validate everything, then upsert."""
    report = upsert(session, load_dir(root), settings.tz)
    session.commit()
    session.expunge_all()
    return report


def counts(session: Session) -> tuple[int, int, int]:
    return tuple(session.exec(select(func.count()).select_from(t)).one()  # type: ignore[return-value]
                 for t in (Review, Seminar, News))


def test_good_pairs_load(tmp_path: Path) -> None:
    items = {i.slug: i for i in load_dir(write(tmp_path, GOOD))}
    assert sorted(items) == ["adoption", "care-leavers", "toolkit", "winter"]
    review = items["adoption"]
    assert review.meta.type == "review" and set(review.translations) == {"cy", "en"}
    assert review.translations["cy"].body == "Corff Cymraeg: Ŵyn ac ŷd."
    assert review.translations["en"].body.startswith("## What did they find?")
    assert items["care-leavers"].translations["cy"].location == "Adeilad Morgannwg, Caerdydd"


@pytest.mark.parametrize("ending", ["\r\n", "\r"], ids=["crlf", "cr-only"])
def test_any_one_line_ending_reads_as_lf_does(tmp_path: Path, ending: str) -> None:
    """Windows (CRLF) and classic Mac (CR-only) files load as their LF selves, and a
    problem in one is reported at the same line and field."""
    def converted(files: Mapping[str, str | bytes]) -> dict[str, str | bytes]:
        return {n: t.replace("\n", ending).encode() for n, t in files.items()
                if isinstance(t, str)}

    def loaded(root: Path) -> list[tuple[str, object, object]]:
        return sorted(((i.slug, i.meta.model_dump(), {k: t.model_dump() for k, t in
                                                      i.translations.items()})
                       for i in load_dir(root)), key=lambda x: x[0])

    assert loaded(write(tmp_path / "lf", GOOD)) == loaded(
        write(tmp_path / "other", converted(GOOD)))
    bad = {"reviews/a.en.md": REVIEW_EN.replace("reviewer: Dr Gwyn Jones",
                                                "reviewer: Dr: Gwyn Jones"),
           "reviews/a.cy.md": REVIEW_CY}
    expected = one_error(write(tmp_path / "bad-lf", bad))
    error = one_error(write(tmp_path / "bad-other", converted(bad)))
    assert (error.line, error.field, error.message) == (
        expected.line, expected.field, expected.message)


def test_sync_stores_both_languages_and_utc_times(session: Session, tmp_path: Path,
                                                  settings: Settings) -> None:
    report = apply(session, write(tmp_path, GOOD), settings)
    assert report.created == {"review": 1, "seminar": 2, "news": 1}
    review = session.exec(select(Review)).one()
    assert (review.title_cy, review.body_cy) == ("Mabwysiadu a brodyr a chwiorydd ŵ ŷ",
                                                 "Corff Cymraeg: Ŵyn ac ŷd.")
    assert review.title_en == "Adoption and siblings"
    assert review.authors == ["Sarah Meakings", "Amanda Coffey"] and review.year == 2021
    assert (review.journal, review.doi) == ("British Journal of Social Work",
                                            "10.1093/bjsw/bcaa001")
    assert review.published_at == datetime(2026, 9, 1, 23, 0, tzinfo=UTC)  # BST midnight
    summer = session.exec(select(Seminar).where(Seminar.slug == "care-leavers")).one()
    assert summer.starts_at == datetime(2026, 9, 15, 11, 0, tzinfo=UTC)
    assert summer.ends_at == datetime(2026, 9, 15, 12, 30, tzinfo=UTC)
    assert summer.presenters == [{"name": "Dr Siân Evans", "affiliation": "Cardiff University"}]
    assert summer.online is True
    assert (summer.location_cy, summer.location_en) == ("Adeilad Morgannwg, Caerdydd",
                                                        "Glamorgan Building, Cardiff")
    winter = session.exec(select(Seminar).where(Seminar.slug == "winter")).one()
    assert winter.starts_at == datetime(2026, 1, 20, 12, 0, tzinfo=UTC)
    news = session.exec(select(News)).one()
    assert news.kind is NewsKind.RESOURCE and news.title_cy == "Pecyn cymorth newydd"
    assert news.published_at == datetime(2026, 1, 10, 0, 0, tzinfo=UTC)  # GMT midnight


def stored_rows(session: Session) -> set[tuple[str, datetime, str | None]]:
    """(slug, updated_at, English teaser) of every stored review, seminar and news item."""
    rows: list[Review | Seminar | News] = [*session.exec(select(Review)), *session.exec(
        select(Seminar)), *session.exec(select(News))]
    return {(r.slug, r.updated_at, r.teaser_en) for r in rows}


def test_sync_is_idempotent_and_reports_edits(session: Session, tmp_path: Path,
                                              settings: Settings) -> None:
    root = write(tmp_path, GOOD)
    apply(session, root, settings)
    before = stored_rows(session)
    again = apply(session, root, settings)
    assert again.created == {} and again.updated == {}
    assert again.unchanged == {"review": 1, "seminar": 2, "news": 1}
    after = stored_rows(session)
    assert after == before
    edited = REVIEW_EN.replace("had a brother or sister.", "had a sibling.")
    write(root, {"reviews/adoption.en.md": edited})
    third = apply(session, root, settings)
    assert third.updated == {"review": 1} and third.total(third.unchanged) == 3
    assert session.exec(select(Review)).one().teaser_en == "Most children placed for " \
        "adoption had a sibling."
    assert counts(session) == (1, 2, 1)


def test_a_sync_names_the_stored_items_whose_file_is_gone(
        session: Session, tmp_path: Path, db_settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleting a file does not withdraw its item (issues point at it) and planning can still
    choose it: the sync used to say nothing about it at all."""
    settings = db_settings
    assert apply(session, write(tmp_path / "all", GOOD), settings).absent == []
    fewer = {n: t for n, t in GOOD.items() if not n.startswith(("news/", "seminars/winter"))}
    assert apply(session, write(tmp_path / "fewer", fewer), settings).absent == [
        "toolkit", "winter"]
    assert counts(session) == (1, 2, 1)  # still stored

    monkeypatch.chdir(tmp_path)
    env = {"DIGEST_DATABASE_URL": settings.database_url, "DIGEST_VAR_DIR": str(tmp_path / "var")}
    result = CliRunner().invoke(app, ["content", "sync", str(tmp_path / "fewer")], env=env)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert ("warning: 2 item(s) in the store have no file here: toolkit, winter; they stay "
            "in the store and can still go in an issue") in flat, flat


def test_english_only_item_loads_with_welsh_empty(session: Session, tmp_path: Path,
                                                  settings: Settings) -> None:
    apply(session, write(tmp_path, {"adoption.en.md": REVIEW_EN}), settings)
    row = session.exec(select(Review)).one()
    assert (row.title_cy, row.teaser_cy, row.body_cy) == (None, None, None)
    assert row.title_en == "Adoption and siblings"


def test_neutral_fields_may_repeat_when_they_agree(tmp_path: Path) -> None:
    cy = REVIEW_CY.replace("---\ntitle", "---\ntype: review\npublished: 2026-09-02\ntitle")
    [item] = load_dir(write(tmp_path, {"a.en.md": REVIEW_EN, "a.cy.md": cy}))
    assert item.meta.published == datetime(2026, 9, 2)


# (change to REVIEW_EN, field, line); lines count from the opening '---' as line 1
REVIEW_CASES = [
    (("title: Adoption and siblings\n", ""), "title", None),
    (("  journal: British Journal of Social Work\n", ""), "citation.journal", 5),
    (("  title: The influence of adoption on sibling relationships\n", ""), "citation.title", 5),
    (('title: Adoption and siblings', 'title: ""'), "title", 12),
    (("published: 2026-09-02", "published: 2026-13-45"), "published", 3),
    (("published: 2026-09-02", "published: 2026"), "published", 3),
    (("published: 2026-09-02\n", ""), "published", None),
    (("reviewer: Dr Gwyn Jones", "reviewer: Dr Gwyn Jones\nsubtitle: extra"), "subtitle", 5),
    (("  year: 2021", "  year: 2021\n  isbn: 123"), "citation.isbn", 8),
    (("type: review", "type: essay"), "type", 2),
    (("type: review\n", ""), "type", None),
    (("teaser: Most", "teaser: " + "x" * 400 + " Most"), "teaser", 13),
    (("title: Adoption", "body: in the wrong place\ntitle: Adoption"), "body", 12),
    (("title: Adoption", "location: Cardiff\ntitle: Adoption"), "location", 12),
    (("url: https://example.org/review", "url: javascript:alert(1)"), "url", 11),
    (("url: https://example.org/review", "url: JavaScript:alert(1)"), "url", 11),
    (("url: https://example.org/review", "url: data:text/html,x"), "url", 11),
    (("url: https://example.org/review", "url: //example.org/x"), "url", 11),
    (("url: https://example.org/review", 'url: "https://x.org/\\"><b>"'), "url", 11),
]


@pytest.mark.parametrize(("change", "field", "line"), REVIEW_CASES,
                         ids=[c[1] + str(i) for i, c in enumerate(REVIEW_CASES)])
def test_bad_review_names_file_field_and_line(tmp_path: Path, change: tuple[str, str],
                                              field: str, line: int | None) -> None:
    assert change[0] in REVIEW_EN
    root = write(tmp_path, {"reviews/a.en.md": REVIEW_EN.replace(*change),
                            "reviews/a.cy.md": REVIEW_CY})
    error = one_error(root)
    assert (error.path, error.field, error.line) == (root / "reviews/a.en.md", field, line)


def test_invalid_yaml_points_at_the_bad_line(tmp_path: Path) -> None:
    bad = REVIEW_EN.replace("reviewer: Dr Gwyn Jones", "reviewer: Dr: Gwyn Jones")
    error = one_error(write(tmp_path, {"a.en.md": bad}))
    assert error.line == 4 and "invalid YAML" in error.message
    assert str(error).startswith(f"{tmp_path / 'a.en.md'}:4: ")


@pytest.mark.parametrize("after", [" ", "\t", "  \t "])
@pytest.mark.parametrize("fence", ["opening", "closing", "both"])
def test_a_fence_with_blanks_after_it_is_a_fence(tmp_path: Path, fence: str,
                                                 after: str) -> None:
    """`--- ` (a space no editor shows) was "front matter is not closed by ---"."""
    def fenced(text: str) -> str:
        head, body = text.removeprefix("---\n").split("\n---\n", 1)
        opening = "---" + (after if fence != "closing" else "")
        closing = "---" + (after if fence != "opening" else "")
        return f"{opening}\n{head}\n{closing}\n{body}"

    plain = {i.slug: i for i in load_dir(write(tmp_path / "plain", GOOD))}
    spaced = {i.slug: i for i in load_dir(write(tmp_path / "spaced", {
        n: fenced(t) for n, t in GOOD.items() if isinstance(t, str)}))}
    assert {s: (i.meta, i.translations) for s, i in spaced.items()} == {
        s: (i.meta, i.translations) for s, i in plain.items()}
    bad = fenced(REVIEW_EN.replace("reviewer: Dr Gwyn Jones", "reviewer: Dr: Gwyn Jones"))
    assert one_error(write(tmp_path / "bad", {"a.en.md": bad})).line == 4
    at_end = fenced(NEWS_CY).removesuffix("\n")  # the closing fence is the file's last line
    assert len(load_dir(write(tmp_path / "end", {"n.en.md": NEWS_EN, "n.cy.md": at_end}))) == 1


def test_a_fence_is_three_dashes_not_four(tmp_path: Path) -> None:
    error = one_error(write(tmp_path, {"a.en.md": REVIEW_EN.replace("\n---\n##", "\n----\n##")}))
    assert error.line == 1 and "not closed" in error.message


@pytest.mark.parametrize(("name", "text", "field", "line", "words"), [
    ("a.fr.md", REVIEW_EN, "language", None, "'fr'"),
    ("Adoption Review.en.md", REVIEW_EN, "filename", None, "<slug>.cy.md"),
    ("adoption.md", REVIEW_EN, "filename", None, "<slug>.en.md"),
    ("a.en.md", REVIEW_EN.replace("\n---\n##", "\n##"), None, 1, "not closed"),
    ("a.en.md", REVIEW_EN.removeprefix("---\n"), None, 1, "front matter"),
    ("a.en.md", "---\n- just\n- a list\n---\n", None, 2, "mapping"),
    ("a.en.md", REVIEW_EN.encode("utf-8").replace(b"Gwyn", b"Gw\xfdn"), None, 4, "UTF-8"),
    # Saved as "Unicode" (UTF-16, Windows Notepad's and Word's name for it): it was "not
    # valid UTF-8 (invalid start byte at byte 1)", which does not say what to do.
    ("a.en.md", REVIEW_EN.encode("utf-16"), None, 1, "is UTF-16 (it starts with its byte "
                                                     "order mark), not UTF-8: save it as UTF-8"),
    ("a.en.md", codecs.BOM_UTF16_BE + REVIEW_EN.encode("utf-16-be"), None, 1, "is UTF-16"),
    ("a.en.md", REVIEW_EN.encode("utf-32"), None, 1, "is UTF-32"),
])
def test_bad_file_is_reported(tmp_path: Path, name: str, text: str | bytes,
                              field: str | None, line: int | None, words: str) -> None:
    error = one_error(write(tmp_path, {name: text}))
    assert (error.path, error.field, error.line) == (tmp_path / name, field, line)
    assert words in error.message


def test_text_is_read_in_one_normal_form(tmp_path: Path) -> None:
    """Welsh ŵ ŷ â typed as a letter and a combining mark (NFD, as macOS and PDFs give them)
    are stored as the one character (NFC): a neutral field written in each form in the two
    files of a pair was "differs from", though they looked the same."""
    nfd = unicodedata.normalize("NFD", "Dr Siôn Ŵyn")
    assert nfd != "Dr Siôn Ŵyn"
    en = REVIEW_EN.replace("Dr Gwyn Jones", "Dr Siôn Ŵyn")
    cy = REVIEW_CY.replace("---\ntitle", f"---\nreviewer: {nfd}\ntitle")
    cy = unicodedata.normalize("NFD", cy)
    [item] = load_dir(write(tmp_path, {"a.en.md": en, "a.cy.md": cy}))
    assert isinstance(item.meta, ReviewMeta) and item.meta.reviewer == "Dr Siôn Ŵyn"
    welsh = item.translations["cy"]
    assert welsh.title == "Mabwysiadu a brodyr a chwiorydd ŵ ŷ"
    assert welsh.body == "Corff Cymraeg: Ŵyn ac ŷd."


@pytest.mark.parametrize(("name", "old", "new", "field", "line"), [
    ("a.cy.md", "title: Mabwysiadu a brodyr a chwiorydd ŵ ŷ", 'title: "\\u200b"', "title", 2),
    ("a.cy.md", "teaser: Roedd gan y rhan fwyaf frawd neu chwaer; gŵyl a ŷd.",
     'teaser: "\\u2060\\ufeff \\u200b"', "teaser", 3),
    ("a.en.md", "reviewer: Dr Gwyn Jones", 'reviewer: "\\u0302\\u0308"', "reviewer", 4),
    ("a.en.md", "[Sarah Meakings, Amanda Coffey]", '[Sarah Meakings, "\\u200d"]',
     "citation.authors.1", 6),
    ("a.en.md", "  year: 2021", '  year: 2021\n  volume: "\\u200b"', "citation.volume", 8),
])
def test_a_field_with_nothing_visible_in_it_is_refused(
        tmp_path: Path, name: str, old: str, new: str, field: str, line: int) -> None:
    """A title of only a zero-width space (str.strip keeps it) was an empty heading and link."""
    files = {"a.en.md": REVIEW_EN, "a.cy.md": REVIEW_CY}
    assert old in files[name]
    files[name] = files[name].replace(old, new)
    errors = errors_of(write(tmp_path, files))
    found = [e for e in errors if e.field == field]
    assert len(found) == 1, errors
    assert (found[0].path.name, found[0].line) == (name, line)
    assert "nothing visible" in found[0].message


def test_text_with_invisible_characters_among_visible_ones_loads(tmp_path: Path) -> None:
    cy = REVIEW_CY.replace("title: Mabwysiadu a brodyr a chwiorydd ŵ ŷ",
                           'title: "\\u200bMabwysiadu 🙂\\u200d"')
    [item] = load_dir(write(tmp_path, {"a.en.md": REVIEW_EN, "a.cy.md": cy}))
    assert item.translations["cy"].title == "\u200bMabwysiadu 🙂\u200d"


@pytest.mark.parametrize(("written", "words"), [
    # As a link, or with its prefix: the citation showed https://doi.org/https://doi.org/...
    ("https://doi.org/10.1093/bjsw/bcaa001", "without 'https://doi.org/'"),
    ("http://dx.doi.org/10.1093/bjsw/bcaa001", "without 'http://dx.doi.org/'"),
    ("doi:10.1093/bjsw/bcaa001", "without 'doi:'"),
    ("DOI: 10.1093/bjsw/bcaa001", "without 'DOI:'"),
    ("10.1093 / bjsw / bcaa001", "not a DOI"),
    ("bcaa001", "not a DOI"),
    ("10.1093", "not a DOI"),
])
def test_a_doi_is_the_doi_alone(tmp_path: Path, written: str, words: str) -> None:
    en = REVIEW_EN.replace("doi: 10.1093/bjsw/bcaa001", f'doi: "{written}"')
    error = one_error(write(tmp_path, {"a.en.md": en, "a.cy.md": REVIEW_CY}))
    assert (error.field, error.line) == ("citation.doi", 10) and words in error.message, error


@pytest.mark.parametrize("written", ["10.1093/bjsw/bcaa001", "10.1000.10/abc",
                                     "10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-0"])
def test_dois_old_and_new_load(tmp_path: Path, written: str) -> None:
    en = REVIEW_EN.replace("doi: 10.1093/bjsw/bcaa001", f'doi: "{written}"')
    [item] = load_dir(write(tmp_path, {"a.en.md": en, "a.cy.md": REVIEW_CY}))
    assert isinstance(item.meta, ReviewMeta) and item.meta.citation.doi == written


@pytest.mark.parametrize(("name", "old", "new", "field", "line", "words"), [
    # Each was "Input should be a valid string", which does not say what to do.
    ("a.en.md", "  year: 2021", "  year: 2021\n  volume: 50", "citation.volume", 8,
     "YAML reads this as a number, not text: put it in quotes"),
    ("a.en.md", "  year: 2021", "  year: 2021\n  pages: 12.5", "citation.pages", 8,
     "as a number"),
    ("a.cy.md", "title: Mabwysiadu a brodyr a chwiorydd ŵ ŷ", "title: 1984", "title", 2,
     "as a number"),
    ("a.cy.md", "title: Mabwysiadu a brodyr a chwiorydd ŵ ŷ", "title: yes", "title", 2,
     "as yes/no"),
    ("a.cy.md", "title: Mabwysiadu a brodyr a chwiorydd ŵ ŷ", "title: 2026-09-01", "title", 2,
     "as a date"),
    ("a.en.md", "[Sarah Meakings, Amanda Coffey]", "[Sarah Meakings, 12]",
     "citation.authors.1", 6, "as a number"),
    ("a.cy.md", "title: Mabwysiadu a brodyr a chwiorydd ŵ ŷ", "title:", "title", 2,
     "is empty"),
])
def test_a_value_yaml_reads_as_no_text_says_to_quote_it(
        tmp_path: Path, name: str, old: str, new: str, field: str, line: int,
        words: str) -> None:
    files = {"a.en.md": REVIEW_EN, "a.cy.md": REVIEW_CY}
    assert old in files[name]
    files[name] = files[name].replace(old, new)
    error = one_error(write(tmp_path, files))
    assert (error.path.name, error.field, error.line) == (name, field, line), error
    assert words in error.message, error


def test_quoted_numbers_are_text(tmp_path: Path) -> None:
    en = REVIEW_EN.replace("  year: 2021", '  year: 2021\n  volume: "50"\n  pages: "0123"')
    [item] = load_dir(write(tmp_path, {"a.en.md": en, "a.cy.md": REVIEW_CY}))
    assert isinstance(item.meta, ReviewMeta)
    assert (item.meta.citation.volume, item.meta.citation.pages) == ("50", "0123")


def test_neutral_fields_disagreeing_across_the_pair(tmp_path: Path) -> None:
    cy = REVIEW_CY.replace("---\ntitle", "---\npublished: 2026-09-03\ntitle")
    error = one_error(write(tmp_path, {"a.en.md": REVIEW_EN, "a.cy.md": cy}))
    assert (error.path.name, error.field, error.line) == ("a.en.md", "published", 3)
    assert "differs from a.cy.md" in error.message


def test_seminar_needs_a_location_in_each_language(tmp_path: Path) -> None:
    cy = SEMINAR_CY.replace("location: Adeilad Morgannwg, Caerdydd\n", "")
    error = one_error(write(tmp_path, {"s.en.md": SEMINAR_EN, "s.cy.md": cy}))
    assert (error.path.name, error.field) == ("s.cy.md", "location")


@pytest.mark.parametrize(("ends", "words"), [
    ('"2026-09-15T11:00"', "after starts_at"),
    ('"2026-09-15T12:00"', "after starts_at"),
    ('"2026-09-15T13:00+01:00"', "both local"),
])
def test_seminar_ends_after_it_starts(tmp_path: Path, ends: str, words: str) -> None:
    en = SEMINAR_EN.replace('"2026-09-15T13:30"', ends)
    error = one_error(write(tmp_path, {"s.en.md": en, "s.cy.md": SEMINAR_CY}))
    assert (error.path.name, error.field, error.line) == ("s.en.md", "ends_at", 5)
    assert words in error.message


@pytest.mark.parametrize(("field", "when", "words"), [
    # The last Sunday of March: 01:00-02:00 never happens (zoneinfo moved it an hour, so a
    # seminar 01:30-02:10 was stored ending 20 minutes before it started).
    ("starts_at", "2027-03-28T01:30", "does not exist in Europe/London"),
    ("published", "2027-03-28T01:59", "does not exist in Europe/London"),
    # The last Sunday of October: 01:00-02:00 happens twice.
    ("starts_at", "2026-10-25T01:30", "happens twice in Europe/London"),
    ("ends_at", "2026-10-25T01:00", "happens twice in Europe/London"),
])
def test_a_local_time_the_clocks_skip_or_repeat_is_refused(
        tmp_path: Path, field: str, when: str, words: str) -> None:
    en = SEMINAR_EN.replace('starts_at: "2026-09-15T12:00"', 'starts_at: "2026-10-25T00:10"')
    en = en.replace('ends_at: "2026-09-15T13:30"', 'ends_at: "2026-10-25T02:30"')
    en = re.sub(rf"^{field}: .*$", f'{field}: "{when}"', en, flags=re.MULTILINE)
    error = one_error(write(tmp_path, {"s.en.md": en, "s.cy.md": SEMINAR_CY}))
    line = 1 + en.split("\n").index(f'{field}: "{when}"')
    assert (error.path.name, error.field, error.line) == ("s.en.md", field, line)
    assert words in error.message and when in error.message


@pytest.mark.parametrize("when", ["2027-03-28T00:59", "2027-03-28T02:00", "2026-10-25T00:59",
                                  "2026-10-25T02:00", "2026-10-25T01:30+01:00",
                                  "2026-10-25T01:30+00:00"])
def test_local_times_either_side_of_a_clock_change_load(tmp_path: Path, when: str) -> None:
    en = SEMINAR_EN.replace('"2026-09-15T12:00"', f'"{when}"').replace(
        'ends_at: "2026-09-15T13:30"\n', "")
    [item] = load_dir(write(tmp_path, {"s.en.md": en, "s.cy.md": SEMINAR_CY}))
    assert isinstance(item.meta, SeminarMeta)
    assert item.meta.starts_at == datetime.fromisoformat(when)


def test_local_times_are_those_of_the_given_time_zone(tmp_path: Path) -> None:
    """New York's clocks went forward on 2027-03-14 at 02:00; London's had not yet."""
    en = SEMINAR_EN.replace('"2026-09-15T12:00"', '"2027-03-14T02:30"').replace(
        'ends_at: "2026-09-15T13:30"\n', "")
    root = write(tmp_path, {"s.en.md": en, "s.cy.md": SEMINAR_CY})
    assert len(load_dir(root, ZoneInfo("Europe/London"))) == 1
    with pytest.raises(ContentInvalid, match="does not exist in America/New_York"):
        load_dir(root, ZoneInfo("America/New_York"))


def test_presenter_error_is_located(tmp_path: Path) -> None:
    en = SEMINAR_EN.replace("  - name: Dr Siân Evans\n    affiliation", "  - affiliation")
    error = one_error(write(tmp_path, {"s.en.md": en, "s.cy.md": SEMINAR_CY}))
    assert (error.field, error.line) == ("presenters.0.name", 6)


def test_every_problem_is_listed_and_slugs_are_unique(tmp_path: Path) -> None:
    root = write(tmp_path, {**GOOD, "x.fr.md": REVIEW_EN, "news/adoption.en.md": NEWS_EN,
                            "reviews/b.en.md": REVIEW_EN.replace("type: review", "type: x")})
    errors = errors_of(root)
    found = {(e.path.relative_to(root).as_posix(), e.field) for e in errors if e.field != "slug"}
    assert found == {("x.fr.md", "language"), ("reviews/b.en.md", "type")}
    [dup] = [e for e in errors if e.field == "slug"]
    assert dup.path.name.startswith("adoption.") and "'adoption'" in dup.message


def test_one_bad_file_applies_nothing(session: Session, tmp_path: Path,
                                      settings: Settings) -> None:
    root = write(tmp_path, {**GOOD, "reviews/bad.en.md": REVIEW_EN.replace(
        "  journal: British Journal of Social Work\n", "")})
    with pytest.raises(ContentInvalid) as info:
        apply(session, root, settings)
    assert [(e.path.name, e.field) for e in info.value.errors] == [("bad.en.md",
                                                                    "citation.journal")]
    assert counts(session) == (0, 0, 0)


def test_cli_sync_is_all_or_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    upgrade(engine)
    env = {"DIGEST_DATABASE_URL": url, "DIGEST_VAR_DIR": str(tmp_path / "var")}
    bad = write(tmp_path / "bad", {**GOOD, "reviews/x.en.md": REVIEW_EN.replace(
        "  journal: British Journal of Social Work\n", "")})
    result = CliRunner().invoke(app, ["content", "sync", str(bad)], env=env)
    assert result.exit_code == 1, result.output
    flat = "".join(result.output.split())  # rich wraps long lines at the console width
    assert f"{bad / 'reviews' / 'x.en.md'}:5:citation.journal:" in flat
    assert "nothingwasapplied" in flat
    with Session(engine) as check:
        assert counts(check) == (0, 0, 0)
    good = write(tmp_path / "good", GOOD)
    result = CliRunner().invoke(app, ["content", "sync", str(good)], env=env)
    assert result.exit_code == 0, result.output
    assert "4 item(s): 4 created, 0 updated, 0 unchanged" in result.output
    with Session(engine) as check:
        assert counts(check) == (1, 2, 1)
    engine.dispose()

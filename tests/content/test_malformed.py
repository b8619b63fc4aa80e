"""Malformed content files, each beside good ones: one `file:line: field: what` each, and
nothing applied. Lines count from the opening '---' as line 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from digest.content.files import ContentInvalid, load_dir
from digest.content.front_matter import MAX_DEPTH
from digest.content.reading import MAX_BYTES
from digest.content.sync import upsert
from digest.settings import Settings
from tests.content.test_files import (
    GOOD,
    NEWS_EN,
    REVIEW_CY,
    REVIEW_EN,
    SEMINAR_CY,
    SEMINAR_EN,
    counts,
    one_error,
    write,
)

URL = "url: https://example.org/review"
NESTED = "citation:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, MAX_DEPTH + 1)) \
    + "  " * (MAX_DEPTH + 1) + "deep: 1\n"

# (file name, its text, field, line, words in the message); other files are all good
CASES: list[tuple[str, str | bytes, str | None, int | None, str]] = [
    # a key given twice: the last one no longer wins silently
    ("reviews/a.en.md", REVIEW_EN.replace("teaser:", "title: Again\nteaser:"), "title", 13,
     "given twice (first on line 12)"),
    ("reviews/a.en.md", REVIEW_EN.replace("  year: 2021", "  year: 2021\n  year: 2022"),
     "citation.year", 8, "given twice (first on line 7)"),
    ("seminars/s.en.md", SEMINAR_EN + "", "presenters", None, ""),  # placeholder, replaced
    # dates and date-times given as numbers (pydantic reads them as seconds since 1970)
    ("seminars/s.en.md", SEMINAR_EN.replace('"2026-09-15T12:00"', "20260915"), "starts_at", 4,
     "not a number"),
    ("seminars/s.en.md", SEMINAR_EN.replace('"2026-09-15T12:00"', '"20260915"'), "starts_at",
     4, "not a number"),
    ("seminars/s.en.md", SEMINAR_EN.replace('"2026-09-15T13:30"', "1.5"), "ends_at", 5,
     "not a number"),
    ("reviews/a.en.md", REVIEW_EN.replace("published: 2026-09-02", "published: 20260902"),
     "published", 3, "not a number"),
    ("reviews/a.en.md", REVIEW_EN.replace("published: 2026-09-02", "published: true"),
     "published", 3, "not a number"),
    # one-line fields have a length (a title is a subject line); links a port
    ("reviews/a.en.md", REVIEW_EN.replace("title: Adoption and siblings",
                                          "title: " + "Adoption " * 60), "title", 12,
     "at most 500 characters"),
    ("reviews/a.en.md", REVIEW_EN.replace("reviewer: Dr Gwyn Jones", "reviewer: " + "x" * 501),
     "reviewer", 4, "at most 500 characters"),
    ("reviews/a.en.md", REVIEW_EN.replace("  doi: 10.1093/bjsw/bcaa001", "  doi: 10." + "x" * 600),
     "citation.doi", 10, "at most 500 characters"),
    ("reviews/a.en.md", REVIEW_EN.replace("url: https://example.org/review",
                                          "url: http://example.org:99999/"), "url", 11,
     "not a link"),
    ("reviews/a.en.md", REVIEW_EN.replace("url: https://example.org/review",
                                          "url: 'http://example.org:abc/'"), "url", 11,
     "not a link"),
    # dates whose time zone, or a planning step, leaves the calendar (was an OverflowError)
    ("reviews/a.en.md", REVIEW_EN.replace("published: 2026-09-02",
                                          "published: 0001-01-01T00:00:00+01:00"),
     "published", 3, "the year 1 is outside 1900-2199"),
    ("reviews/a.en.md", REVIEW_EN.replace("published: 2026-09-02",
                                          "published: 9999-12-31T23:30:00-01:00"),
     "published", 3, "the year 9999 is outside"),
    ("reviews/a.en.md", REVIEW_EN.replace("published: 2026-09-02", "published: 9999-12-31"),
     "published", 3, "outside 1900-2199"),
    ("reviews/a.en.md", REVIEW_EN.replace("published: 2026-09-02", "published: 1899-12-31"),
     "published", 3, "the year 1899"),
    ("seminars/s.en.md", SEMINAR_EN.replace('"2026-09-15T12:00"', '"0001-01-01T00:00+01:00"'),
     "starts_at", 4, "the year 1 is outside"),
    ("seminars/s.en.md", SEMINAR_EN.replace('"2026-09-15T12:00"', '"2200-01-01T00:00"'),
     "starts_at", 4, "the year 2200"),
    # links that are not http(s)
    ("reviews/a.en.md", REVIEW_EN.replace(URL, 'url: "javascript:alert(1)"'), "url", 11,
     "https:// or http:// (got javascript:)"),
    ("reviews/a.en.md", REVIEW_EN.replace(URL, 'url: " JaVaScRiPt:alert(1)"'), "url", 11,
     "got javascript:"),
    ("reviews/a.en.md", REVIEW_EN.replace(URL, 'url: "data:text/html,<b>x</b>"'), "url", 11,
     ""),
    ("reviews/a.en.md", REVIEW_EN.replace(URL, "url: //evil.example/x"), "url", 11,
     "no scheme"),
    ("reviews/a.en.md", REVIEW_EN.replace(URL, "url: ftp://example.org/x"), "url", 11, "ftp:"),
    ("reviews/a.en.md", REVIEW_EN.replace(URL, "url: https://me:pw@evil.example/"), "url", 11,
     "user name or password"),
    ("reviews/a.en.md", REVIEW_EN.replace(URL, "url: https:no-host"), "url", 11, "a host"),
    ("reviews/a.en.md", REVIEW_EN.replace(URL, 'url: "https://exa mple.org"'), "url", 11,
     "spaces"),
    ("seminars/s.en.md", SEMINAR_EN.replace("online: true", "online: true\nurl: vbscript:x"),
     "url", 10, "vbscript:"),
    ("news/n.en.md", NEWS_EN.replace("https://example.org/toolkit", "mailto:x@example.org"),
     "url", 6, "mailto:"),
    ("reviews/a.en.md", REVIEW_EN + "\nSee [this](javascript:alert(1)).\n", "body", 19,
     "javascript:"),
    ("reviews/a.en.md", REVIEW_EN + "\n<DATA:text/html;base64,PHNjcmlwdD4=>\n", "body", 19,
     "data:"),
    # nesting, anchors and aliases, keys that are not field names
    ("reviews/a.en.md", REVIEW_EN.replace("citation:\n", NESTED + "citation:\n"), None, 11,
     f"nested deeper than {MAX_DEPTH} levels"),
    ("reviews/a.en.md", REVIEW_EN.replace("reviewer: Dr Gwyn Jones",
                                          "reviewer: " + "[" * 20_000 + "]" * 20_000),
     None, 4, "nested deeper"),
    ("reviews/a.en.md", REVIEW_EN.replace("authors: [", "authors: &people [").replace(
        "reviewer: Dr Gwyn Jones", "reviewer: *people"), None, 4, "anchors and aliases"),
    ("reviews/a.en.md", REVIEW_EN.replace("teaser:", "1: one\nteaser:"), None, 13,
     "a key must be a field name"),
    ("reviews/a.en.md", REVIEW_EN.replace("teaser:", "<<: {a: b}\nteaser:"), None, 13,
     "a key must be a field name"),
    ("reviews/a.en.md", REVIEW_EN.replace("type: review", "type: !!python/object:os.system"),
     "type", 2, "is not allowed"),
    ("reviews/a.en.md", REVIEW_EN.replace("title: Adoption and siblings", "title: !!binary AAE="),
     "title", 12, "the type 'binary' is not allowed"),
    ("reviews/a.en.md", REVIEW_EN.replace("  authors: [Sarah Meakings, Amanda Coffey]",
                                          "  authors: !!set {Sarah Meakings: null}"),
     "citation.authors", 6, "the type 'set' is not allowed"),
    # control characters, raw or written as YAML escapes
    ("reviews/a.en.md", REVIEW_EN.replace("Adoption and", "Adoption\x00and"), "title", 12,
     "U+0000"),
    ("reviews/a.en.md", REVIEW_EN.replace("English body.", "English \x1b[2J body."), "body",
     17, "U+001B"),
    ("reviews/a.en.md", REVIEW_EN.replace("English body.", "English\rbody."), "body", 17,
     "U+000D"),
    ("reviews/a.en.md", REVIEW_EN.replace("Adoption and", "Adoption\u2028and"), "title", 12,
     "U+2028"),
    ("reviews/a.en.md", REVIEW_EN.replace("title: Adoption and siblings",
                                          'title: "Adoption\\x00and"'), "title", 12, "U+0000"),
    ("reviews/a.en.md", REVIEW_EN.replace("title: Adoption and siblings",
                                          'title: "Adoption\\nForged line"'), "title", 12,
     "a line break"),
    # what reorders a line as shown (Trojan Source), and what is not a character at all
    ("reviews/a.en.md", REVIEW_EN.replace("Adoption and", "Adoption\u202eand"), "title", 12,
     "a bidirectional control (U+202E)"),
    ("reviews/a.en.md", REVIEW_EN.replace("Adoption and", "Adoption\u2067and"), "title", 12,
     "U+2067"),
    ("reviews/a.en.md", REVIEW_EN.replace("title: Adoption and siblings",
                                          'title: "Adoption\\u200fand"'), "title", 12,
     "a bidirectional control (U+200F)"),
    ("reviews/a.en.md", REVIEW_EN.replace("title: Adoption and siblings",
                                          'title: "Adoption\\ud800and"'), "title", 12,
     "a lone surrogate (U+D800)"),
    ("reviews/a.en.md", REVIEW_EN.replace("teaser: Most", "teaser: |\n  Two\n  lines. Most"),
     "teaser", 13, "a line break"),
    ("reviews/a.en.md", REVIEW_EN.replace("  journal: British Journal of Social Work",
                                          '  journal: "British\\tJournal"'),
     "citation.journal", 9, "a tab"),
    # the file itself
    ("reviews/a.en.md", REVIEW_EN.encode("utf-8").replace(b"English body", b"English \xff"),
     None, 17, "not valid UTF-8"),
    ("reviews/a.en.md", b"\xef\xbb\xbf" + REVIEW_EN.encode("utf-8").replace(b"Gwyn", b"Gw\xc3"),
     None, 4, "not valid UTF-8"),
    ("reviews/a.en.md", REVIEW_EN + "x" * MAX_BYTES, None, None, "at most 1,000,000"),
    ("reviews/a.en.md", "", None, 1, "missing YAML front matter"),
]
CASES[2] = ("seminars/s.en.md", SEMINAR_EN.replace("presenters:", "presenters: []\npresenters:"),
            "presenters", 7, "given twice (first on line 6)")


def tree(name: str, text: str | bytes) -> dict[str, str | bytes]:
    """The good files, with `name` replaced by `text` (its pair stays good)."""
    files: dict[str, str | bytes] = {**GOOD, "reviews/a.cy.md": REVIEW_CY,
                                     "reviews/a.en.md": REVIEW_EN, "seminars/s.cy.md": SEMINAR_CY,
                                     "seminars/s.en.md": SEMINAR_EN, "news/n.en.md": NEWS_EN}
    files[name] = text
    return files


@pytest.mark.parametrize(("name", "text", "field", "line", "words"), CASES,
                         ids=[f"{i}-{c[2]}" for i, c in enumerate(CASES)])
def test_a_malformed_file_is_one_located_error(tmp_path: Path, name: str, text: str | bytes,
                                               field: str | None, line: int | None,
                                               words: str) -> None:
    root = write(tmp_path, tree(name, text))
    error = one_error(root)
    assert (error.path, error.field, error.line) == (root / name, field, line), error
    assert words in error.message, error
    assert len(str(error)) < 400  # one line that a person reads


def test_a_folder_named_like_a_content_file(tmp_path: Path) -> None:
    root = write(tmp_path, GOOD)
    (root / "reviews" / "ghost.en.md").mkdir()
    error = one_error(root)
    assert (error.path, error.field) == (root / "reviews" / "ghost.en.md", None)
    assert error.message == "is a folder, not a file"


def test_a_slug_used_by_two_kinds_names_every_file(tmp_path: Path) -> None:
    root = write(tmp_path, {**GOOD, "news/adoption.en.md": NEWS_EN})
    error = one_error(root)
    assert error.field == "slug"
    for name in ("news/adoption.en.md", "reviews/adoption.en.md", "reviews/adoption.cy.md"):
        assert str(root / name) in error.message
    assert "(news)" in error.message and "(review)" in error.message


def test_nothing_is_applied_when_one_file_of_many_is_malformed(
        session: Session, tmp_path: Path, db_settings: Settings) -> None:
    upsert(session, load_dir(write(tmp_path / "v1", GOOD)), db_settings.tz)
    session.commit()
    before = counts(session)
    edited = {**GOOD, "news/toolkit.en.md": NEWS_EN.replace("A new toolkit", "Renamed"),
              "news/extra.en.md": NEWS_EN, "reviews/adoption.en.md": REVIEW_EN.replace(
                  URL, 'url: "javascript:alert(1)"')}
    with pytest.raises(ContentInvalid):
        upsert(session, load_dir(write(tmp_path / "v2", edited)), db_settings.tz)
    session.rollback()
    assert counts(session) == before


def test_what_editors_and_systems_leave_beside_the_files_is_not_content(tmp_path: Path) -> None:
    """Emacs's lock file (a dangling symlink) while the file is open, macOS's `._` copies on a
    shared drive, a `.git` folder, a README in any case: the sync reads past them."""
    root = write(tmp_path, {**GOOD, "reviews/._adoption.cy.md": b"\x00\x05\x16\x07",
                            ".git/x/adoption.en.md": NEWS_EN, ".drafts/new.en.md": "half done",
                            "reviews/.hidden.en.md": "", "README.MD": "x",
                            "news/Readme.md": "x"})
    (root / "reviews" / ".#adoption.cy.md").symlink_to("editor@host.4242:1700000000")
    assert sorted(i.slug for i in load_dir(root)) == ["adoption", "care-leavers", "toolkit",
                                                       "winter"]


@pytest.mark.parametrize("name", ["reviews/a.cy.MD", "reviews/a.cy.Md", "reviews/a.CY.md"])
def test_a_content_file_named_in_capitals_is_reported_not_left_out(tmp_path: Path,
                                                                    name: str) -> None:
    """`a.cy.MD` was not read at all: the item went out English-only and the sync said 0
    problems."""
    root = write(tmp_path, {**GOOD, "reviews/a.en.md": REVIEW_EN, name: REVIEW_CY})
    error = one_error(root)
    assert error.path == root / name and error.field in ("filename", "language"), error


def test_a_link_to_a_file_outside_the_content_folder_is_refused(tmp_path: Path) -> None:
    """It was followed: any readable file with front matter would have been published."""
    secret = write(tmp_path / "elsewhere", {"secret.md": NEWS_EN})
    root = write(tmp_path / "content", GOOD)
    (root / "news" / "leak.en.md").symlink_to(secret / "secret.md")
    (root / "news" / "alias.en.md").symlink_to(root / "news" / "toolkit.en.md")  # inside: fine
    error = one_error(root)
    assert error.path == root / "news" / "leak.en.md" and "outside the content folder" in \
        error.message, error
    (root / "news" / "leak.en.md").unlink()
    assert "alias" in {i.slug for i in load_dir(root)}

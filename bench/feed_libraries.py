"""Feed writers compared: digest's two Jinja templates and the PyPI libraries feedgen and
feedgenerator, on a Welsh reviews feed built from content/ (docs/feeds.md has the figures).

The libraries are not project dependencies; install them into a throwaway venv and run from
the repository root:

    python3.11 -m venv /tmp/feedlibs
    /tmp/feedlibs/bin/pip install jinja2 feedparser feedgen feedgenerator
    /tmp/feedlibs/bin/python -m bench.feed_libraries [--repeat 200]

Each writer gets the same 30 entries (the twelve reviews, repeated, bodies as HTML); one of
them has only an English title, as a review with no Welsh yet has. What is measured: the
time to write the Atom and the RSS feed, the time to import the writer in a fresh
interpreter, whether feedparser reads the result without complaint, and whether the feed
says what digest's feeds must: the feed's language, the English title marked as English
(xml:lang), and a link to the same feed in the other language (hreflang).
"""

from __future__ import annotations

import argparse
import html
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SITE = "https://digest.example.org"
ENTRIES = 30
Writer = Callable[[list[dict[str, Any]]], tuple[str, str]]  # entries -> (atom, rss)


def entries() -> list[dict[str, Any]]:
    """Thirty review entries from content/reviews/*.cy.md (front matter cut off)."""
    files = sorted((ROOT / "content" / "reviews").glob("*.cy.md"))
    out = []
    for i in range(ENTRIES):
        path = files[i % len(files)]
        _, front, body = path.read_text(encoding="utf-8").split("---", 2)
        title = next(line.split(":", 1)[1].strip().strip('"') for line in front.splitlines()
                     if line.startswith("title:"))
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in body.split("\n\n") if p)
        out.append({"id": f"tag:digest.example.org,2026:review/{path.stem}-{i}/cy",
                    "url": f"{SITE}/reviews/{path.stem}?lang=cy",
                    "title": "Only an English title" if i == 0 else title,
                    "title_lang": "en" if i == 0 else "cy",
                    "when": datetime(2026, 9, 1, tzinfo=UTC) - timedelta(days=i),
                    "summary": title, "content": paragraphs, "author": "Dr David Wilkins"})
    return out


@cache
def _writer() -> Any:
    from digest.render.feeds import FeedWriter

    return FeedWriter(ROOT / "templates")  # as the app keeps it: templates compiled once


def ours(items: list[dict[str, Any]]) -> tuple[str, str]:
    """digest.render.feeds: two Jinja templates."""
    from digest.render.feeds import Entry, Feed

    feed = Feed(id="tag:digest.example.org,2026:reviews/cy", lang="cy", title="Adolygiadau",
                subtitle="Unwaith y mis", author="Digest", page=f"{SITE}/archive?lang=cy",
                urls={fmt: {code: f"{SITE}/feeds/{code}/reviews.{fmt}" for code in ("cy", "en")}
                      for fmt in ("atom", "rss")},
                entries=[Entry(id=e["id"], url=e["url"], title=e["title"],
                               title_lang=e["title_lang"], published=e["when"],
                               updated=e["when"], summary=e["summary"], summary_lang="cy",
                               content_html=e["content"], content_lang="cy",
                               author=e["author"]) for e in items])
    return _writer().atom(feed), _writer().rss(feed)


def feedgen(items: list[dict[str, Any]]) -> tuple[str, str]:
    """feedgen (lxml): FeedGenerator with one FeedEntry per item."""
    from feedgen.feed import FeedGenerator

    fg = FeedGenerator()
    fg.id("tag:digest.example.org,2026:reviews/cy")
    fg.title("Adolygiadau")
    fg.subtitle("Unwaith y mis")
    fg.author(name="Digest")
    fg.language("cy")
    fg.link(href=f"{SITE}/archive?lang=cy", rel="alternate")
    fg.link(href=f"{SITE}/feeds/cy/reviews.atom", rel="self")
    fg.link(href=f"{SITE}/feeds/en/reviews.atom", rel="alternate", hreflang="en")
    for e in reversed(items):  # feedgen puts the last added first
        fe = fg.add_entry()
        fe.id(e["id"])
        fe.title(e["title"])  # no way to give this one element its own language
        fe.link(href=e["url"])
        fe.published(e["when"])
        fe.updated(e["when"])
        fe.author(name=e["author"])
        fe.summary(e["summary"])
        fe.content(e["content"], type="html")
    return fg.atom_str(pretty=False).decode(), fg.rss_str(pretty=False).decode()


def feedgenerator(items: list[dict[str, Any]]) -> tuple[str, str]:
    """feedgenerator (Django's feedgenerator, standalone): Atom1Feed and Rss201rev2Feed."""
    import feedgenerator as lib

    out = []
    for kind in (lib.Atom1Feed, lib.Rss201rev2Feed):
        feed = kind(title="Adolygiadau", link=f"{SITE}/archive?lang=cy",
                    description="Unwaith y mis", language="cy",
                    feed_url=f"{SITE}/feeds/cy/reviews.atom",
                    feed_guid="tag:digest.example.org,2026:reviews/cy")
        for e in items:  # no hreflang link to the other language's feed either
            feed.add_item(title=e["title"], link=e["url"], description=e["summary"],
                          content=e["content"], unique_id=e["id"], pubdate=e["when"],
                          updateddate=e["when"], author_name=e["author"])
        out.append(feed.writeString("utf-8"))
    return out[0], out[1]


WRITERS: dict[str, tuple[Writer, str]] = {
    "digest (Jinja templates)": (ours, "digest.render.feeds"),
    "feedgen": (feedgen, "feedgen.feed"),
    "feedgenerator": (feedgenerator, "feedgenerator"),
}


def import_ms(module: str) -> float:
    """Milliseconds to import `module` in a fresh interpreter (best of three)."""
    code = f"import time; t = time.perf_counter(); import {module}; " \
           "print((time.perf_counter() - t) * 1000)"
    runs = [float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout) for _ in range(3)]
    return min(runs)


def verdict(atom: str, rss: str) -> dict[str, str]:
    """What feedparser makes of the two feeds."""
    import feedparser

    a, r = feedparser.parse(atom), feedparser.parse(rss)
    hreflangs = {link.get("hreflang") for link in a.feed.get("links", [])}
    return {
        "well-formed": "yes" if not (a.bozo or r.bozo) else f"no ({a.get('bozo_exception')})",
        "entries": f"{len(a.entries)}/{len(r.entries)}",
        "feed language": a.feed.get("language", "-"),
        "English title marked": "yes" if a.entries[0].title_detail.get("language") == "en"
        else "no",
        "other-language feed linked": "yes" if "en" in hreflangs else "no",
    }


def main() -> int:
    """Measure every writer that is installed and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    items = entries()
    print("| writer | Atom + RSS, 30 entries (median) | import | well-formed | entries | "
          "feed language | English title marked | other-language feed linked |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (write, module) in WRITERS.items():
        try:
            atom, rss = write(items)
        except ImportError as exc:
            print(f"| {name} | not installed ({exc.name}) | | | | | | |")
            continue
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            write(items)
            times.append(time.perf_counter() - start)
        v = verdict(atom, rss)
        print(f"| {name} | {statistics.median(times) * 1000:.2f} ms | {import_ms(module):.0f} ms"
              f" | {' | '.join(v.values())} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

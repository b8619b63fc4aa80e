"""Render stage: issue content -> one HTML + text variant per language (Jinja -> MJML -> premailer).

Runs once per variant, never per subscriber: personal links are left as placeholders that
`digest.delivery.messages` splices per recipient.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import mjml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from digest.i18n import month_label, translations
from digest.render.links import Links
from digest.render.placeholders import PREFS_PLACEHOLDER, UNSUB_PLACEHOLDER
from digest.render.views import (
    IssueContent,
    variant_langs,
)
from digest.settings import Settings
from digest.store.models import Language
from digest.text import IN_LINES

OWN_CSS_MARKER = "/* digest:inline */"


@dataclass(frozen=True)
class RenderedVariant:
    """One finished variant, with personal links as placeholders."""

    language: Language
    subject: str
    preheader: str
    html: str
    text: str


# XML (and so MJML) refuses C0 controls; no text of ours carries them (content is checked),
# but a row stored before that is shown with them (text.IN_LINES) removed rather than
# breaking the render.
def _printable(value: object) -> object:
    """Jinja's finalize: every value a template prints, without control characters."""
    if isinstance(value, Markup):
        return Markup(IN_LINES.sub(" ", value)) if IN_LINES.search(value) else value
    if isinstance(value, str) and IN_LINES.search(value):
        return IN_LINES.sub(" ", value)
    return value
# MJML's wrapper (role="article": the email's name and language) up to the end of the body.
_WRAPPER = re.compile(r'(<div\b[^>]*\brole="article".*</div>)(\s*</body>)', re.DOTALL)


def _fix_premailer_output(html: str) -> str:
    """Restore what premailer/lxml drop or rewrite in MJML output."""
    html = re.sub(r"^\s*<!DOCTYPE[^>]*>\s*", "", html, flags=re.IGNORECASE)
    return "<!doctype html>\n" + html


def _main_landmark(html: str) -> str:
    """Put the whole email, MJML's article wrapper included, in one main landmark (screen
    readers jump to it; a client that drops the role loses nothing)."""
    return _WRAPPER.sub(r'<div role="main">\1</div>\2', html, count=1)


class Renderer:
    """Jinja environment plus the MJML and premailer steps, configured once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = Environment(
            loader=FileSystemLoader(settings.templates_dir / "email"),
            autoescape=select_autoescape(enabled_extensions=("mjml.j2", "html.j2"),
                                         default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            finalize=_printable,
        )

    def _context(self, content: IssueContent, lang: str) -> dict[str, object]:
        t = translations(lang)
        reviews, seminars, news = len(content.reviews), len(content.seminars), len(content.news)
        summary = [
            t.ngettext("{n} new review", "{n} new reviews", reviews).format(n=reviews),
            t.ngettext("{n} seminar coming up", "{n} seminars coming up",
                       seminars).format(n=seminars),
        ]
        if news:
            summary.append(t.ngettext("{n} news item", "{n} news items", news).format(n=news))
        site = self.settings.site_url.rstrip("/")
        return {
            "_": t.gettext,
            "ngettext": t.ngettext,
            "lang": lang,
            "title": t.gettext("Social Work Research Digest"),
            "month": month_label(content.month, lang),
            "summary": " · ".join(summary),
            "greeting": t.gettext("Hello! Here is this month's research digest.") + " "
            + " · ".join(summary),
            "view_online": t.gettext("View in your browser"),
            "archive_url": f"{site}/archive/{content.period}/{lang}",
            "site": site,
            "link": Links(content, site, lang, self.settings.click_counts),
            "reviews": content.reviews,
            "seminars": content.seminars,
            "news": content.news,
            "unsubscribe_url": f"{site}/u/{UNSUB_PLACEHOLDER}",
            "preferences_url": f"{site}/p/{PREFS_PLACEHOLDER}",
        }

    def compose(self, content: IssueContent, language: Language) -> tuple[str, str, str, str]:
        """Subject, preheader, MJML source and text part of one variant (before MJML runs)."""
        langs = variant_langs(language)
        bilingual = len(langs) > 1
        # The bilingual variant starts in Welsh; English readers get a link to where their
        # block begins (a rule and a heading, `#english`).
        contexts = [self._context(content, lang) for lang in langs]
        heads = [{"lang": c["lang"], "title": c["title"], "month": c["month"],
                  "view_online": c["view_online"], "archive_url": c["archive_url"]}
                 for c in contexts]
        subject = " | ".join(f"{c['title']}: {c['month']}" for c in contexts)
        preheader = " | ".join(str(c["summary"]) for c in contexts)
        get = self.env.get_template
        shared = {"sender_name": self.settings.sender_name,
                  "postal_address": self.settings.postal_address}
        mjml_src = get("email.mjml.j2").render(
            html_lang=langs[0], subject=subject, preheader=preheader, heads=heads,
            jump={"anchor": "english", "label": "English version below"} if bilingual else None,
            blocks=[Markup(get("block.mjml.j2").render(c)) for c in contexts],
            footers=[Markup(get("footer.mjml.j2").render(c)) for c in contexts], **shared,
        )
        text = get("email.txt.j2").render(
            heads=heads, blocks=[get("block.txt.j2").render(c).strip() + "\n" for c in contexts],
            footers=[get("footer.txt.j2").render(c).strip() for c in contexts], **shared,
        )
        return subject, preheader, mjml_src, _tidy_text(text)

    def render(self, content: IssueContent, language: Language) -> RenderedVariant:
        """Render one variant: subject, preheader, inlined HTML and the text part."""
        subject, preheader, mjml_src, text = self.compose(content, language)
        html = _main_landmark(self.inline_css(mjml.mjml2html(mjml_src, fonts={})))
        return RenderedVariant(language, subject, preheader, html, text)

    @staticmethod
    def inline_css(html: str) -> str:
        """Inline only our own CSS; keep MJML's reset and media queries as style blocks."""
        # Imported here: premailer (with lxml, cssutils and requests) is a tenth of a second
        # of start-up that a send, which only reads stored variants, does not need.
        from premailer import Premailer

        def mark(match: re.Match[str]) -> str:
            tag, body = match.group(1), match.group(2)
            if OWN_CSS_MARKER in body:
                return match.group(0)
            return f'{tag[:-1]} data-premailer="ignore">{body}</style>'

        html = re.sub(r"(<style[^>]*>)(.*?)</style>", mark, html, flags=re.DOTALL)
        inlined = Premailer(
            html,
            strip_important=False,
            allow_network=False,
            keep_style_tags=False,
            remove_classes=False,
            disable_validation=True,
            cssutils_logging_level=logging.CRITICAL,
            include_star_selectors=False,
        ).transform()
        return _fix_premailer_output(inlined)


def _tidy_text(text: str) -> str:
    """Collapse runs of blank lines left by template logic."""
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"

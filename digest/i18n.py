"""Interface strings (gettext catalogs edited as .po files), dates and plurals through Babel."""

from __future__ import annotations

import gettext
from datetime import date, datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "digest"  # the subscribers' side: emails and public pages
EDITOR_DOMAIN = "editor"  # the editors' pages; falls back to `digest` for what they share
LANGS = ("cy", "en")  # the two languages, Welsh first wherever both are offered
# Babel locales for our two languages (British English for dates).
BABEL_LOCALE = {"cy": "cy", "en": "en_GB"}


def N_(message: str) -> str:
    """Mark a string for translation without translating it here (it is translated later)."""
    return message


@cache
def translations(lang: str, domain: str = DOMAIN) -> gettext.NullTranslations:
    """The catalog of `domain` for `lang`, compiled from its .po file in memory (English is the
    source); another domain's catalog falls back to `digest`'s (the site's name, say)."""
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
    found: gettext.NullTranslations = gettext.NullTranslations()
    if po.exists():
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=lang, domain=domain)
        buf = BytesIO()
        write_mo(buf, catalog, use_fuzzy=False)
        buf.seek(0)
        found = gettext.GNUTranslations(buf)
    if domain != DOMAIN:
        found.add_fallback(translations(lang))
    return found


def month_label(day: date, lang: str) -> str:
    """'Medi 2026' / 'September 2026'."""
    return format_date(day, "LLLL y", locale=BABEL_LOCALE[lang])


def long_date(day: date, lang: str) -> str:
    """'15 Medi 2026' / '15 September 2026'."""
    return format_date(day, "d MMMM y", locale=BABEL_LOCALE[lang])


def event_time(start: datetime, end: datetime | None, tz: ZoneInfo, lang: str) -> str:
    """'Dydd Mawrth 15 Medi 2026, 12:00–13:00' in the editorial time zone."""
    loc = BABEL_LOCALE[lang]
    local = start.astimezone(tz)
    day = format_date(local, "EEEE d MMMM y", locale=loc)
    text = f"{day}, {format_time(local, 'HH:mm', locale=loc)}"
    if end is not None:
        text += f"–{format_time(end.astimezone(tz), 'HH:mm', locale=loc)}"
    return text

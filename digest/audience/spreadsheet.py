"""CSV cells that are safe to open in a spreadsheet, and read back unchanged.

Names and addresses come from a public form, and the exports are opened in Excel or
LibreOffice, which run a cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage
return before one) as a formula: OWASP's "CSV injection". Such a cell is written with a
leading `'`, which spreadsheets show as text and do not display; `digest subscribers import`
takes the `'` off again, so an export still imports as the same list. A value that already
starts with quotes before such a character gets one more, so that every value reads back
as it was written.
"""

from __future__ import annotations

import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_QUOTED = re.compile(r"'*[=+\-@\t\r]", re.DOTALL)  # what `cell` puts one more quote before


def cell(value: str) -> str:
    """`value` as a CSV cell no spreadsheet runs as a formula."""
    return f"'{value}" if _QUOTED.match(value) else value


def uncell(value: str) -> str:
    """A cell read back: the `'` that `cell` put before a formula character is taken off."""
    return value[1:] if value.startswith("'") and _QUOTED.match(value, 1) else value

"""CSV cells that are safe to open in a spreadsheet, and read back unchanged.

Names and addresses come from a public form, and the exports are opened in Excel or
LibreOffice, which run a cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage
return before one) as a formula: OWASP's "CSV injection". Such a cell is written with a
leading `'`, which spreadsheets show as text and do not display; `digest subscribers import`
takes the `'` off again, so an export still imports as the same list.
"""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: str) -> str:
    """`value` as a CSV cell no spreadsheet runs as a formula."""
    return f"'{value}" if value.startswith(FORMULA_START) else value


def uncell(value: str) -> str:
    """A cell read back: the `'` that `cell` put before a formula character is taken off."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_START) else value

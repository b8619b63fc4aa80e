"""Server-rendered SVG bar charts for the report pages: no JavaScript, no plotting library.

Written by hand rather than with pygal or matplotlib (measured in docs/performance.md, "Report
charts"): matplotlib costs about a second to import and brings ~90 MB of numpy, Pillow and
itself; pygal ~0.1 s; a few dozen rectangles as text cost well under a millisecond here and
come out exactly as the page needs them (its fonts, its colours, a <title> for screen
readers, the numbers beside in a table).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

# Welsh first, as everywhere: a colour per language choice, each dark enough for white text.
COLOURS = {"cy": "#0b5c7a", "both": "#b5651d", "en": "#5a6b75"}


@dataclass(frozen=True)
class Series:
    """One stack layer: a label for the legend and one value per category."""

    key: str  # cy, both, en
    label: str
    values: list[int]


def _nice(value: float) -> int:
    """The smallest of 1, 2 or 5 times a power of ten that is at least `value` (and 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def axis(top: int) -> tuple[int, int]:
    """A round tick step and the axis top (a multiple of it, 4 or 5 steps) for data up to
    `top`."""
    step = _nice(max(top, 1) / 4)
    return step, step * -(-max(top, 1) // step)


def stacked_bars(title: str, categories: list[str], series: list[Series], *,
                 width: int = 720, height: int = 260) -> Markup:
    """A stacked bar chart (one bar per category, one layer per series) as inline SVG."""
    left, right, top, bottom = 48, 12, 28, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    step, top_value = axis(max(totals, default=0))
    slot = plot_w / max(len(categories), 1)
    bar = max(min(slot * 0.7, 48), 2)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-label="{escape(title)}" class="chart">',
             f"<title>{escape(title)}</title>",
             '<style>text{font:12px Arial,Helvetica,sans-serif;fill:#333}</style>']
    for value in range(0, top_value + 1, step):
        y = top + plot_h - plot_h * value / top_value
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#dde"/><text x="{left - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{value}</text>')
    for i, category in enumerate(categories):
        x = left + slot * i + (slot - bar) / 2
        base: float = top + plot_h
        for s in series:
            h = plot_h * s.values[i] / top_value
            if h > 0:
                base -= h
                parts.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" '
                             f'height="{h:.1f}" fill="{COLOURS.get(s.key, "#888")}">'
                             f"<title>{escape(category)} · {escape(s.label)}: "
                             f"{s.values[i]}</title></rect>")
        if totals[i]:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{base - 4:.1f}" '
                         f'text-anchor="middle">{totals[i]}</text>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 16}" '
                     f'text-anchor="middle">{escape(category)}</text>')
    x = left
    for s in series:
        parts.append(f'<rect x="{x}" y="6" width="12" height="12" '
                     f'fill="{COLOURS.get(s.key, "#888")}"/><text x="{x + 16}" y="16">'
                     f"{escape(s.label)}</text>")
        x += 24 + 8 * len(s.label)
    parts.append("</svg>")
    return Markup("".join(parts))  # every text in it went through escape()

"""The SVG charts: valid XML, one rectangle per non-zero value, heights to scale, escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from digest.web.charts import Series, axis, stacked_bars

NS = "{http://www.w3.org/2000/svg}"


def test_bars_are_to_scale_and_text_is_escaped() -> None:
    svg = stacked_bars("Subscribers <& co>", ["Jan", "Feb"],
                       [Series("cy", "Cymraeg", [30, 0]), Series("en", "English", [10, 20])],
                       width=400, height=200)
    root = ET.fromstring(str(svg))
    bars = [r for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]
    assert [r.find(f"{NS}title").text for r in bars] == [  # type: ignore[union-attr]
        "Jan · Cymraeg: 30", "Jan · English: 10", "Feb · English: 20"]
    heights = [float(r.get("height", 0)) for r in bars]
    assert heights[0] == pytest.approx(3 * heights[1], abs=0.1)
    assert heights[2] == pytest.approx(2 * heights[1], abs=0.1)
    assert root.find(f"{NS}title").text == "Subscribers <& co>"  # type: ignore[union-attr]
    assert "<& co>" not in str(svg)


def test_the_axis_has_round_steps_and_covers_the_data() -> None:
    assert [axis(v) for v in (0, 1, 3, 7, 9, 12, 51, 88, 999)] == [
        (1, 1), (1, 1), (1, 3), (2, 8), (5, 10), (5, 15), (20, 60), (50, 100), (500, 1000)]


def test_an_empty_chart_is_still_a_chart() -> None:
    root = ET.fromstring(str(stacked_bars("Nothing", [], [])))
    assert root.tag == f"{NS}svg"

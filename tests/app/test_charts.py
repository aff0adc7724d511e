"""Issue #18 item 11: round axis ticks, one color per label from the theme, the legend
outside the plot."""

from __future__ import annotations

import pytest
from textual.widgets import TabbedContent

from ppltop.themes import load_themes
from ppltop.ui.chart_ticks import nice_ticks, tick_labels
from ppltop.ui.widgets.batch_loss_chart import BatchLossChart
from support.apps import two_label_app
from support.pilot import open_screen, scored


@pytest.mark.parametrize(("lo", "hi", "integer", "expected"), [
    (1, 12, True, ["2", "4", "6", "8", "10", "12"]),
    (1083, 3434, True, ["1500", "2000", "2500", "3000"]),
    (2.51, 3.19, False, ["2.6", "2.7", "2.8", "2.9", "3.0", "3.1"]),
    (1.640918254852295, 9.3, False, ["2", "4", "6", "8"]),
])
def test_ticks_are_round(lo, hi, integer, expected):
    assert tick_labels(nice_ticks(lo, hi, integer=integer)) == expected


def test_every_theme_has_the_same_number_of_distinct_label_colors():
    loaded = load_themes()
    assert not loaded.errors
    counts = set()
    for theme in loaded.themes.values():
        colors = [v for k, v in theme.variables.items() if k.startswith("label-")]
        assert len(set(colors)) == len(colors) >= 8, theme.name
        counts.add(len(colors))
    assert len(counts) == 1


async def test_chart_colors_labels_apart_and_keeps_its_legend_off_the_plot(tmp_path):
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await scored(pilot)
        chart = app.query_one(BatchLossChart)
        chart.replot(app.live)
        subtitle = str(chart.border_subtitle)
        assert "base" in subtitle and "docs-net" in subtitle
        colors = chart.label_colors(2)
        assert colors[0] != colors[1]
        await pilot.pause(0.3)
        rendered = app.export_screenshot()
        assert "base running" not in rendered and "docs-net batch" not in rendered
        for color in colors:  # the theme's colors, in the plot and in the legend
            assert color.lower() in rendered.lower()


async def test_histogram_ticks_are_round(tmp_path):
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "viewer")
        app.screen.query_one(TabbedContent).active = "tab-hist"
        await pilot.pause(0.3)
        import re

        rendered = app.export_screenshot()
        assert not re.search(r"\d\.\d{5,}", rendered), "a raw float on an axis"

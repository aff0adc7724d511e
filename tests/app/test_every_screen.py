"""Every screen opens and draws in every bundled theme and under NO_COLOR.

Textual reads NO_COLOR when the App is created and then runs every line through its
monochrome filter, which fails on a segment without a style; a crash on one screen and one
theme is enough to lose the dashboard, so each screen is drawn once per case here.
"""

from __future__ import annotations

import pytest
from textual.widgets import TabbedContent

from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.comparison_screen import ComparisonScreen
from ppltop.ui.screens.document_screen import DocumentScreen
from ppltop.ui.screens.runs_screen import RunsScreen
from ppltop.ui.screens.viewer_screen import ViewerScreen
from ppltop.ui.widgets.paged_table import PagedTable
from support import synthetic
from support.apps import CASES
from support.pilot import figures_drawn, scored


async def _drawn(pilot) -> None:
    """Let the screen lay out and draw its figures (a failure while drawing ends the
    app)."""
    await figures_drawn(pilot)
    await pilot.pause(0.15)
    pilot.app.export_screenshot()
    assert pilot.app.is_running, "the app stopped while drawing"


@pytest.mark.parametrize("theme,no_color", CASES,
                         ids=[f"{t}{'-NO_COLOR' if n else ''}" for t, n in CASES])
async def test_every_screen_draws(monkeypatch, tmp_path, theme, no_color):
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    app = PplTopApp(lambda: synthetic.document_events(labels=("base", "docs-net")),
                    synthetic.INFO, theme=theme, runs_folder=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await scored(pilot)
        assert app.no_color is no_color and app.theme == theme
        await _drawn(pilot)
        await pilot.press("v")
        assert isinstance(app.screen, ViewerScreen)
        for tab in ("tab-worst", "tab-groups", "tab-hist", "tab-examples"):
            app.screen.query_one(TabbedContent).active = tab
            await _drawn(pilot)
        app.screen.query_one("#examples", PagedTable).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, DocumentScreen)
        for _ in ("surprisal", "rank", "entropy", "diff"):
            await _drawn(pilot)
            await pilot.press("m")
        await pilot.press("w")
        assert isinstance(app.screen, DocumentScreen)
        await _drawn(pilot)
        await pilot.press("a")
        assert isinstance(app.screen, ComparisonScreen)
        await _drawn(pilot)
        await pilot.press("R")
        assert isinstance(app.screen, RunsScreen)
        await _drawn(pilot)
        await pilot.press("question_mark")
        await _drawn(pilot)
        await pilot.press("escape")
        await _drawn(pilot)

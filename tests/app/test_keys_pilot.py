"""Keys driven by Pilot: one meaning per key, the help screen, screens opened once, and a
footer that keeps help, screenshot and quit visible at 80x24 on every screen."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from ppltop.ui.screens.comparison_screen import ComparisonScreen
from ppltop.ui.screens.document_screen import DocumentScreen
from ppltop.ui.screens.help_screen import HelpScreen
from ppltop.ui.screens.runs_screen import RunsScreen
from ppltop.ui.screens.viewer_screen import ViewerScreen
from ppltop.ui.widgets.batch_loss_chart import BatchLossChart
from ppltop.ui.widgets.document_view import DocumentView
from support.apps import two_label_app
from support.pilot import SCREENS, open_screen


def shown_text(screen) -> str:
    """The text of every Static on `screen`, as drawn at its width."""
    from io import StringIO

    from rich.console import Console

    out = StringIO()
    console = Console(file=out, width=screen.app.size.width, color_system=None)
    for widget in screen.query(Static):
        console.print(widget.content)
    return out.getvalue()


def stack(app) -> list[str]:
    return [type(s).__name__ for s in app.screen_stack]


@pytest.mark.parametrize("name", SCREENS)
async def test_footer_keeps_help_screenshot_and_quit_at_80x24(tmp_path, name):
    app = two_label_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, name)
        pinned = app.screen.query_one("#pinned-keys")
        keys = [key.key for key in pinned.children]
        assert keys == ["question_mark", "ctrl+s", "q"]
        assert pinned.region.right <= 80 and pinned.region.y == 23
        assert all(key.region.width > 0 for key in pinned.children)


@pytest.mark.parametrize("name", SCREENS)
async def test_one_meaning_per_key(tmp_path, name):
    """s sorts (where there is a list), ctrl+s saves a screenshot, on every screen."""
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, name)
        active = app.screen.active_bindings
        assert active["ctrl+s"].binding.action == "save_svg"
        assert "s" not in active or active["s"].binding.action == "next_sort"
        shown = [b for _, b, _, _ in active.values() if b.show]
        assert [b.description for b in shown].count("Screenshot") == 1
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert len(titles) == len(set(titles)), "one palette entry per action"
        assert titles.count("Screenshot") == 1


async def test_screenshot_key_saves_on_a_screen_where_s_sorts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "viewer")
        table = app.screen.query_one("#examples")
        before = table.sort_key
        await pilot.press("s")
        await pilot.pause(0.2)
        assert table.sort_key != before and not list(tmp_path.glob("*.svg"))
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert len(list(tmp_path.glob("*.svg"))) == 1


async def test_help_screen_is_generated_from_the_bindings(tmp_path):
    app = two_label_app(tmp_path, keymap={"ppltop.worst_token": "space"})
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "document")
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        text = shown_text(help_screen)
        on_screen, everywhere = text.index("On this screen"), text.index("Everywhere")
        assert on_screen < everywhere < text.index("Colors")
        for binding in DocumentScreen.BINDINGS:  # the screen's keys, before the global ones
            assert on_screen < text.index(binding.description) < everywhere
        assert "Prev token / Next token" in text  # the document view's own keys
        worst = next(line for line in text.splitlines() if "Worst" in line)
        assert worst.split()[0] == "space"  # after the user's key map
        assert "Pause" not in text, "the run is over: p would pause nothing"
        assert "1-9" in text and "Activate #N" in text
        assert "Open the single most surprising token of the run" in text
        assert "x axis" not in text.lower(), "the chart's key does nothing here"
        assert "low: the model expected the token" in text
        for key in ("question_mark", "escape", "q"):
            await pilot.press(key)
            await pilot.pause(0.1)
            assert isinstance(app.screen, DocumentScreen), key
            if key != "q":
                await pilot.press("question_mark")
                await pilot.pause(0.1)
        assert app.is_running


async def test_app_keys_bring_an_open_screen_forward(tmp_path):
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "dashboard")
        await pilot.press("v")
        viewer = app.screen
        await pilot.press("v")
        assert app.screen is viewer and stack(app) == ["Screen", "ViewerScreen"]
        await pilot.press("enter", "a")
        await pilot.pause(0.2)
        assert stack(app) == ["Screen", "ViewerScreen", "DocumentScreen", "ComparisonScreen"]
        await pilot.press("v")  # back to the viewer: the screens above it close
        await pilot.pause(0.2)
        assert app.screen is viewer and stack(app) == ["Screen", "ViewerScreen"]
        await pilot.press("w")
        await pilot.pause(0.2)
        document = app.screen
        assert isinstance(document, DocumentScreen)
        worst = document.query_one(DocumentView).cursor
        document.query_one(DocumentView).move_to(0)
        await pilot.press("w")  # the same worst token: the same screen, cursor on it
        await pilot.pause(0.1)
        assert app.screen is document and document.query_one(DocumentView).cursor == worst
        await pilot.press("R", "R")
        await pilot.pause(0.2)
        assert stack(app) == ["Screen", "ViewerScreen", "DocumentScreen", "RunsScreen"]
        await pilot.press("2", "v")  # another active label: the open viewer shows it
        await pilot.pause(0.2)
        assert app.screen is viewer and viewer.label == "docs-net"
        await pilot.press("a", "a")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ComparisonScreen) and len(app.screen_stack) == 3
        await pilot.press("R")
        assert isinstance(app.screen, RunsScreen) and len(app.screen_stack) == 4


async def test_the_chart_key_only_works_on_the_dashboard(tmp_path):
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "dashboard")
        chart = app.query_one(BatchLossChart)
        await pilot.press("v", "x")
        assert isinstance(app.screen, ViewerScreen) and chart.x_axis == "batches"
        await pilot.press("escape", "x")
        assert chart.x_axis == "tokens"

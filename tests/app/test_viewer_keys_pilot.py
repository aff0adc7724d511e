"""Issue #18's viewer keys, driven by Pilot on the synthetic two-label run: tabs, a filter
per tab, Esc leaving the filter line, n/N in diff mode, p/c once the run is over, and one
palette entry per label."""

from __future__ import annotations

import numpy as np
import pytest
from textual.widgets import Input, TabbedContent

from ppltop.ui.screens.document_screen import DocumentScreen
from ppltop.ui.screens.help_screen import HelpScreen
from ppltop.ui.screens.viewer_filters import TABS
from ppltop.ui.screens.viewer_screen import ViewerScreen
from ppltop.ui.widgets.document_view import DocumentView
from ppltop.ui.widgets.paged_table import PagedTable
from support.apps import two_label_app
from support.pilot import open_screen, scored


def shown_keys(screen) -> list[str]:
    """The keys the footer shows (check_action applied, as the footer does)."""
    app = screen.app
    return [key for key, (_, binding, enabled, _) in screen.active_bindings.items()
            if binding.show and enabled and app.check_action(binding.action, ()) is not False]


async def test_brackets_switch_tabs_and_are_in_the_footer(tmp_path):
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "viewer")
        tabs = app.screen.query_one(TabbedContent)
        assert "right_square_bracket" in shown_keys(app.screen)
        await pilot.press("right_square_bracket")
        await pilot.pause(0.1)
        assert tabs.active == "tab-worst"
        assert app.focused is app.screen.query_one("#worst", PagedTable)
        await pilot.press("right_square_bracket")
        await pilot.pause(0.1)
        assert tabs.active == "tab-groups"
        await pilot.press("left_square_bracket", "left_square_bracket", "left_square_bracket")
        await pilot.pause(0.1)
        assert tabs.active == "tab-hist"
        assert app.screen.check_action("focus_filter", ()) is False


async def test_the_filter_applies_to_the_tab_in_view(tmp_path):
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "viewer")
        screen = app.screen
        tabs = screen.query_one(TabbedContent)
        for tab, table_id in (("tab-worst", "#worst"), ("tab-groups", "#groups")):
            tabs.active = tab
            await pilot.pause(0.1)
            table = screen.query_one(table_id, PagedTable)
            before = table.row_count
            column = 1 if table_id == "#worst" else 0
            needle = table.fetch(0, 1)[0][column].strip("'").strip()
            await pilot.press("slash")
            await pilot.pause(0.1)
            assert tabs.active == tab and isinstance(app.focused, Input)
            await pilot.press(*needle, "enter")
            await pilot.pause(0.1)
            rows = table.fetch(0, table.row_count)
            assert 0 < table.row_count < before, (tab, needle, before)
            assert all(needle.lower() in row[column].lower() for row in rows)
            assert app.focused is table
        tabs.active = "tab-examples"
        await pilot.pause(0.1)
        assert screen.query_one(Input).value == ""
        assert screen.query_one("#examples", PagedTable).row_count == len(app.live.index["base"])


async def test_escape_leaves_the_filter_line_and_keeps_the_filter(tmp_path):
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "viewer")
        table = app.screen.query_one("#examples", PagedTable)
        before = table.row_count
        await pilot.press("slash", *"zzzz-no-such-text", "escape")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ViewerScreen), "Esc left the filter line only"
        assert app.focused is table and table.row_count == 0 < before
        assert app.screen.query_one(Input).value == "zzzz-no-such-text"
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ViewerScreen)


async def test_n_jumps_by_the_size_of_the_change_in_diff_mode(tmp_path):
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await scored(pilot)
        await pilot.press("2", "v", "enter")  # docs-net, against base
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, DocumentScreen) and screen.reference == "base"
        view = screen.query_one(DocumentView)
        while view.mode != "diff":
            await pilot.press("m")
        await pilot.press(*["minus"] * 7)  # 8 bits -> 1 bit
        await pilot.pause(0.1)
        assert screen.threshold_bits == 1.0
        delta = np.abs(view.document.delta_bits)
        start = view.cursor
        await pilot.press("n")
        await pilot.pause(0.1)
        landed = view.cursor
        assert landed > start and delta[landed] >= 1.0
        between = delta[start + 1:landed]
        assert not np.any(between[np.isfinite(between)] >= 1.0)
        bits = view.document.bits
        assert np.any(bits[start + 1:landed] > 1.0), "surprisal alone would stop earlier"


async def test_pause_and_cancel_leave_the_footer_once_the_run_is_over(tmp_path):
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await scored(pilot)
        await pilot.pause(0.6)
        assert app.check_action("toggle_pause", ()) is False
        assert app.check_action("cancel_run", ()) is False
        assert "p" not in shown_keys(app.screen) and "c" not in shown_keys(app.screen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Pause" not in titles and "Cancel" not in titles


async def test_the_palette_lists_one_entry_per_label_by_its_name(tmp_path):
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await scored(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        activate = [t for t in titles if t.startswith("Activate")]
        assert activate == ["Activate base", "Activate docs-net"]


async def test_every_figure_column_names_its_unit_and_by_token_keeps_one(tmp_path):
    """Losses in nats (as mlx-lm), per-token surprisal in bits, the unit in every header."""
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "viewer")
        titles = {table.id: [c.title for c in table.columns]
                  for table in app.screen.query(PagedTable)}
        assert titles["examples"][3:6] == ["mean nats", "total nats", "worst bits"]
        assert titles["worst"][0] == "bits"
        assert titles["groups"][2:4] == ["mean bits", "total bits"]
        table = app.screen.query_one("#groups", PagedTable)
        group = app.live.index["base"].by_token(count=1)[0]
        row = table.fetch(0, 1)[0]
        assert row[3] == f"{group.total_bits:.1f}"
        assert abs(group.total_bits - group.mean_bits * group.count) < 1e-6 * group.total_bits


async def viewer_footer_offers_quit_and_help(pilot) -> None:
    """On the viewer, q and ? are in the footer, unless the focus is in the filter line in
    view (it takes what is typed; Esc leaves it)."""
    app = pilot.app
    focused = app.focused
    if isinstance(focused, Input):
        hidden = focused.has_class("-hidden") or not focused.region.area
        assert not hidden and not focused.disabled, "the focus is in a hidden filter"
        await pilot.press("escape")
        await pilot.pause(0.1)
    keys = shown_keys(app.screen)
    assert "q" in keys and "question_mark" in keys, (app.focused, keys)


async def test_histograms_then_runs_and_back_leave_q_help_and_escape_working(tmp_path):
    """Issue #21, 7: v, ] ] ] (Histograms), R, Esc left the focus in the hidden filter
    line, where Esc, q, ?, ] and g did nothing."""
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await scored(pilot)
        await pilot.press("v", "right_square_bracket", "right_square_bracket",
                          "right_square_bracket", "R", "escape")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ViewerScreen)
        assert app.screen.query_one(TabbedContent).active == "tab-hist"
        assert not isinstance(app.focused, Input), "the focus went to the hidden filter"
        keys = shown_keys(app.screen)
        assert "q" in keys and "question_mark" in keys, keys
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HelpScreen), "? opens the help"
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ViewerScreen), "Esc leaves the help"
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert len(app.screen_stack) == 1, "Esc leaves the viewer"
        await pilot.press("q")
        await pilot.pause(0.2)
    assert app.return_code == 0, "q quits"


@pytest.mark.slow  # every key of every viewer screen, each pressed: most of a minute
async def test_no_viewer_key_leaves_the_footer_without_quit_and_help(tmp_path):
    """Every key of the viewer (and Tab, and a screen opened over it and closed), on every
    tab: q and ? stay in the footer."""
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "viewer")
        viewer = app.screen
        own = [key for key, (node, *_) in viewer.active_bindings.items()
               if node is not app and key not in ("escape", "ctrl+c")]  # they leave
        tabs = viewer.query_one(TabbedContent)
        for tab in TABS:
            for _ in TABS:  # bounded: a trapped ] would never get there
                if tabs.active == tab:
                    break
                await pilot.press("right_square_bracket")
                await pilot.pause(0.1)
            assert tabs.active == tab, "] no longer switches tabs"
            for key in ["R", "question_mark", "a", *own, "tab", "shift+tab", "enter"]:
                await pilot.press(key)
                await pilot.pause(0.1)
                for _ in range(3):  # a screen opened over the viewer (bounded: Esc may
                    if app.screen is viewer:  # be trapped)
                        break
                    await pilot.press("escape")
                    await pilot.pause(0.1)
                assert app.screen is viewer, f"Esc does not close what {key} opened"
                await viewer_footer_offers_quit_and_help(pilot)

"""The comparison view has one selection (the row marked ›, chosen with Enter): f and e act
on it, a sort keeps the cursor on its label, and a rename shows in every pane and in the
printout."""

from __future__ import annotations

from textual.widgets import Input

from ppltop.run.dashboard import _report_dashboard
from ppltop.run.request import RunRequest
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.comparison_screen import ComparisonScreen
from ppltop.ui.widgets.paged_table import PagedTable
from support import synthetic
from support.pilot import figures_drawn, finished
from support.screen_text import screen_text

LABELS = ("base", "docs-net", "docs-math")


async def test_one_selection_sort_keeps_it_and_renames_apply_everywhere(capsys):
    app = PplTopApp(lambda: synthetic.document_events(labels=LABELS, finish=True),
                    synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(pilot)
        await pilot.press("2", "a")
        await figures_drawn(pilot)
        screen = app.screen
        assert isinstance(screen, ComparisonScreen) and screen.active == "docs-net"
        table = screen.query_one("#compare-table", PagedTable)
        labels = [label for label, _ in screen.rows]
        assert labels[table.cursor] == "docs-net"  # the cursor opens on the selected row
        # a sort moves the rows, not the cursor off its label
        for _ in range(3):
            before = labels[table.cursor]
            await pilot.press("s")
            await pilot.pause(0.1)
            labels = [label for label, _ in screen.rows]
            assert labels[table.cursor] == before
        # f acts on the marked row, wherever the cursor is
        table.move_to(labels.index("docs-math"))
        await pilot.press("f")
        await pilot.pause(0.2)
        assert screen.reference == "docs-net" and app.reference_label == "docs-net"
        # Enter selects the cursor's row; e renames the selected row
        await pilot.press("enter")
        assert screen.active == "docs-math"
        await figures_drawn(pilot)
        await pilot.press("e")
        await pilot.pause(0.2)
        app.screen.query_one("#rename-input", Input).value = "my-math"
        await pilot.press("enter")
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "› my-math" in text and "mlx-lm · my-math: Test loss" in text
        assert "my-math vs docs-net" in text
        await pilot.press("escape")
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "Running PPL · my-math" in text  # the dashboard: title, legend
        legend = next(line for line in text.splitlines() if "━ base" in line)
        assert "━ my-math" in legend and "docs-math" not in legend
        await pilot.press("1")
        await pilot.pause(0.2)
        others = next(line for line in screen_text(app).splitlines() if "others:" in line)
        assert "my-math " in others and "docs-math" not in others
        await pilot.press("v")
        await pilot.pause(0.3)
        assert app.screen.sub_title.startswith("Surprisal viewer · run not recorded · base ·")
    capsys.readouterr()
    _report_dashboard(app, RunRequest(), None)
    out = capsys.readouterr().out
    assert "== my-math (/demo/docs-math) ==" in out and "docs-math (" not in out


async def test_a_comparison_closed_before_it_is_laid_out_is_no_crash():
    app = PplTopApp(lambda: synthetic.document_events(labels=LABELS, finish=True),
                    synthetic.INFO)
    async with app.run_test(size=(80, 24)) as pilot:
        await finished(pilot)
        screen = ComparisonScreen(app.live, "base", "docs-net")
        app.push_screen(screen)
        app.pop_screen()  # Esc pressed as it opens (a run read in the background)
        await pilot.pause(0.3)
        screen.recompute()  # a late redraw of a closed screen does nothing
        assert app.is_running and app.screen is app.screen_stack[0]

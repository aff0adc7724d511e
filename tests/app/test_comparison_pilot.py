"""The comparison view driven by Pilot on the demo's base and two adapters."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from ppltop.ui.screens.comparison_screen import ComparisonScreen
from ppltop.ui.screens.document_screen import DocumentScreen
from ppltop.ui.widgets.document_view import DocumentView
from ppltop.ui.widgets.paged_table import PagedTable
from ppltop.ui.widgets.ppl_panel import PplPanel
from support.apps import demo_app
from support.pilot import figures_drawn, rename, wait_for


async def test_compare_keys_reference_and_diff_mode(handle):
    app, _ = demo_app(handle)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.finished is not None)
        await pilot.pause(0.3)
        labels = list(app.live.labels)
        assert len(labels) == 3
        await pilot.press("2")
        assert app.query_one(PplPanel).active_label == labels[1]
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ComparisonScreen), timeout=60)
        await figures_drawn(pilot)
        screen = app.screen
        assert isinstance(screen, ComparisonScreen)
        assert screen.reference == "base" and screen.active == labels[1]
        # the rows agree with the core's paired comparison and with the run's own figures
        by_label = dict(screen.rows)
        engine = {c.label: c for c in app.live.finished.comparisons}
        for label in labels[1:]:
            c = by_label[label]
            # the very figures of the finished run: same interval, same win share
            assert c.delta_loss == engine[label].delta_loss
            assert c.delta_ci95 == engine[label].delta_ci95
            assert c.win_share == engine[label].win_share
        table = screen.query_one("#compare-table", PagedTable)
        rows = table.fetch(0, 3)
        assert [r[1] for r in rows] == [label for label, _ in screen.rows]
        # choose another reference: select its row (Enter), f; then select labels[1] again
        target = next(i for i, (label, _) in enumerate(screen.rows) if label == labels[2])
        table.move_to(target)
        await pilot.press("enter", "f")
        assert screen.reference == labels[2]
        await figures_drawn(pilot)
        assert dict(screen.rows)[labels[2]] is None
        table.move_to(next(i for i, (label, _) in enumerate(screen.rows) if label == labels[1]))
        await pilot.press("enter")
        assert screen.active == labels[1]
        await figures_drawn(pilot)
        # improved-most tokens open in the diff mode with both adapters side by side
        improved = screen.query_one("#improved", PagedTable)
        assert improved.row_count > 0
        first = screen.figures.improved[0]
        assert first.delta_bits < 0
        improved.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DocumentScreen), timeout=60)
        doc_screen = app.screen
        assert isinstance(doc_screen, DocumentScreen)
        view = doc_screen.query_one(DocumentView)
        assert view.mode == "diff" and view.cursor == first.position
        delta = float(view.document.delta_bits[first.position])
        assert delta == pytest.approx(first.delta_bits, abs=1e-4)
        detail = " ".join(str(doc_screen.query_one("#doc-detail", Static).render()).split())
        assert f"Δ {delta:+.3f} bits ({labels[1]} - {labels[2]})" in detail  # wrapped
        await pilot.press("escape")
        # rename a label for display
        await pilot.press("e")
        await wait_for(pilot, lambda: app.screen.query("#rename-input"), timeout=60)
        app.screen.query_one("#rename-input", Input).value = "mine"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "mine" in app.aliases.values(), timeout=60)


def test_a_real_difference_never_reads_as_a_tie():
    """Δloss below 4 decimals keeps two significant digits: only identical results read
    0.0000."""
    from ppltop.core.figures.formats import delta as delta_text

    assert delta_text(0.0) == "0.0000"
    assert delta_text(-3.14e-5) == "-3.1e-05" and delta_text(2e-6) == "+2.0e-06"
    assert delta_text(0.01234) == "+0.0123" and delta_text(-0.00005) == "-0.0001"
    assert delta_text(float("nan")) == "–"


async def test_a_name_taken_by_another_label_is_refused(handle, capsys):
    """Issue #21, 3: a, Down, Enter, e, `base`, Enter made two `base` rows, and the
    printout's reference row showed docs-net's figures under `base`."""
    from textual.widgets import Label

    from ppltop.run.dashboard import _report_dashboard
    from ppltop.run.request import RunRequest
    from ppltop.ui.screens.rename_screen import RenameScreen

    app, _ = demo_app(handle)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.finished is not None, timeout=120)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ComparisonScreen), timeout=10)
        await figures_drawn(pilot)
        await pilot.press("down", "enter")
        if app.screen.active == "base":  # base is the last row: the one above it
            await pilot.press("up", "enter")
        picked = app.screen.active
        assert picked != "base"
        await rename(pilot, "base")
        assert isinstance(app.screen, RenameScreen), "a taken name does not close the input"
        refusal = str(app.screen.query_one("#rename-refusal", Label).render())
        assert refusal == "'base' is taken by another label (base)"
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert app.aliases == {} and app.name_of(picked) == picked
    capsys.readouterr()
    _report_dashboard(app, RunRequest(), None)
    out = capsys.readouterr().out
    base = next(s for s in app.live.finished.summaries if s.label == "base")
    reference_row = next(line for line in out.splitlines() if line.endswith("reference"))
    assert reference_row.split()[:3] == ["base", f"{base.loss:.4f}", f"{base.ppl:.3f}"]

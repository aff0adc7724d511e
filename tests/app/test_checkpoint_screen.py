"""The checkpoint screen: opened first on a --checkpoints run, the curve and table of the
core's `CheckpointCurve`, the best checkpoint marked; snapshots at 80x24 and 120x40."""

from __future__ import annotations

import pytest

from ppltop.core.figures.checkpoints import curve_of_finished
from ppltop.headless import render_figures
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.checkpoint_screen import CheckpointScreen
from ppltop.ui.widgets.paged_table import PagedTable
from support import synthetic
from support.apps import CASES
from support.pilot import figures_drawn, finished_and_curve


def _expected_curve():
    *_, finished = synthetic.checkpoint_events()
    return curve_of_finished(finished)


def test_the_synthetic_curve_has_a_best_and_as_good_neighbours():
    (series,) = _expected_curve().series
    verdicts = {p.label: p.verdict for p in series.points}
    assert verdicts["run1@300"] == "best"
    assert "as good" in verdicts.values() and "worse" in verdicts.values()
    *_, finished = synthetic.checkpoint_events()
    printed = render_figures(finished)  # what the dashboard leaves on the terminal
    assert "== checkpoints of run1 by iteration (best: run1@300;" in printed


async def test_the_curve_opens_first_and_shows_the_core_figures():
    app = PplTopApp(synthetic.checkpoint_events, synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        await finished_and_curve(pilot)
        screen = app.screen
        assert isinstance(screen, CheckpointScreen)
        table = screen.query_one(PagedTable)
        rows = table.fetch(0, table.row_count)
        want = _expected_curve()
        assert [r[1] for r in rows] == [p.label for p in want.points()]
        by_label = {r[1]: r for r in rows}
        for point in want.points():
            assert by_label[point.label][-1] == point.verdict
            assert by_label[point.label][2] == f"{point.loss:.4f}"
        assert "best run1: run1@300" in str(screen.query_one("#checkpoint-note").render())
        await pilot.press("escape")  # the batch loss chart is a key away
        assert not isinstance(app.screen, CheckpointScreen)
        await pilot.press("i")
        assert isinstance(app.screen, CheckpointScreen)


async def test_a_run_without_checkpoints_does_not_offer_the_curve():
    app = PplTopApp(synthetic.events, synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        await finished_and_curve(pilot)
        assert not isinstance(app.screen, CheckpointScreen)
        assert app.check_action("open_checkpoints", ()) is False
        await pilot.press("i")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, CheckpointScreen)


async def test_two_splits_side_by_side_on_the_curve():
    """`--split valid,test`: the curve screen stays open across the splits and shows both,
    each series with its split and its own best; the dashboard shows the split scored."""
    from ppltop.core.figures.checkpoints import curves_side_by_side

    app = PplTopApp(synthetic.split_checkpoint_events, synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        await finished_and_curve(pilot)
        assert app.runs.split == "test" and list(app.runs.earlier) == ["valid"]
        screen = app.screen
        assert isinstance(screen, CheckpointScreen)
        assert [s.name for s in screen.curve.series] == ["run1 · valid", "run1 · test"]
        events = list(synthetic.split_checkpoint_events())
        finished = [e for e in events if type(e).__name__ == "RunFinished"]
        want = curves_side_by_side({"valid": curve_of_finished(finished[0]),
                                    "test": curve_of_finished(finished[1])})
        table = screen.query_one(PagedTable)
        rows = table.fetch(0, table.row_count)
        assert [r[1] for r in rows] == [f"{p.label} {s.split}" for s in want.series
                                        for p in s.points]
        assert [r[2] for r in rows] == [f"{p.loss:.4f}" for p in want.points()]
        assert [s.best for s in want.series] == ["run1@500", "run1@300"]
        note = str(screen.query_one("#checkpoint-note").render())
        assert "run1 · valid: run1@500, run1 · test: run1@300" in note
        assert set(want.bases) == {"valid", "test"}
        await pilot.press("escape")
        assert app.sub_title == "split test (2 of 2): finished"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_checkpoint_screen_two_splits(snap_compare, size):
    app = PplTopApp(synthetic.split_checkpoint_events, synthetic.INFO)
    assert snap_compare(app, terminal_size=size, run_before=finished_and_curve)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_checkpoint_screen(snap_compare, size):
    app = PplTopApp(synthetic.checkpoint_events, synthetic.INFO)
    assert snap_compare(app, terminal_size=size, run_before=finished_and_curve)


@pytest.mark.parametrize("theme,no_color", CASES,
                         ids=[f"{t}{'-NO_COLOR' if n else ''}" for t, n in CASES])
async def test_the_checkpoint_screen_draws_in_every_theme(monkeypatch, theme, no_color):
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    app = PplTopApp(synthetic.checkpoint_events, synthetic.INFO, theme=theme)
    async with app.run_test(size=(80, 24)) as pilot:
        await finished_and_curve(pilot)
        assert isinstance(app.screen, CheckpointScreen)
        app.export_screenshot()
        await pilot.press("t")  # the chart follows the theme's label colors
        await pilot.pause(0.15)
        app.export_screenshot()
        assert app.is_running


async def test_enter_compares_a_real_checkpoint_with_the_best(handle, tmp_path):
    """A real --checkpoints evaluation of the demo: Enter on a row opens the comparison
    against the folder's best, with the same paired interval as the curve's table."""
    import shutil

    from ppltop import demo
    from ppltop.core.config import EvalConfig
    from ppltop.core.engine.evaluation import Evaluation
    from ppltop.ui.screens.comparison_screen import ComparisonScreen

    folder = tmp_path / "run1"
    folder.mkdir()
    for step, name in ((100, "docs-net"), (200, "docs-math")):
        source = demo.ADAPTER_DIRS[name]
        shutil.copy(source / "adapter_config.json", folder / "adapter_config.json")
        shutil.copy(source / "adapters.safetensors", folder / f"{step:07d}_adapters.safetensors")
    config = EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR, adapters=[folder],
                        checkpoints=True, test_batches=2)
    app = PplTopApp(lambda: Evaluation(config, handle).events(), synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        await finished_and_curve(pilot)
        screen = app.screen
        assert isinstance(screen, CheckpointScreen)
        (series,) = screen.curve.series
        other = next(p for p in series.points if not p.best)
        table = screen.query_one(PagedTable)
        table.move_to(screen.curve.points().index(other))
        await pilot.press("enter")
        await pilot.pause(0.5)
        assert isinstance(app.screen, ComparisonScreen)
        assert (app.screen.reference, app.screen.active) == (series.best, other.label)
        shown = app.live.comparisons(series.best)[other.label]
        assert shown.delta_ci95 == other.versus_best.delta_ci95


async def test_a_checkpoint_being_scored_is_hollow_and_never_the_best():
    """A watch scoring run1@20 (8 of 24 examples): the table marks it `scoring…` with its
    Δ against run1@10, the best; the note says how many examples that Δ covers; the chart
    draws it hollow (◇) and ◆ stays on run1@10."""
    from ppltop.ui.widgets.checkpoint_chart import CheckpointChart
    from support.screen_text import screen_text

    app = PplTopApp(lambda: synthetic.watch_events(partial_batches=2), synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(400):
            index = app.live.index.get("run1@20")
            if isinstance(app.screen, CheckpointScreen) and index and len(index) == 8:
                break
            await pilot.pause(0.02)
        await pilot.pause(0.3)
        await figures_drawn(pilot)
        screen = app.screen
        assert isinstance(screen, CheckpointScreen)
        table = screen.query_one(PagedTable)
        rows = {r[1]: r for r in table.fetch(0, table.row_count)}
        assert rows["run1@10"][-1] == "best"
        assert rows["run1@20"][-1] == "scoring…"
        (series,) = screen.curve.series
        partial = series.points[1]
        assert rows["run1@20"][5] == f"{partial.versus_best.delta_loss:+.4f}"
        note = str(screen.query_one("#checkpoint-note").render())
        assert note.startswith("best run1: run1@10 · ◇ run1@20 scoring…: loss and Δ over "
                               "the 8 examples it shares with the best · as good"), note
        chart = screen.query_one(CheckpointChart)
        assert "◆ best, ◇ scoring…" in str(chart.border_subtitle)
        text = screen_text(app)
        assert "◇" in text and "◆" in text

"""The runs screen: two runs of the same data side by side in the comparison view."""

from __future__ import annotations

import synthetic
from conftest import run_ppltop

from ppltop import demo
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.comparison_screen import ComparisonScreen
from ppltop.ui.screens.runs_screen import RunsScreen
from ppltop.ui.widgets.paged_table import PagedTable


async def test_two_runs_side_by_side(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join((demo.DATA_DIR / "test.jsonl").read_text().splitlines()[:10]))
    folder = tmp_path / "runs"
    base = ["--model", str(demo.MODEL_DIR), "--data", str(data), "--headless"]
    assert run_ppltop(*base, "--run-dir", str(folder / "a-base")).returncode == 0
    assert run_ppltop(*base, "--adapter-path", str(demo.ADAPTER_DIRS["docs-net"]), "--no-base",
                      "--run-dir", str(folder / "b-net")).returncode == 0
    app = PplTopApp(synthetic.events, synthetic.INFO, runs_folder=folder)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("R")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        rows = screen.query_one("#runs", PagedTable).fetch(0, 5)
        assert [r[1] for r in rows] == ["a-base", "b-net"]
        assert all(r[2] == "finished" for r in rows)
        await pilot.press("a")
        assert isinstance(app.screen, RunsScreen)  # nothing marked yet
        await pilot.press("space", "down", "space", "a")
        await pilot.pause(0.5)
        comparison = app.screen
        assert isinstance(comparison, ComparisonScreen)
        rows = dict(comparison.rows)
        assert set(rows) == {"a-base:base", "b-net:docs-net"}
        c = rows["b-net:docs-net"]
        assert c.examples == 10 and c.reference == "a-base:base"

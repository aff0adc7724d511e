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
        assert [r[1] for r in rows] == ["b-net", "a-base"]  # newest first
        assert all(r[6] == "finished" for r in rows)
        await pilot.press("a")
        assert isinstance(app.screen, RunsScreen)  # nothing marked yet
        await pilot.press("down", "space", "up", "space", "a")  # a-base first: the reference
        for _ in range(400):
            if isinstance(app.screen, ComparisonScreen):
                break
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        comparison = app.screen
        assert isinstance(comparison, ComparisonScreen)
        rows = dict(comparison.rows)
        assert set(rows) == {"a-base:base", "b-net:docs-net"}
        c = rows["b-net:docs-net"]
        assert c.examples == 10 and c.reference == "a-base:base"


async def test_runs_screen_columns_open_progress_and_identical_runs(tmp_path):
    import shutil

    from screen_text import screen_text

    data = tmp_path / "chats" / "test.jsonl"
    data.parent.mkdir()
    data.write_text("\n".join((demo.DATA_DIR / "test.jsonl").read_text().splitlines()[:8]))
    folder = tmp_path / "runs"
    first = folder / "run-with-a-long-name-2026"
    assert run_ppltop("--model", str(demo.MODEL_DIR), "--data", str(data), "--headless",
                      "--adapter-path", str(demo.ADAPTER_DIRS["docs-net"]),
                      "--run-dir", str(first)).returncode == 0
    shutil.copytree(first, folder / "the-same-run-copied-again")
    progress = []

    def hook(message):
        if isinstance(message, RunsScreen.Progress):
            progress.append(message.text)

    app = PplTopApp(synthetic.events, synthetic.INFO, runs_folder=folder)
    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        await pilot.press("R")
        await pilot.pause(0.3)
        text = screen_text(app)
        for title in ("run", "started", "model", "data", "adapters", "status", "PPL"):
            assert title in text.splitlines()[2], title
        assert "chats/test.jsonl" in text and "docs-net" in text and "finished" in text
        await pilot.press("enter")  # open: read in a thread, the screen stays live
        for _ in range(400):
            if isinstance(app.screen, ComparisonScreen):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, ComparisonScreen)
        assert any("batch" in line for line in progress), progress
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "mlx-lm · docs-net: Test loss" in text and "docs-net" in text
        await pilot.press("escape")
        await pilot.press("space", "down", "space", "a")
        for _ in range(400):
            if isinstance(app.screen, ComparisonScreen):
                break
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "the-same-run-copied-again:docs-net" in text  # whole, not cut at 14
        assert "nan" not in text
        # the reference is the first run's base; the second run's base is the same run
        assert app.screen.reference == "the-same-run-copied-again:base"
        row = next(line for line in text.splitlines()
                   if "run-with-a-long-name-2026:base" in line)
        assert " tie " in row and " 0.0000 " in row and "+0.0000" not in row, row

"""The runs screen: two runs of the same data side by side in the comparison view."""

from __future__ import annotations

from ppltop import demo
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.comparison_screen import ComparisonScreen
from ppltop.ui.screens.runs_screen import RunsScreen
from ppltop.ui.widgets.paged_table import PagedTable
from ppltop.ui.widgets.ppl_panel import PplPanel
from support import synthetic
from support.cli import run_ppltop
from support.screen_text import screen_lines


async def _compare(pilot, *keys: str) -> None:
    """Press `keys` (marking two runs, then `a`) and wait for the comparison view."""
    await pilot.press(*keys)
    for _ in range(400):
        if isinstance(pilot.app.screen, ComparisonScreen) \
                and not pilot.app.screen.figures_pending:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.3)


async def _runs_screen(pilot) -> RunsScreen:
    """Press `R` and give the runs screen it opens."""
    await pilot.press("R")
    await pilot.pause(0.2)
    assert isinstance(pilot.app.screen, RunsScreen)
    return pilot.app.screen


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
        screen = await _runs_screen(pilot)
        rows = screen.query_one("#runs", PagedTable).fetch(0, 5)
        assert [r[1] for r in rows] == ["b-net", "a-base"]  # newest first
        assert all(r[6] == "finished" for r in rows)
        await pilot.press("a")
        assert isinstance(app.screen, RunsScreen)  # nothing marked yet
        await _compare(pilot, "down", "space", "up", "space", "a")  # a-base first: reference
        comparison = app.screen
        assert isinstance(comparison, ComparisonScreen)
        rows = dict(comparison.rows)
        assert set(rows) == {"a-base:base", "b-net:docs-net"}
        c = rows["b-net:docs-net"]
        assert c.examples == 10 and c.reference == "a-base:base"
        title = screen_lines(app)[0]  # the runs compared, by name
        assert "Comparison · a-base + b-net · b-net:docs-net vs a-base:base" in title, title
        dashboard_label = app.active_label
        await pilot.press("1")  # this screen's #1, not the dashboard's
        await pilot.pause(0.1)
        assert comparison.active == "a-base:base" and app.active_label == dashboard_label
        assert app.query_one(PplPanel).active_label in (None, dashboard_label)
        await pilot.press("2")
        await pilot.pause(0.1)
        assert comparison.active == "b-net:docs-net"
        assert app.query_one(PplPanel).active_label in (None, dashboard_label)


async def test_runs_screen_columns_open_progress_and_identical_runs(tmp_path):
    import shutil

    from support.screen_text import screen_text

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
        header = next(line for line in text.splitlines() if " started " in line)
        for title in ("run", "started", "model", "data", "adapters", "status", "PPL"):
            assert title in header, title
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
        await _compare(pilot, "space", "down", "space", "a")
        text = screen_text(app)
        assert "the-same-run-copied-again:docs-net" in text  # whole, not cut at 14
        assert "nan" not in text
        # the reference is the first run's base; the second run's base is the same run
        assert app.screen.reference == "the-same-run-copied-again:base"
        row = next(line for line in text.splitlines()
                   if "run-with-a-long-name-2026:base" in line)
        assert " tie " in row and " 0.0000 " in row and "+0.0000" not in row, row


async def test_a_finished_run_against_a_stopped_one_over_their_common_examples(tmp_path):
    """A run scored to its end (10 examples) and one stopped after 2 of its 5 batches (4
    examples): every figure of the comparison is over the 4 examples both have, and the
    screen says so; bits/B is a figure; mlx-lm's line is there for the finished run's labels
    and said to come for the stopped one's."""
    import json

    from ppltop.core.store.recorder import FAULT_ENV
    from support.screen_text import screen_text

    data = tmp_path / "data.jsonl"
    data.write_text("\n".join((demo.DATA_DIR / "test.jsonl").read_text().splitlines()[:10]))
    folder = tmp_path / "runs"
    args = ["--model", str(demo.MODEL_DIR), "--data", str(data), "--headless",
            "--batch-size", "2"]
    done = run_ppltop(*args, "--adapter-path", str(demo.ADAPTER_DIRS["docs-net"]),
                      "--run-dir", str(folder / "a-done"), "--json", str(tmp_path / "a.json"))
    assert done.returncode == 0, done.stderr
    stopped = run_ppltop(*args, "--run-dir", str(folder / "b-stopped"), env={FAULT_ENV: "2"})
    assert stopped.returncode == 1 and "ppltop resume" in stopped.stderr, stopped.stderr
    own = {r["label"]: r for r in json.loads((tmp_path / "a.json").read_text())["runs"]}
    app = PplTopApp(synthetic.events, synthetic.INFO, runs_folder=folder)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("R")
        await pilot.pause(0.2)
        rows = app.screen.query_one("#runs", PagedTable).fetch(0, 5)
        assert [r[1] for r in rows] == ["b-stopped", "a-done"]
        assert rows[1][6] == "finished" and rows[0][6] != "finished"
        await _compare(pilot, "down", "space", "up", "space", "a")  # a-done first: reference
        screen = app.screen
        assert isinstance(screen, ComparisonScreen)
        table = screen.query_one("#compare-table", PagedTable)
        shown = {r[1]: r for r in table.fetch(0, table.row_count)}
        assert set(shown) == {"a-done:base", "a-done:docs-net", "b-stopped:base"}
        # the same model on the same 4 examples: the same figures, a real tie
        assert shown["a-done:base"][2:5] == shown["b-stopped:base"][2:5]
        assert shown["a-done:base"][2] != f"{own['base']['loss']:.4f}"  # not its 10 examples
        assert shown["b-stopped:base"][5:9] == ["0.0000", "[0.0000, 0.0000]", "0.00", "tie"]
        comparisons = screen.live.comparisons("a-done:base")
        net = comparisons["a-done:docs-net"]
        assert net.examples == 4 and shown["a-done:docs-net"][2] == f"{net.loss:.4f}"
        assert shown["a-done:docs-net"][5] == f"{net.delta_loss:+.4f}"
        assert all(r[9] != "–" for r in shown.values())  # bits/B over the common examples
        text = screen_text(app)
        assert "loss, PPL, Δ and bits/B over 4 common examples" in text
        assert "mlx-lm · a-done:docs-net: Test loss" in text
        assert "mlx-lm · b-stopped:base: when it is scored to its end" in text
        assert "when the run finishes" not in text


async def test_a_run_set_is_one_row_as_ppltop_runs_lists_it(tmp_path):
    folder = tmp_path / "runs"
    score = ["--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR), "--test-batches",
             "1", "--headless"]
    assert run_ppltop(*score, "--run-dir", str(folder / "plain")).returncode == 0
    splits = run_ppltop(*score, "--split", "valid,test", "--run-dir", str(folder / "both"))
    assert splits.returncode == 0, splits.stderr
    listed = run_ppltop("runs", str(folder))
    assert listed.returncode == 0, listed.stderr
    said = {line.split()[0]: line.split(None, 2)[1:] for line in listed.stdout.splitlines()}
    assert said["both"][0] == "splits"
    app = PplTopApp(synthetic.events, synthetic.INFO, runs_folder=folder)
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await _runs_screen(pilot)
        rows = screen.query_one("#runs", PagedTable).fetch(0, 5)
        assert sorted(r[1] for r in rows) == ["both", "plain"]  # not its parts apart
        row = next(r for r in rows if r[1] == "both")
        assert [row[6], row[8]] == said["both"]  # the one computation of `ppltop runs`
        assert row[3] == demo.MODEL_DIR.name and row[8].startswith("2 runs: valid, test;")
        table = screen.query_one("#runs", PagedTable)
        table.cursor = rows.index(row)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.screen is screen  # a run set opens with `ppltop open`, as it says
        assert any("see them with: ppltop open" in n.message for n in app._notifications)

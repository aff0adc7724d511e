"""One figure, one computation: the demo with two adapters and `--reference docs-net` shows
the same reference, Δloss interval, win share and PPL in the headless output, `--json`,
`--csv`, the comparison screen, `ppltop open --headless`, `ppltop open` in the app, and the
runs screen comparing the run with a copy of itself. And a run with a non-finite example
leaves it out the same way on the progress line, in the JSON and on the dashboard."""

from __future__ import annotations

import csv
import json
import re
import shutil

import pytest

from ppltop import demo
from ppltop.core.store.replay import RunFollower
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.comparison_screen import ComparisonScreen
from ppltop.ui.screens.runs_screen import RunsScreen
from ppltop.ui.widgets.paged_table import PagedTable
from support import synthetic
from support.cli import run_ppltop
from support.models import nan_model, token_of_one_example
from support.pilot import figures_drawn, wait_for

NET, MATH = demo.ADAPTER_DIRS["docs-net"], demo.ADAPTER_DIRS["docs-math"]


@pytest.fixture(scope="module")
def scored(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("truth")
    out = run_ppltop("--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR),
                     "--adapter-path", str(NET),
                     "--adapter-path", str(MATH), "--reference", "docs-net", "--headless",
                     "--json", str(folder / "out.json"), "--csv", str(folder / "out.csv"),
                     "--run-dir", str(folder / "runs" / "run"))
    assert out.returncode == 0, out.stderr
    payload = json.loads((folder / "out.json").read_text())
    return {"folder": folder, "run": folder / "runs" / "run", "stdout": out.stdout,
            "json": payload, "csv": list(csv.DictReader(open(folder / "out.csv")))}


def printed_rows(stdout: str) -> dict[str, list[str]]:
    """The comparison table of the printout: label -> its cells."""
    table = stdout.split("== comparison", 1)[1]
    rows = {}
    for line in table.splitlines()[2:]:
        match = re.match(r"(\S+)\s+([\d.]+)\s+([\d.]+)\s+([+-][\d.]+)\s+(\[[^]]+\])\s+"
                         r"([+-][\d.]+)\s+(\d+%)", line)
        if match:
            rows[match.group(1)] = list(match.groups()[1:])
    return rows


def interval(c: dict) -> str:
    lo, hi = c["delta_ci95"]
    return f"[{lo:+.4f}, {hi:+.4f}]"


def test_printout_json_csv_and_open_headless_agree(scored):
    comparisons = {c["label"]: c for c in scored["json"]["comparison"]}
    assert set(comparisons) == {"base", "docs-math"}
    assert all(c["reference"] == "docs-net" for c in comparisons.values())
    assert "(reference: docs-net)" in scored["stdout"]
    printed = printed_rows(scored["stdout"])
    for label, c in comparisons.items():
        assert printed[label][3] == interval(c)
        assert printed[label][5] == f"{c['win_share']:.0%}"
    rows = {r["label"]: r for r in scored["csv"]}
    runs = {r["label"]: r for r in scored["json"]["runs"]}
    for label, c in comparisons.items():
        assert rows[label]["reference"] == "docs-net"
        assert float(rows[label]["delta_ci95_low"]) == c["delta_ci95"][0]
        assert float(rows[label]["delta_ci95_high"]) == c["delta_ci95"][1]
        assert float(rows[label]["win_share"]) == c["win_share"]
    for label, r in runs.items():
        assert float(rows[label]["ppl"]) == r["ppl"]
    reopened = run_ppltop("open", str(scored["run"]), "--headless")
    assert reopened.returncode == 0, reopened.stderr
    assert printed_rows(reopened.stdout) == printed
    assert reopened.stdout.count("(reference: docs-net)") == 1


async def _screen_rows(app, pilot) -> dict[str, list[str]]:
    await figures_drawn(pilot)
    screen = app.screen
    assert isinstance(screen, ComparisonScreen)
    table = screen.query_one("#compare-table", PagedTable)
    return {row[1]: row for row in table.fetch(0, len(screen.rows))}


async def test_the_app_opening_the_run_shows_the_same_figures(scored):
    follower = RunFollower(scored["run"], follow=False)
    app = PplTopApp(follower.events, synthetic.INFO)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.finished is not None)
        await pilot.pause(0.3)
        assert app.reference_label == "docs-net"
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ComparisonScreen))
        await pilot.pause(0.3)
        rows = await _screen_rows(app, pilot)
        for c in scored["json"]["comparison"]:
            cells = rows[c["label"]]
            assert interval(c) in cells and f"{c['win_share']:.0%}" in cells
        assert "ref" in rows["docs-net"]
        for r in scored["json"]["runs"]:
            assert f"{r['ppl']:.3f}" in rows[r["label"]]


async def test_the_runs_screen_comparing_the_run_with_a_copy_shows_the_same_figures(scored):
    runs = scored["folder"] / "runs"
    copy = runs / "copy"
    if not copy.exists():
        shutil.copytree(scored["run"], copy)
    app = PplTopApp(synthetic.events, synthetic.INFO, runs_folder=runs)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.finished is not None)
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        screen = app.screen
        screen.marked = [scored["run"], copy]
        screen.action_compare_marked()
        await wait_for(pilot, lambda: isinstance(app.screen, ComparisonScreen))
        await pilot.pause(0.5)
        comparison = app.screen
        comparison.reference = "run:docs-net"
        comparison.recompute()
        await pilot.pause(0.3)
        rows = await _screen_rows(app, pilot)
        for c in scored["json"]["comparison"]:
            assert interval(c) in rows[f"run:{c['label']}"]
            assert f"{c['win_share']:.0%}" in rows[f"run:{c['label']}"]
        # the copy's docs-net against the run's is the same model on the same tokens
        assert "[0.0000, 0.0000]" in rows["copy:docs-net"]  # no change: no sign (formats)
        assert app.reference_label == "base"  # the other screen did not write the live run's


def test_a_non_finite_example_is_left_out_alike_everywhere(tmp_path):
    """The progress line, the JSON and the dashboard (tests/app/test_faults.py) leave the
    poisoned example out; none of them shows nan."""
    from ppltop.core.data.split import load_split
    from support.models import demo_tokenizer

    data = tmp_path / "data"
    data.mkdir()
    lines = (demo.DATA_DIR / "test.jsonl").read_text().splitlines()[:12]
    (data / "test.jsonl").write_text("\n".join(lines) + "\n")
    split = load_split(data / "test.jsonl", "test", demo_tokenizer(), False)
    token, _ = token_of_one_example(split)
    model = nan_model(tmp_path, token)
    out = run_ppltop("--model", str(model), "--data", str(data), "--batch-size", "2",
                     "--headless", "--json", str(tmp_path / "out.json"), "--run-dir",
                     str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    run = json.loads((tmp_path / "out.json").read_text())["runs"][0]
    last = [line for line in out.stderr.splitlines() if line.startswith("[")][-1]
    assert "nan" not in last
    assert f"base loss {run['loss']:.4f} ppl {run['ppl']:.3f} (1 non-finite left out)" in last
    assert len(run["nonfinite_examples"]) == 1

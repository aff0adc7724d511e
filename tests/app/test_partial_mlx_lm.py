"""A run stopped before one of mlx-lm's file-order batches is complete (issue #21, item 1):
ppltop's length-sorted batches rarely complete one early on, so mlx-lm has no figure yet.
Every view says so in the core's words (`mlx_lm.NOT_YET`), and none shows `nan`: the
printout, the JSON, the CSV, the PPL pane, the comparison, the runs screen and the report.
The run is real: the demo model scores one batch of the demo test set, then stops."""

from __future__ import annotations

import csv
import json
import re
import time

import pytest

from ppltop import demo
from ppltop.core.config import EvalConfig
from ppltop.core.engine.evaluation import Evaluation
from ppltop.core.store.events import BatchScored, RunFinished
from ppltop.core.store.export import write_summary_csv
from ppltop.core.store.recorder import recorded
from ppltop.core.store.replay import RunFollower
from ppltop.core.store.run_dir import RunWriter
from ppltop.headless import render_figures
from ppltop.report.page import write_report
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.comparison_screen import ComparisonScreen
from ppltop.ui.text_flow import FlowLine
from support import synthetic
from support.screen_text import screen_text

NAN = re.compile(r"\bnan\b", re.IGNORECASE)
NOT_YET = "not yet (no complete mlx-lm batch among the 4 examples scored)"
"""One batch of 4 length-sorted examples: none of mlx-lm's batches of 4 consecutive records."""


@pytest.fixture(scope="module")
def stopped(tmp_path_factory, handle):
    """(run directory, RunFinished) of the demo, base and docs-net, stopped after batch 1."""
    cfg = EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR / "test.jsonl",
                     adapters=[demo.ADAPTER_DIRS["docs-net"]], batch_size=4)
    evaluation = Evaluation(cfg, handle)
    evaluation.prepare()
    run_dir = tmp_path_factory.mktemp("stopped") / "runs" / "stopped-run"
    writer = RunWriter(run_dir, evaluation.manifest())
    finished = None
    for event in recorded(evaluation.events(), writer):
        if isinstance(event, BatchScored) and event.label == evaluation.labels[-1]:
            evaluation.cancel()
        if isinstance(event, RunFinished):
            finished = event
    assert finished.cancelled and evaluation.plan.n_batches > 1
    return run_dir, finished


def test_the_printout_json_and_csv_say_not_yet_and_never_nan(stopped, tmp_path):
    _, finished = stopped
    text = render_figures(finished)
    assert text.count(f"  mlx-lm figure: {NOT_YET}\n") == 2, text
    assert "Test loss" not in text and not NAN.search(text), text
    assert (f"partial: the run was stopped; ppltop's figure covers the 4 examples scored; "
            f"mlx-lm figure: {NOT_YET}") in text
    for summary in finished.summaries:
        as_json = summary.to_dict()
        assert as_json["mlx_lm"] is None  # no figure yet: null, not a figure of NaNs
        json.dumps(as_json, allow_nan=False)
    write_summary_csv(tmp_path / "summary.csv", finished.summaries, finished.comparisons)
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert [(r["mlx_lm_loss"], r["mlx_lm_ppl"]) for r in rows] == [("", "")] * 2


def test_the_report_says_not_yet_and_never_nan(stopped, tmp_path):
    run_dir, _ = stopped
    page = write_report(run_dir, tmp_path / "report.html").read_text()
    assert page.count(f"<p>mlx-lm figure: {NOT_YET}</p>") == 2  # in each label's why
    assert "mlx_lm.lora --test prints" not in page and not NAN.search(page)


async def _wait(pilot, ready, what: str) -> None:
    end = time.monotonic() + 60
    while not ready():
        assert time.monotonic() < end, what
        await pilot.pause(0.05)
    await pilot.pause(0.3)


async def test_the_ppl_pane_and_the_comparison_say_not_yet(stopped):
    run_dir, _ = stopped
    app = PplTopApp(RunFollower(run_dir, follow=False).events, synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        await _wait(pilot, lambda: app.live.finished is not None, "the run was not read back")
        assert app.query_one("#ppl-mlx", FlowLine).segments == [f"mlx-lm: {NOT_YET}"]
        assert not NAN.search(screen_text(app)), screen_text(app)
        await pilot.press("a")
        await _wait(pilot, lambda: isinstance(app.screen, ComparisonScreen), "no comparison")
        text = screen_text(app)
        assert f"mlx-lm · base: {NOT_YET}" in text and f"mlx-lm · docs-net: {NOT_YET}" in text
        assert not NAN.search(text), text


async def test_the_runs_screen_opens_the_stopped_run_without_nan(stopped):
    run_dir, _ = stopped
    app = PplTopApp(synthetic.events, synthetic.INFO, runs_folder=run_dir.parent)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("R")
        await pilot.pause(0.3)
        assert "stopped-run" in screen_text(app) and not NAN.search(screen_text(app))
        await pilot.press("enter")
        await _wait(pilot, lambda: isinstance(app.screen, ComparisonScreen), "no comparison")
        text = screen_text(app)
        assert f"mlx-lm · docs-net: {NOT_YET}" in text and not NAN.search(text), text

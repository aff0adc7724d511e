"""A run over two models (the demo model and its 4-bit copy made by mlx-lm's converter) as
the dashboard's config pane, its comparison screen, `ppltop open` and the HTML report show
it: each model's form and size, and the same KL figures as the printout's models table."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from mlx.utils import tree_flatten

from ppltop import demo
from ppltop.core.figures import formats as fmt
from support.cli import run_ppltop


@pytest.fixture(scope="module")
def pair_run(quantized_model, tmp_path_factory) -> dict:
    """`--model demo --model demo-4bit`, headless, with its run directory and --json."""
    out = tmp_path_factory.mktemp("pair")
    proc = run_ppltop("--model", str(demo.MODEL_DIR), "--model", str(quantized_model),
                      "--data", str(demo.DATA_DIR), "--test-batches", "2",
                      "--run-dir", str(out / "run"), "--json", str(out / "figures.json"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {"run": out / "run", "figures": json.loads((out / "figures.json").read_text()),
            "stdout": proc.stdout}


def _weights_on_disk(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.glob("*.safetensors"))


def test_each_models_form_and_size_are_the_models_own(quantized_model):
    """The plan's facts: the stored form and compute dtype, the weight files' bytes, and the
    weights' bytes in memory as scored (the 4-bit copy dequantized to float32 on the CPU)."""
    from ppltop.core.config import EvalConfig
    from ppltop.core.engine.evaluation import Evaluation

    config = EvalConfig(model=demo.MODEL_DIR, models=(demo.MODEL_DIR, quantized_model),
                        data=demo.DATA_DIR, test_batches=1)
    evaluation = Evaluation(config)
    plan = evaluation.prepare()
    f32, q4 = plan.models
    assert (f32.label, f32.stored, f32.computed) == ("model", "float32", "float32")
    assert (q4.label, q4.stored, q4.computed) == ("model#2", "4-bit", "float32")
    assert f32.disk_bytes == _weights_on_disk(demo.MODEL_DIR)
    assert q4.disk_bytes == _weights_on_disk(quantized_model) < f32.disk_bytes
    for facts, handle in zip(plan.models, evaluation.handles):
        assert facts.memory_bytes == sum(
            w.nbytes for _, w in tree_flatten(handle.model.parameters()))
    assert q4.describe().startswith("4-bit → float32 · ")
    assert f32.describe().startswith("float32 · ")


async def test_the_config_pane_and_comparison_show_the_runs_models(quantized_model):
    """Under the dashboard: a line per model under `models`, from the plan's facts; the
    comparison's KL and same-top cells are the engine's own figures."""
    from ppltop.core.config import EvalConfig
    from ppltop.core.engine.evaluation import Evaluation
    from ppltop.run.dashboard import describe_config
    from ppltop.ui.app import PplTopApp
    from ppltop.ui.screens.comparison_screen import ComparisonScreen
    from ppltop.ui.widgets.config_pane import ConfigPane
    from ppltop.ui.widgets.paged_table import PagedTable
    from support.pilot import figures_drawn, wait_for

    config = EvalConfig(model=demo.MODEL_DIR, models=(demo.MODEL_DIR, quantized_model),
                        data=demo.DATA_DIR, test_batches=2)
    evaluation = Evaluation(config)
    app = PplTopApp(evaluation.events, describe_config(config, None),
                    request_stop=evaluation.cancel)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.finished is not None)
        await wait_for(pilot, lambda: "model#2" in app.query_one(ConfigPane).info)
        info = list(app.query_one(ConfigPane).info.items())
        at = [key for key, _ in info].index("models")
        assert info[at][1] == "2, on the same tokens"
        assert info[at + 1:at + 3] == [(m.label, m.describe()) for m in app.live.plan.models]
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ComparisonScreen), timeout=60)
        await figures_drawn(pilot)
        table = app.screen.query_one("#compare-table", PagedTable)
        titles = [c.title for c in table.columns]
        (engine,) = app.live.finished.comparisons
        row = next(r for r in app.screen._fetch_rows(0, 2) if r[1] == "model#2")
        assert row[titles.index("KL")] == fmt.number(engine.kld["mean"], 4)
        assert row[titles.index("top=")] == fmt.share(engine.kld["same_top"], 0)


def test_the_report_shows_the_models_and_the_printouts_table(pair_run):
    """The page's `models` section: each model's facts as the run recorded them (read back
    as `ppltop open` reads them) and the same KL figures as --json's `models`."""
    from ppltop.report import write_report

    page = write_report(pair_run["run"], pair_run["run"].parent / "page.html").read_text()
    section = page[page.index('<section id="models">'):]
    section = section[:section.index("</section>")]
    assert '<a href="#models">models</a>' in page
    assert "<b>model#2</b>: 4-bit → float32 · " in html.unescape(section)
    for row in pair_run["figures"]["models"]:
        cells = re.search(rf'<tr data-label="{re.escape(row["label"])}">(.*?)</tr>', section)
        assert cells, row["label"]
        values = dict(re.findall(r'data-field="(\w+)" data-value="([^"]*)"', cells.group(1)))
        assert json.loads(html.unescape(values["loss"])) == row["loss"]
        if not row["reference"]:
            assert json.loads(html.unescape(values["kl_mean"])) == row["kl_mean"]
            assert json.loads(html.unescape(values["same_top"])) == row["same_top"]
            assert f">{row['kl_mean']:.5f}<" in cells.group(1)

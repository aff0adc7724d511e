"""One running figure: the running loss interval kept batch by batch (`stats.RunningMean`,
read by the PPL panel and the headless progress) ends where the final figure is; and the
comparison rows show the paired loss the printout shows, a non-finite example included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ppltop import demo
from ppltop.core.config import EvalConfig
from ppltop.core.engine.evaluation import Evaluation
from ppltop.core.figures import formats as fmt
from ppltop.core.figures.progress import ScoringRate, seconds_left
from ppltop.core.store.events import BatchScored, RunPlan, RunStarted
from ppltop.headless import render_comparison
from ppltop.ui.comparison_rows import label_row, row_figures
from ppltop.view.figures import comparison_figures, snapshot
from ppltop.view.live import LiveRun
from support import synthetic


def test_the_running_interval_at_the_end_is_the_final_figures(handle):
    """A real evaluation of the demo's base and an adapter, folded as the dashboard folds
    it: each label's running interval after its last batch is its summary's interval."""
    config = EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR,
                        adapters=[demo.ADAPTER_DIRS["docs-net"]], test_batches=4)
    live = LiveRun()
    for event in Evaluation(config, handle).events():
        live.apply(event)
    assert live.finished is not None and len(live.finished.summaries) == 2
    for summary in live.finished.summaries:
        running = live.labels[summary.label]
        assert running.clustered.examples == summary.examples
        assert running.clustered.mean == pytest.approx(summary.loss, rel=1e-12)
        assert running.stderr == pytest.approx(summary.stderr_loss, rel=1e-9)
        assert running.ppl_ci95 == pytest.approx(summary.ppl_ci95, rel=1e-9)
        shown = fmt.interval(*running.ppl_ci95, fmt.PPL_DECIMALS)
        assert shown == fmt.interval(*summary.ppl_ci95, fmt.PPL_DECIMALS)


def test_one_rate_and_one_eta():
    """A resumed run: the batches read back count neither toward the rate nor the time."""
    rate = ScoringRate(replayed_tokens=1000, replayed_s=0.5, paused_s=1.5)
    assert rate.rate(3000, 12.0) == pytest.approx(2000 / 10.0)
    assert seconds_left(5000, 3000, 200.0) == pytest.approx(10.0)
    assert math.isnan(seconds_left(5000, 3000, math.nan))
    assert math.isnan(seconds_left(5000, 3000, 0.0))


def _results(losses: list[float]):
    """One `ExampleResult` per loss (NaN: a non-finite example), 50 targets each."""
    return [synthetic._result(i, loss) for i, loss in enumerate(losses)]


def test_a_non_finite_example_leaves_the_rows_paired_as_the_printout():
    """The reference's example 1 is NaN: the candidate's row shows the loss over the
    examples both have a finite loss on (the comparison's), the printout's figure, not its
    own loss over all its examples."""
    losses = {"base": [3.0, math.nan, 2.0, 2.5], "docs-net": [2.0, 0.5, 1.5, 2.5]}
    live = LiveRun()
    live.apply(RunStarted(RunPlan(list(losses), [None, "/demo/docs-net"], 4, 1, 200,
                                  "/demo/test.jsonl", "text", 0.0)))
    for label, values in losses.items():
        results = _results(values)
        live.apply(BatchScored(label, 0, 1, float(np.nansum([r.loss_sum for r in results])),
                               200, results, 200, 200, 1.0))
    figures = comparison_figures(snapshot(live.index), None, "base", "docs-net")
    c = figures.rows["docs-net"]
    assert c.examples == 3 and c.loss == pytest.approx(2.0)  # 2.0, 1.5, 2.5
    own = live.labels["docs-net"].loss
    assert own == pytest.approx(1.625)  # all four: not what the row shows
    row = label_row("›", "docs-net", row_figures(live, figures.common, "docs-net", c), c, None)
    assert row[2] == fmt.loss(c.loss) == "2.0000" and row[3] == fmt.ppl(math.exp(c.loss))
    reference = row_figures(live, figures.common, "base", None)
    assert reference[0] == pytest.approx(2.5)  # its three finite examples
    printed = render_comparison([synthetic._summary(0, "base")], [c]).splitlines()
    candidate = next(line for line in printed if line.startswith("docs-net"))
    assert candidate.split()[1:3] == [row[2], row[3]]
    assert "nan" not in " ".join(row).lower()

"""The dashboard on models scored one at a time: the comparison screen says how the KL of
each model was had, with the note of the core's summary (not one of its own)."""

from __future__ import annotations

from textual.widgets import Static

from ppltop import demo
from ppltop.core.config import EvalConfig
from ppltop.core.engine.evaluation import Evaluation
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.comparison_screen import ComparisonScreen
from support import synthetic
from support.pilot import figures_drawn, wait_for

BUDGET = 11 << 20
"""As in tests/engine/test_one_at_a_time.py: both models do not fit, one does."""


async def test_the_comparison_says_the_kl_came_from_the_kept_top_k(quantized_model):
    cfg = EvalConfig(model=demo.MODEL_DIR, models=(demo.MODEL_DIR, quantized_model),
                     data=demo.DATA_DIR, test_batches=3, max_memory=BUDGET)
    evaluation = Evaluation(cfg)
    app = PplTopApp(evaluation.events, synthetic.INFO, request_stop=evaluation.cancel)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.finished is not None, timeout=120)
        assert evaluation.scoring_plan.memory.one_at_a_time
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ComparisonScreen), timeout=60)
        await figures_drawn(pilot)
        note = app.live.summary_of("model#2").kl_note
        assert note and app.live.summary_of("model").kl_note is None
        shown = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert f"KL · model#2: {note}" in shown
        assert "KL · model:" not in shown

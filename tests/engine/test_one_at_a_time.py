"""Models that do not fit in --max-memory together are scored one at a time: each read
once, every batch with the reference's model first, the others' KL against its kept top-k
log-probabilities, with a lower bound and how far above it the exact KL can be."""

from __future__ import annotations

import json
import math

import mlx.core as mx
import numpy as np
import pytest

from ppltop import demo
from ppltop.core.config import EvalConfig
from ppltop.core.engine import kept_reference
from ppltop.core.engine.evaluation import Evaluation
from ppltop.core.engine.worker import ScoringWorker
from ppltop.core.store.events import BatchScored, Notice
from support.cli import run_ppltop

BUDGET = 11 << 20
"""The demo model and its 4-bit copy (dequantized: 3.7 MiB each) on three batches: a
sequence beside both models' weights needs more than this, beside one of them less."""


def _exact_kl(p_logits: np.ndarray, q_logits: np.ndarray) -> np.ndarray:
    lp = p_logits - np.logaddexp.reduce(p_logits, axis=1, keepdims=True)
    lq = q_logits - np.logaddexp.reduce(q_logits, axis=1, keepdims=True)
    return (np.exp(lp) * (lp - lq)).sum(axis=1)


@pytest.mark.parametrize("spread", [0.5, 3.0])
def test_the_kept_top_k_bounds_the_exact_kl_from_both_sides(spread):
    rng = np.random.default_rng(7)
    vocab = 500
    ref = (rng.standard_normal((40, vocab)) * spread).astype(np.float32)
    model = (ref + rng.standard_normal((40, vocab)) * 0.7).astype(np.float32)
    exact = _exact_kl(ref.astype(np.float64), model.astype(np.float64))
    kept = kept_reference.keep(mx.array(ref), 64)
    assert kept.ids.shape == (40, 64)
    lower, gap = kept_reference.kl_bounds(kept, mx.array(model))
    assert (lower <= exact + 1e-5).all()
    assert (exact <= lower + gap + 1e-5).all()
    assert (lower < exact - 1e-4).any()  # the tail is really left out


def test_with_the_whole_vocabulary_kept_the_kl_is_exact():
    rng = np.random.default_rng(3)
    ref = rng.standard_normal((6, 48)).astype(np.float32)
    model = (ref + rng.standard_normal((6, 48))).astype(np.float32)
    lower, gap = kept_reference.kl_bounds(kept_reference.keep(mx.array(ref), 64), mx.array(model))
    np.testing.assert_allclose(lower, _exact_kl(ref.astype(np.float64), model), rtol=1e-5)
    assert (gap == 0).all()


def _evaluate(quantized_model, max_memory=None):
    cfg = EvalConfig(model=demo.MODEL_DIR, models=(demo.MODEL_DIR, quantized_model),
                     data=demo.DATA_DIR, test_batches=3, max_memory=max_memory)
    evaluation = Evaluation(cfg)
    events = list(evaluation.events())
    return evaluation, events


def _per_token(events, label, field):
    return np.concatenate([getattr(r, field) for e in events if isinstance(e, BatchScored)
                           and e.label == label for r in sorted(e.results,
                                                                key=lambda r: r.example)])


def test_one_at_a_time_scores_the_same_tokens_and_bounds_the_kl(quantized_model):
    together, both = _evaluate(quantized_model)
    alone, one = _evaluate(quantized_model, BUDGET)
    assert not together.scoring_plan.memory.one_at_a_time
    assert alone.scoring_plan.memory.one_at_a_time
    said = [e.message for e in one if isinstance(e, Notice)]
    assert any("scored one at a time, each read once" in m for m in said), said
    # every batch with the reference's model, then every batch with the other
    reference, copy = alone.labels
    order = [(e.label, e.batch) for e in one if isinstance(e, BatchScored)]
    assert order == [(reference, b) for b in range(3)] + [(copy, b) for b in range(3)]
    for label in (reference, copy):  # the same scores, to float32 rounding
        np.testing.assert_allclose(_per_token(one, label, "logprob"),
                                   _per_token(both, label, "logprob"), rtol=1e-5, atol=1e-5)
    exact = _per_token(both, copy, "kl").astype(np.float64)
    lower = _per_token(one, copy, "kl").astype(np.float64)
    assert (lower <= exact + 1e-5).all()
    total_gap, worst, n, _ = alone.scorer.kept.gaps.sums[copy]
    assert n == len(exact)
    assert exact.mean() - lower.mean() <= total_gap / n
    assert ((exact - lower) <= worst + 1e-5).all()
    note = one[-1].summaries[1].kl_note
    assert note.startswith(f"KL from the reference's top-{alone.scoring_plan.memory.top_k} ")
    assert one[-1].summaries[0].kl_note is None and both[-1].summaries[1].kl_note is None
    # same-top compares the two models' own top tokens: exact either way
    assert one[-1].comparisons[0].kld["same_top"] == both[-1].comparisons[0].kld["same_top"]


def test_one_at_a_time_stays_under_the_budget_and_says_how_the_kl_was_had(quantized_model,
                                                                          tmp_path):
    out = tmp_path / "figures.json"
    proc = run_ppltop("--headless", "--model", str(demo.MODEL_DIR), "--model",
                      str(quantized_model), "--data", str(demo.DATA_DIR), "--test-batches", "3",
                      "--max-memory", str(BUDGET), "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "they are scored one at a time" in proc.stderr
    # the progress line follows the reference's pass too, the ETA over both passes
    progress = [line for line in proc.stderr.splitlines() if line.startswith("[")]
    assert "| model#2 loss – ppl – |" in progress[0]
    assert progress[-1].endswith("ETA –") and "model#2 loss – " not in progress[-1]
    assert not any(line.endswith("ETA –") for line in progress[:-1]), progress
    figures = json.loads(out.read_text())
    assert figures["peak_memory_bytes"] <= BUDGET
    reference, copy = (m for m in figures["models"])
    assert reference["kl_note"] is None
    row = copy
    assert row["kl_note"] and f"KL of {row['label']}: {row['kl_note']}" in proc.stdout
    assert 0 < row["kl_mean"] and 0 < row["same_top"] < 1


def test_one_at_a_time_in_the_dashboards_worker_thread(quantized_model):
    """The dashboard scores on a worker thread with its own MLX stream; the models opened
    lazily on the main thread are opened again there before their weights are read."""
    evaluation = Evaluation(EvalConfig(model=demo.MODEL_DIR,
                                       models=(demo.MODEL_DIR, quantized_model),
                                       data=demo.DATA_DIR, test_batches=2, max_memory=BUDGET))
    evaluation.prepare()
    events, errors = [], []
    worker = ScoringWorker(evaluation.events, events.append, errors.append)
    worker.start()
    worker.join(120)
    assert not errors, errors
    finished = events[-1]
    assert evaluation.scoring_plan.memory.one_at_a_time
    assert [s.label for s in finished.summaries] == evaluation.labels
    assert all(math.isfinite(s.loss) for s in finished.summaries)


def test_the_reference_s_model_is_scored_first(quantized_model):
    evaluation = Evaluation(EvalConfig(model=demo.MODEL_DIR,
                                       models=(demo.MODEL_DIR, quantized_model),
                                       data=demo.DATA_DIR, test_batches=2, max_memory=BUDGET,
                                       reference="model#2"))
    events = list(evaluation.events())
    order = [(e.label, e.batch) for e in events if isinstance(e, BatchScored)]
    assert order == [("model#2", 0), ("model#2", 1), ("model", 0), ("model", 1)]
    # every pass holds one label here: each of its events closes its batch
    assert all(e.closes_batch for e in events if isinstance(e, BatchScored))
    assert [s.kl_note is None for s in events[-1].summaries] == [False, True]


def test_several_splits_one_at_a_time_with_an_adapter_give_the_together_figures(
        quantized_model, tmp_path):
    """A run set's splits share the models: each split reads them anew one at a time (a
    model freed by the first split is never scored stale by the next), adapters applied."""
    adapter = next(iter(demo.ADAPTER_DIRS.values()))
    args = ["--headless", "--model", str(demo.MODEL_DIR), "--model", str(quantized_model),
            "--adapter-path", str(adapter), "--data", str(demo.DATA_DIR),
            "--split", "test,valid", "--test-batches", "2"]
    figures = {}
    for name, extra in (("together", []), ("alone", ["--max-memory", str(BUDGET)])):
        out = tmp_path / f"{name}.json"
        proc = run_ppltop(*args, *extra, "--json", str(out), "--run-dir", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr[-2000:]
        figures[name] = json.loads(out.read_text())
    assert "scored one at a time" in proc.stderr
    assert figures["alone"]["peak_memory_bytes"] <= BUDGET
    for split in ("test", "valid"):
        together = {r["label"]: r["loss"] for r in figures["together"]["by_split"][split]["runs"]}
        alone = {r["label"]: r["loss"] for r in figures["alone"]["by_split"][split]["runs"]}
        assert list(alone) == list(together) and len(alone) == 4
        for label, loss in together.items():
            assert alone[label] == pytest.approx(loss, rel=1e-6), (split, label)

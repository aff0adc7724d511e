"""Packed micro-batches: a batch's rows end to end without their padding, each attending
within itself, the figures the padded batch's within float32 rounding."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from ppltop import demo
from ppltop.core.engine import cpu_kernels, packing
from ppltop.core.engine.forward import SplitForward
from ppltop.core.model.loader import ModelHandle
from support.models import tiny_model


def _batch(lengths: list[int]):
    """Padded inputs of rows of `lengths`, and the (row, column) of every real position."""
    width = max(lengths)
    inputs = np.zeros((len(lengths), width), np.int32)
    for r, n in enumerate(lengths):
        inputs[r, :n] = (np.arange(n) * (r + 3)) % 200 + 5
    rows = np.concatenate([np.full(n, r) for r, n in enumerate(lengths)])
    cols = np.concatenate([np.arange(n) for n in lengths])
    return mx.array(inputs), rows, cols, np.array(lengths)


def _forward(tmp_path, model_type: str) -> SplitForward:
    folder = demo.MODEL_DIR if model_type == "llama" else tiny_model(tmp_path / model_type,
                                                                    model_type)
    return SplitForward(ModelHandle.load(folder).model)


@pytest.mark.parametrize("model_type,packs", [("llama", True), ("qwen2", True),
                                              ("gemma3_text", False)])
def test_packed_rows_give_the_padded_figures(tmp_path, model_type, packs):
    """gemma3's sliding window would need a window per segment: its probe fails and it
    runs padded; llama and qwen2 pack, their logits the padded ones within rounding."""
    forward = _forward(tmp_path, model_type)
    assert forward.kernels.active and forward.packs is packs
    inputs, rows, cols, lengths = _batch([23, 7, 16, 3])
    n = len(rows)
    got = np.array(forward.rows(inputs, rows, cols, lengths=lengths)(0, n))
    assert forward.packs is packs  # nothing in the batch made it fall back
    padded = np.array(forward.rows(inputs, rows, cols)(0, n))
    np.testing.assert_allclose(got, padded, rtol=1e-4, atol=1e-4)
    # and not the figures of rows that see each other: the first row, fed alone, agrees
    alone = np.array(forward.rows(inputs[:1, :23], rows[:23], cols[:23])(0, 23))
    np.testing.assert_allclose(got[:23], alone, rtol=1e-4, atol=1e-4)


def test_micro_batches_pack_apart(tmp_path):
    """With the memory plan's micro-batches, each packs its own rows."""
    forward = _forward(tmp_path, "llama")
    inputs, rows, cols, lengths = _batch([30, 12, 25, 9, 4])
    n = len(rows)
    got = np.array(forward.rows(inputs, rows, cols, micro_rows=2, lengths=lengths)(0, n))
    padded = np.array(forward.rows(inputs, rows, cols, micro_rows=2)(0, n))
    np.testing.assert_allclose(got, padded, rtol=1e-4, atol=1e-4)


def test_the_probe_refuses_an_attention_that_crosses_rows(tmp_path, monkeypatch):
    """An attention that ignored the segments would let a row read the row before it: the
    probe at load sees it and the model runs padded."""
    real = cpu_kernels.attention
    monkeypatch.setattr(cpu_kernels, "attention",
                        lambda q, k, v, scale, causal, lengths=None: real(q, k, v, scale,
                                                                           causal))
    assert not _forward(tmp_path, "llama").packs


def test_a_call_that_cannot_pack_falls_back_to_padding(tmp_path, monkeypatch):
    """A call the kernels cannot take packed (here every RoPE) ends packing for the model;
    that micro-batch and the next run padded, with the padded figures exactly."""
    forward = _forward(tmp_path, "llama")
    assert forward.packs
    inputs, rows, cols, lengths = _batch([11, 6, 9])
    n = len(rows)
    padded = np.array(forward.rows(inputs, rows, cols)(0, n))

    def refuse(original):
        def rope(*args, **kwargs):
            raise packing.NotPackable("test")
        return rope

    monkeypatch.setattr(packing, "_rope_per_segment", refuse)
    got = np.array(forward.rows(inputs, rows, cols, lengths=lengths)(0, n))
    assert not forward.packs
    assert np.array_equal(got, padded)
    assert mx.fast.rope is not None and "rope" in mx.fast.rope.__name__  # the original back
    assert packing.segments() is None


def test_rope_restarts_at_each_segment():
    """Each segment's RoPE is the padded row's, bit for bit (positions from 0)."""
    x = mx.array(np.random.default_rng(3).standard_normal((1, 2, 14, 8)).astype(np.float32))
    kw = {"traditional": False, "base": 10000.0, "scale": 1.0}
    with packing.packed([5, 9]):
        got = mx.fast.rope(x, 8, offset=0, **kw)
    assert np.array_equal(np.array(got[:, :, :5]),
                          np.array(mx.fast.rope(x[:, :, :5], 8, offset=0, **kw)))
    assert np.array_equal(np.array(got[:, :, 5:]),
                          np.array(mx.fast.rope(x[:, :, 5:], 8, offset=0, **kw)))
    with packing.packed([5, 9]), pytest.raises(packing.NotPackable):
        mx.fast.rope(x, 8, offset=3, **kw)


def _run(pack: bool):
    from ppltop.core.config import EvalConfig
    from ppltop.core.engine.evaluation import Evaluation
    from ppltop.core.store.events import BatchScored, Notice

    evaluation = Evaluation(EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR / "test.jsonl",
                                       test_batches=4), ModelHandle.load(demo.MODEL_DIR))
    evaluation.prepare()
    evaluation.scorer.forward.packs = pack
    events = list(evaluation.events())
    results = {r.example: r for e in events if isinstance(e, BatchScored) for r in e.results}
    return results, [e.message for e in events if isinstance(e, Notice)]


def test_a_run_packs_says_so_and_keeps_its_figures():
    packed, notes = _run(True)
    padded, _ = _run(False)
    assert any(n.startswith("packed: each batch's rows run end to end") for n in notes), notes
    assert packed.keys() == padded.keys() and packed
    for i, p in packed.items():
        np.testing.assert_allclose(p.logprob, padded[i].logprob, rtol=1e-5, atol=1e-5)
        assert np.array_equal(p.targets, padded[i].targets)


@pytest.mark.parametrize("kernels", ["numpy", "mlx"])
def test_the_plan_says_whether_the_padding_is_computed(monkeypatch, kernels):
    """The batches line and the config pane read the plan: the padding share 'skipped by
    packing' when it is not computed; MLX's own kernels (no packing) compute it."""
    from ppltop.core.config import EvalConfig
    from ppltop.core.engine.evaluation import Evaluation

    monkeypatch.setenv("PPLTOP_CPU_KERNELS", kernels)
    plan = Evaluation(EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR / "test.jsonl",
                                 test_batches=4), ModelHandle.load(demo.MODEL_DIR)).prepare()
    assert plan.packed is (kernels == "numpy")
    assert plan.padding_share > 0
    assert plan.padding_text().startswith(f"{plan.padding_share:.1%}, skipped by packing; mlx-lm"
                                          if plan.packed else f"{plan.padding_share:.1%}, mlx-lm")
    assert packing.notes(plan) == ([
        f"packed: each batch's rows run end to end, so its padding ({plan.padding_share:.1%} "
        "of the positions a padded batch would compute) is not computed"] if plan.packed else [])


def test_a_model_without_a_separable_body_runs_padded():
    """A model with no inner body to probe (nothing mlx-lm loads, but a module of any
    shape) neither splits nor packs, and takes lengths all the same."""
    import mlx.nn as nn

    class Bare(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(300, 8)
            self.out = nn.Linear(8, 300)

        def __call__(self, tokens):
            return self.out(self.embed(tokens))

    forward = SplitForward(Bare())
    assert not forward.split and not forward.packs
    inputs, rows, cols, lengths = _batch([5, 3])
    logits = forward.rows(inputs, rows, cols, lengths=lengths)(0, len(rows))
    assert logits.shape == (len(rows), 300)

"""The shared trunk: labels that adapt only upper blocks compute the blocks below once a
batch, and every per-token figure is bit for bit that of scoring the label alone."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

from ppltop import demo
from ppltop.core.config import EvalConfig
from ppltop.core.engine.evaluation import Evaluation
from ppltop.core.engine.trunk import lowest_adapted_block, shared_blocks
from ppltop.core.model.loader import ModelHandle, read_adapter
from ppltop.core.store.events import BatchScored, Notice
from support.models import ARCHITECTURES, make_adapter, tiny_model


def score(model: Path, adapters: list[Path], no_base: bool = False, share: bool = True, **kw):
    cfg = EvalConfig(model=model, data=demo.DATA_DIR / "test.jsonl", adapters=adapters,
                     no_base=no_base, test_batches=3, **kw)
    evaluation = Evaluation(cfg, ModelHandle.load(model))
    evaluation.prepare()
    if not share:  # the same run, every label computing every block
        evaluation.scorer.forward.trunk = None
    events = list(evaluation.events())
    results: dict = {}
    for e in events:
        if isinstance(e, BatchScored):
            for r in e.results:
                results.setdefault(e.label, {})[r.example] = r
    notes = [e.message for e in events if isinstance(e, Notice)]
    return results, notes


def assert_identical(together: dict, alone: dict) -> None:
    assert together.keys() == alone.keys() and together
    for i, t in together.items():
        a = alone[i]
        for name in ("targets", "logprob", "entropy", "rank", "top_ids", "top_logprobs"):
            assert np.array_equal(getattr(t, name), getattr(a, name)), (i, name)
        assert np.array_equal(t.mlx_lm.delta, a.mlx_lm.delta), i
        assert t.mlx_lm.phantom == a.mlx_lm.phantom, i


@pytest.mark.parametrize("model_type", list(ARCHITECTURES))
def test_labels_sharing_the_trunk_get_their_own_figures_bit_for_bit(tmp_path, model_type):
    model = tiny_model(tmp_path / model_type, model_type) if model_type != "llama" \
        else demo.MODEL_DIR
    one = make_adapter(model, tmp_path / "one", num_layers=2, seed=1)
    two = make_adapter(model, tmp_path / "two", num_layers=1, seed=2)
    together, notes = score(model, [one, two])
    assert any("shared trunk: blocks 0-1 of 4 computed once for 3 labels" in n
               for n in notes), notes
    assert_identical(together["base"], score(model, [])[0]["base"])
    for adapter in (one, two):
        alone, alone_notes = score(model, [adapter], no_base=True)
        assert not any("shared trunk" in n for n in alone_notes)
        assert_identical(together[adapter.name], alone[adapter.name])


def test_the_trunk_under_kl_changes_no_figure(tmp_path):
    one = make_adapter(demo.MODEL_DIR, tmp_path / "one", num_layers=2, seed=3)
    two = make_adapter(demo.MODEL_DIR, tmp_path / "two", num_layers=2, seed=4)
    together, notes = score(demo.MODEL_DIR, [one, two], kl=True)
    assert any("shared trunk" in n for n in notes)
    apart, _ = score(demo.MODEL_DIR, [one, two], kl=True, share=False)
    for label in ("base", one.name, two.name):
        assert_identical(together[label], apart[label])
        for i, t in together[label].items():
            assert t.kl is None or np.array_equal(t.kl, apart[label][i].kl)


def test_micro_batches_keep_the_trunk_within_the_budget(tmp_path):
    one = make_adapter(demo.MODEL_DIR, tmp_path / "one", num_layers=2, seed=5)
    budget = 40 << 20  # small enough to split the demo's batches of 8 into micro-batches
    together, notes = score(demo.MODEL_DIR, [one], batch_size=8, max_memory=budget)
    assert any("shared trunk" in n for n in notes) and any("micro-batches" in n for n in notes)
    alone, _ = score(demo.MODEL_DIR, [one], no_base=True, batch_size=8, max_memory=budget)
    # micro-batches of other sizes round differently (float32): equal within a few ulps
    for i, t in together[one.name].items():
        np.testing.assert_allclose(t.logprob, alone[one.name][i].logprob, rtol=1e-5, atol=1e-5)


def test_the_lowest_adapted_block_comes_from_the_weights(tmp_path):
    adapter = read_adapter(make_adapter(demo.MODEL_DIR, tmp_path / "a", num_layers=2))
    assert lowest_adapted_block(adapter, 4) == 2
    # a config that names more blocks than the weights adapt: the weights decide
    adapter.config["num_layers"] = 4
    assert lowest_adapted_block(adapter, 4) == 2
    adapter.weights = {**adapter.weights, "model.embed_tokens.lora_a": mx.zeros((2, 2))}
    assert lowest_adapted_block(adapter, 4) == 0
    dora = read_adapter(make_adapter(demo.MODEL_DIR, tmp_path / "d", num_layers=3, dora=True))
    assert lowest_adapted_block(dora, 4) == 1
    assert shared_blocks([None, dora, adapter], 4) == 0
    assert shared_blocks([None], 4) == 3


def test_demo_adapters_of_every_block_share_nothing():
    _, notes = score(demo.MODEL_DIR, list(demo.ADAPTER_DIRS.values()))
    assert not any("shared trunk" in n for n in notes)

"""--kl against a direct computation, and --checkpoints scoring each checkpoint file."""

from __future__ import annotations

import shutil

import mlx.core as mx
import numpy as np
import pytest

from ppltop import demo
from ppltop.core.config import EvalConfig
from ppltop.core.engine.evaluation import Evaluation
from ppltop.core.store.events import BatchScored
from support.models import make_adapter


def run(handle, **kw):
    cfg = EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR / "test.jsonl", **kw)
    events = list(Evaluation(cfg, handle).events())
    results = {}
    for e in events:
        if isinstance(e, BatchScored):
            for r in e.results:
                results.setdefault(e.label, {})[r.example] = r
    return results, events[-1]


def log_softmax(model, tokens):
    logits = model(mx.array(tokens[None]))[0].astype(mx.float32)
    return np.array(logits - mx.logsumexp(logits, axis=-1, keepdims=True), dtype=np.float64)


def test_kl_matches_a_direct_computation(handle):
    adapter = next(iter(demo.ADAPTER_DIRS.values()))
    results, finished = run(handle, adapters=[adapter], kl=True, test_batches=2)
    label = adapter.name
    from mlx_lm import load
    from mlx_lm.tuner.utils import load_adapters

    base, _ = load(str(demo.MODEL_DIR))
    tuned, _ = load(str(demo.MODEL_DIR))
    load_adapters(tuned, str(adapter))
    tuned.eval()
    example_index = sorted(results[label])[0]
    r = results[label][example_index]
    from ppltop.core.data.split import load_split

    split = load_split(demo.DATA_DIR, "test", handle.tokenizer, False)
    tokens = split.examples[example_index].tokens
    p = log_softmax(base, tokens)[r.positions - 1]
    q = log_softmax(tuned, tokens)[r.positions - 1]
    want = (np.exp(p) * (p - q)).sum(axis=1)
    np.testing.assert_allclose(r.kl, want, rtol=2e-3, atol=2e-5)
    assert results["base"][example_index].kl is None
    kld = finished.comparisons[0].kld
    every = np.concatenate([x.kl for x in results[label].values()])
    assert kld["mean"] == pytest.approx(every.mean(), rel=1e-6)
    assert kld["max"] == pytest.approx(every.max(), rel=1e-6)
    assert kld["percentiles"]["50"] == pytest.approx(np.median(every), rel=1e-6)
    assert 0 <= kld["same_top"] <= 1 and kld["delta_p_rms"] > 0
    # the figures do not depend on --kl
    plain, plain_finished = run(handle, adapters=[adapter], test_batches=2)
    assert plain_finished.summaries[1].loss == pytest.approx(finished.summaries[1].loss, rel=1e-6)


def test_checkpoints_are_scored_each_on_the_same_tokens(handle, tmp_path):
    folder = make_adapter(demo.MODEL_DIR, tmp_path / "run", seed=5)
    shutil.copy(folder / "adapters.safetensors", folder / "0000100_adapters.safetensors")
    other = make_adapter(demo.MODEL_DIR, tmp_path / "other", seed=6)
    shutil.copy(other / "adapters.safetensors", folder / "0000200_adapters.safetensors")
    results, finished = run(handle, adapters=[folder], checkpoints=True, no_base=True,
                            test_batches=2)
    labels = [s.label for s in finished.summaries]
    assert labels == ["run@100", "run@200", "run@final"]
    by = {s.label: s for s in finished.summaries}
    assert by["run@100"].loss == pytest.approx(by["run@final"].loss, rel=1e-6)
    single, single_finished = run(handle, adapters=[other], no_base=True, test_batches=2)
    assert by["run@200"].loss == pytest.approx(single_finished.summaries[0].loss, rel=1e-6)
    assert finished.comparisons[0].reference == "run@100"

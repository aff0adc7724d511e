"""mlx-lm's cross-entropy replayed on the host (`mlx_lm.ce_from_exps`, from the statistics'
own exponentials) against MLX's `nn.losses.cross_entropy` on the CPU: within a few float32
steps per token, and far inside the parity tests' 1e-6 on a mean, where ppltop's own
(more accurate) log-probs are not."""

from __future__ import annotations

import json

import mlx.core as mx
import numpy as np

from ppltop.core import mlx_lm
from ppltop.core.engine import token_stats
from support.paths import REAL_DATA

MAX_STEPS = 32
"""Float32 steps a replayed cross-entropy may be from MLX's (7 seen on the real model)."""


def steps_apart(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Float32 steps between positive arrays, counted at 1.0 below 1: a cross-entropy is
    the log-sum-exp minus the target's logit, terms of order 1 or more, so its float32
    error is absolute below 1 (0.0102 off by 1.2e-7 is 127 steps at its own size, a
    tenth of one at the terms')."""
    gap = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return np.rint(gap / np.spacing(np.maximum(np.maximum(a, b), np.float32(1)))).astype(
        np.int64)


def relative_gap_of_means(a: np.ndarray, b: np.ndarray) -> float:
    return abs(float(a.astype(np.float64).mean() / b.astype(np.float64).mean()) - 1)


def check_replay(logits: mx.array, targets: np.ndarray) -> None:
    want = mlx_lm.token_ce(logits, targets)
    block = token_stats.compute(logits, targets, "numpy", mlx_lm_ce=True)
    _, loss_only_ce = token_stats.loss_numpy(logits, targets, mlx_lm_ce=True)
    assert block.mlx_lm_ce is not None and loss_only_ce is not None
    np.testing.assert_array_equal(block.mlx_lm_ce, loss_only_ce)
    assert steps_apart(block.mlx_lm_ce, want).max() <= MAX_STEPS
    assert relative_gap_of_means(block.mlx_lm_ce, want) < 1e-7
    # the order of the sum is what matters: ppltop's pairwise-summed log-probs are further
    # from MLX's than the parity tests allow
    assert relative_gap_of_means(-block.logprob, want) > 1e-6


def test_replayed_cross_entropy_is_mlx_cpu_within_a_few_float32_steps():
    rng = np.random.default_rng(3)
    vocab = 49152
    # peaked rows over a long tail of small terms, as a language model's logits are
    logits = rng.normal(0, 2, (48, vocab)).astype(np.float32)
    logits[np.arange(48), rng.integers(0, vocab, 48)] += 12
    check_replay(mx.array(logits), rng.integers(0, vocab, 48))


def test_only_float32_logits_on_the_cpu_are_replayed():
    logits = mx.zeros((2, 8))
    assert mlx_lm.replays_cpu_ce(logits) == mlx_lm.CPU_SUM_IN_ORDER
    assert not mlx_lm.replays_cpu_ce(logits.astype(mx.bfloat16))
    half = token_stats.compute(logits.astype(mx.float16), np.zeros(2, int), "numpy", True)
    assert half.mlx_lm_ce is None  # MLX reduces in half precision: its own op runs
    assert token_stats.compute(logits, np.zeros(2, int), "mlx", True).mlx_lm_ce is None


def test_on_the_real_model_replayed_cross_entropy_is_mlx_cpu(real_models):
    from ppltop.core.engine.forward import SplitForward
    from ppltop.core.model.loader import ModelHandle

    handle = ModelHandle.load(real_models.f32)
    lines = (REAL_DATA / "text" / "test.jsonl").read_text().splitlines()
    ids = handle.tokenizer.encode(" ".join(json.loads(x)["text"] for x in lines))[:257]
    inputs = mx.array(np.array([ids], np.int32))
    project = SplitForward(handle.model).rows(inputs, np.zeros(256, int), np.arange(256))
    check_replay(project(0, 256), np.array(ids[1:]))

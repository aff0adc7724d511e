"""mlx-lm's rules (`core/mlx_lm.py`) on their own: the exact keeping of its cross-entropies,
its padded width, and its arithmetic replayed on hand-made parts."""

from __future__ import annotations

import math
import types

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest

from ppltop.core import mlx_lm
from ppltop.core.mlx_lm import MlxLmPart


def test_parts_keep_mlx_lm_cross_entropy_bit_for_bit():
    rng = np.random.default_rng(0)
    logits = mx.array(rng.normal(0, 4, (64, 5000)).astype(np.float32))
    targets = rng.integers(0, 5000, 64)
    ce = mlx_lm.token_ce(logits, targets)
    x = np.array(logits, dtype=np.float64)
    logprob = (x[np.arange(64), targets] - np.log(np.exp(x).sum(1))).astype(np.float32)
    part = MlxLmPart.of(ce, logprob, 1.5)
    assert part.delta.dtype == np.int16
    assert part.ce(logprob).tobytes() == ce.tobytes()
    # values that differ in sign, or far apart, fall back to float32, still exact
    odd = np.array([-1e-7, 0.0, 3.0, np.inf], np.float32)
    far = MlxLmPart.of(odd, np.array([1e-7, -0.0, -1.0, -1.0], np.float32), 0.0)
    assert far.delta.dtype == np.float32 and far.ce(None).tobytes() == odd.tobytes()
    near_zero = MlxLmPart.of(np.array([-1e-9, 2e-9], np.float32),
                             np.array([-1e-9, 1e-9], np.float32), 0.0)
    assert near_zero.ce(np.array([-1e-9, 1e-9], np.float32)).tolist() == pytest.approx(
        [-1e-9, 2e-9])


def test_padded_width_is_one_plus_a_multiple_of_32_capped():
    assert mlx_lm.padded_width(10, 2048) == 33
    assert mlx_lm.padded_width(32, 2048) == 33
    assert mlx_lm.padded_width(33, 2048) == 65
    assert mlx_lm.padded_width(100, 50) == 50


def _example(index, n, offset=0):
    return types.SimpleNamespace(index=index, tokens=np.zeros(n, np.int32), offset=offset)


def _result(ce, phantom):
    ce = np.asarray(ce, np.float32)
    return types.SimpleNamespace(mlx_lm=MlxLmPart(ce, phantom), logprob=-ce)


def test_figure_replays_default_loss_and_evaluate_on_one_batch():
    """Two records of 3 and 5 tokens, batch size 2: width 33, so both rows get a phantom;
    mlx-lm's loss is the float32 masked sum over the grid divided by the count."""
    examples = [_example(0, 3), _example(1, 5, offset=2), _example(2, 4)]
    results = {0: _result([1.0, 2.0], 7.0), 1: _result([3.0, 4.0, 5.0], 9.0),
               2: _result([1.0, 1.0, 1.0], 1.0)}
    cfg = types.SimpleNamespace(batch_size=2, test_batches=-1, seed=0, max_seq_length=2048)
    got = mlx_lm.figure(examples, results, cfg)
    grid = mx.zeros((2, 32))
    ce = mx.array([[1.0, 2.0, 7.0] + [0] * 29, [0, 3.0, 4.0, 5.0, 9.0] + [0] * 27])
    steps = mx.arange(1, 33)
    lengths = mx.array([[0, 3], [2, 5]])
    mask = mx.logical_and(steps >= lengths[:, 0:1], steps <= lengths[:, 1:])
    want = ((grid + ce) * mask).astype(mx.float32).sum() / mask.sum()
    assert got.loss == want.item() and got.tokens == 7 and got.pad_targets == 2
    assert got.dropped_examples == 1 and got.dropped_tokens == 3
    assert got.line == f"Test loss {want.item():.3f}, Test ppl {math.exp(want.item()):.3f}."


def test_ranks_pad_their_own_rows_and_all_sum_their_totals():
    """Under mlx.launch -n 2, rank r takes rows r::2 of each batch, pads them to its own
    width and keeps its own float32 total; the totals are summed at the end."""
    examples = [_example(i, n) for i, n in enumerate([40, 3, 7, 5])]
    rng = np.random.default_rng(2)
    results = {e.index: _result(rng.exponential(2, len(e.tokens) - 1), 2.5) for e in examples}
    cfg = types.SimpleNamespace(batch_size=2, test_batches=-1, seed=0, max_seq_length=2048)
    two = mlx_lm.figure(examples, results, cfg, ranks=2)
    totals, counts = [], []
    for rank in range(2):
        total, count = mx.array(0.0), mx.array(0)
        for batch in ([0, 1], [2, 3]):
            i = batch[rank]
            n = len(examples[i].tokens)
            row = np.zeros((1, mlx_lm.padded_width(n, 2048) - 1), np.float32)
            row[0, :n - 1] = results[i].mlx_lm.delta
            row[0, n - 1] = 2.5
            toks = mx.array(n, dtype=mx.int32)
            total = total + (mx.array(row).sum() / toks) * toks
            count = count + toks
        totals.append(total)
        counts.append(count)
    assert two.loss == ((totals[0] + totals[1]) / (counts[0] + counts[1])).item()
    one = mlx_lm.figure(examples, results, cfg)
    assert two.tokens == one.tokens == 39 + 2 + 6 + 4 + 4 and two.ranks == 2
    assert two.loss == pytest.approx(one.loss, rel=1e-6)


def test_cross_entropy_is_mlx_lm_own():
    rng = np.random.default_rng(1)
    logits = mx.array(rng.normal(0, 3, (8, 300)).astype(np.float16))
    targets = rng.integers(0, 300, 8)
    want = nn.losses.cross_entropy(logits, mx.array(targets)).astype(mx.float32)
    assert mlx_lm.token_ce(logits, targets).tobytes() == np.array(want).tobytes()


def test_a_stopped_run_has_no_mlx_lm_figure_until_one_of_its_batches_is_complete():
    """mlx-lm's batches are consecutive records; ppltop's are length-sorted, so a stopped
    run may hold examples of every mlx-lm batch and complete none: then there is no figure
    yet (never NaN), and from the first complete batch on, the figure of those batches."""
    examples = [_example(i, 4 + i) for i in range(6)]
    results = {i: _result([1.0 + i] * (3 + i), 2.0) for i in range(6)}
    cfg = types.SimpleNamespace(batch_size=2, test_batches=-1, seed=0, max_seq_length=2048)
    one_of_each = {i: results[i] for i in (0, 3, 5)}  # one example of each of its 3 batches
    none = mlx_lm.figure(examples, one_of_each, cfg)
    assert none.not_yet == "not yet (no complete mlx-lm batch among the 3 examples scored)"
    assert mlx_lm.present(none) is None and mlx_lm.words(none) == none.not_yet
    assert (none.batches, none.of_batches, none.examples) == (0, 3, 0)
    first = mlx_lm.figure(examples, {**one_of_each, 2: results[2]}, cfg)  # batch [2, 3]
    alone = mlx_lm.figure([_example(0, 6), _example(1, 7)], {0: results[2], 1: results[3]},
                          cfg)  # that batch as a run of its own
    assert mlx_lm.present(first) is first and first.not_yet is None and first.partial
    assert (first.batches, first.of_batches, first.examples) == (1, 3, 2)
    assert first.loss == alone.loss and math.isfinite(first.loss)
    # every view says it covers some of mlx-lm's batches only: no final-looking line
    assert mlx_lm.words(first) == f"{first.line} (partial: 1 of 3 mlx-lm batches)"
    done = mlx_lm.figure(examples, results, cfg)
    assert not done.partial and (done.batches, done.of_batches) == (3, 3)
    assert mlx_lm.words(done) == done.line

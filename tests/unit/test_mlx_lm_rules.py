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


class _Bigram(nn.Module):
    """The smallest real model: each token's logits are a row of one embedding table, so a
    row's cross-entropy does not depend on the rows padded beside it."""

    def __init__(self, vocab: int, dtype, seed: int):
        super().__init__()
        self.table = nn.Embedding(vocab, vocab)
        rng = np.random.default_rng(seed)
        self.table.weight = mx.array(rng.normal(0, 3, (vocab, vocab)).astype(np.float32)
                                     ).astype(dtype)

    def __call__(self, inputs):
        return self.table(inputs)


def _scored_alone(model, examples, max_seq_length):
    """ppltop's side: each example run through the model on its own, unpadded, its targets'
    cross-entropies from `token_ce`, kept as an `MlxLmPart` against float64 log-probs."""
    results = {}
    for e in examples:
        length = min(len(e.tokens), max_seq_length)
        logits = model(mx.array(e.tokens[:length])[None])[0]
        targets = np.append(e.tokens[1:length], 0)  # the last row predicts pad id 0
        ce = mlx_lm.token_ce(logits, targets)
        x = np.array(logits.astype(mx.float32), dtype=np.float64)
        logprob = (x[np.arange(length), targets] - np.log(np.exp(x).sum(1))).astype(np.float32)
        first = max(1, e.offset)
        results[e.index] = types.SimpleNamespace(
            mlx_lm=MlxLmPart.of(ce[first - 1:length - 1], logprob[first - 1:length - 1],
                                float(ce[length - 1])),
            logprob=logprob[first - 1:length - 1])
    return results


class _Records(list):
    """Records as mlx-lm's datasets hold them: raw dicts, made (tokens, offset) on access."""

    def process(self, record):
        return record["tokens"], record["offset"]


def _mlx_lm_evaluate(model, examples, batch_size, max_seq_length):
    """mlx-lm's side: its own `evaluate()` over the same records in its `CacheDataset`."""
    from mlx_lm.tuner.datasets import CacheDataset
    from mlx_lm.tuner.trainer import evaluate

    records = _Records({"tokens": e.tokens.tolist(), "offset": e.offset} for e in examples)
    np.random.seed(0)
    return evaluate(model, CacheDataset(records), batch_size, -1,
                    max_seq_length=max_seq_length)


def _records(lengths, offsets=None, vocab=50, seed=3):
    rng = np.random.default_rng(seed)
    offsets = offsets or [0] * len(lengths)
    return [types.SimpleNamespace(index=i, tokens=rng.integers(1, vocab, n).astype(np.int32),
                                  offset=o) for i, (n, o) in enumerate(zip(lengths, offsets))]


@pytest.mark.parametrize("dtype", [mx.float32, mx.float16, mx.bfloat16])
def test_one_batch_figure_is_mlx_lm_evaluate_bit_for_bit(dtype):
    """One batch of four rows: a prompt masked (offset 3), a row truncated to
    --max-seq-length 64 (no phantom target: it fills the padded width), the others each
    with the phantom prediction of pad id 0. Per-token cross-entropies from `token_ce` on
    each example alone, replayed by `figure`, give mlx-lm's own `evaluate()` exactly."""
    model = _Bigram(50, dtype, seed=1)
    examples = _records([5, 12, 40, 70], offsets=[0, 3, 0, 0])
    cfg = types.SimpleNamespace(batch_size=4, test_batches=-1, seed=0, max_seq_length=64)
    got = mlx_lm.figure(examples, _scored_alone(model, examples, 64), cfg)
    assert got.loss == _mlx_lm_evaluate(model, examples, 4, 64)
    # targets by hand: every token after the first (after the prompt), truncated at 64,
    # plus one phantom per row shorter than its padded width min(1 + 32 * 3, 64) = 64
    assert got.tokens == 4 + 9 + 39 + 63 + 3 and got.pad_targets == 3
    assert got.examples == 4 and got.dropped_examples == 0
    assert got.line == f"Test loss {got.loss:.3f}, Test ppl {math.exp(got.loss):.3f}."


def test_several_batches_and_the_records_mlx_lm_leaves_out_match_its_evaluate():
    """Seven records, batch size 2: three batches of consecutive records, the seventh never
    scored (mlx-lm drops the last n % batch_size). The float32 total may add the batches in
    another order than mlx-lm's shuffled one: equal to its rounding."""
    model = _Bigram(50, mx.float32, seed=2)
    # the fourth record, 32 tokens, fills its batch's width of 33 but for its phantom
    examples = _records([3, 8, 20, 32, 34, 60, 9], offsets=[0, 0, 2, 0, 0, 0, 0])
    cfg = types.SimpleNamespace(batch_size=2, test_batches=-1, seed=0, max_seq_length=2048)
    got = mlx_lm.figure(examples, _scored_alone(model, examples, 2048), cfg)
    assert got.loss == pytest.approx(_mlx_lm_evaluate(model, examples, 2, 2048), rel=1e-6)
    assert (got.batches, got.of_batches, got.examples) == (3, 3, 6)
    assert got.dropped_examples == 1 and got.dropped_tokens == 8  # the seventh's 8 targets
    # targets after the first token (the third record's after its prompt of 2), and a
    # phantom per row
    assert got.tokens == (2 + 7) + (18 + 31) + (33 + 59) + 6 and got.pad_targets == 6


def test_ranks_pad_their_own_rows_and_all_sum_their_totals():
    """Under mlx.launch -n 2, rank r takes rows r::2 of each batch. With cross-entropies
    that float32 adds exactly (1 per target, 2.5 per phantom), the figure is the known mean
    whatever the order: 51 targets and 4 phantoms, (51 + 10) / 55."""
    examples = [_example(i, n) for i, n in enumerate([40, 3, 7, 5])]
    results = {e.index: _result(np.ones(len(e.tokens) - 1), 2.5) for e in examples}
    cfg = types.SimpleNamespace(batch_size=2, test_batches=-1, seed=0, max_seq_length=2048)
    two = mlx_lm.figure(examples, results, cfg, ranks=2)
    assert two.loss == pytest.approx(61 / 55, rel=1e-7)
    assert (two.tokens, two.pad_targets, two.ranks) == (55, 4, 2)
    one = mlx_lm.figure(examples, results, cfg)
    assert (one.tokens, one.pad_targets) == (55, 4)
    assert one.loss == pytest.approx(61 / 55, rel=1e-7)


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

"""Per-token statistics and run statistics, checked against direct computations."""

from __future__ import annotations

import json
import math

import mlx.core as mx
import numpy as np
import pytest

from ppltop import demo
from ppltop.core.config import EvalConfig
from ppltop.core.engine import token_stats
from ppltop.core.engine.evaluation import Evaluation
from ppltop.core.figures.stats import clustered_mean, ppl_interval
from ppltop.core.store.events import BatchScored


def run(handle, **kw):
    kw.setdefault("data", demo.DATA_DIR / "test.jsonl")
    evaluation = Evaluation(EvalConfig(model=demo.MODEL_DIR, **kw), handle)
    events = list(evaluation.events())
    results = {r.example: r for e in events if isinstance(e, BatchScored) for r in e.results}
    return evaluation, results, events[-1].summaries[0]


def test_token_stats_agree_with_log_softmax_and_a_full_sort():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(37, 501)).astype(np.float32) * 3
    targets = rng.integers(0, 501, size=37)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    for backend in ("numpy", "mlx"):
        s = token_stats.compute(mx.array(logits), targets, backend)
        np.testing.assert_allclose(s.logprob, logp[np.arange(37), targets], atol=1e-4)
        np.testing.assert_allclose(s.entropy, -(np.exp(logp) * logp).sum(1), atol=1e-4)
        order = np.argsort(-logits, axis=1)
        np.testing.assert_array_equal(s.top_ids, order[:, :5])
        np.testing.assert_allclose(s.top_logprobs, np.take_along_axis(logp, order[:, :5], 1),
                                   atol=1e-4)
        want_rank = np.argmax(order == targets[:, None], axis=1) + 1
        np.testing.assert_array_equal(s.rank, want_rank)


def test_per_token_logprobs_equal_the_models_own_log_softmax(handle):
    evaluation, results, _ = run(handle)
    example = evaluation.split.examples[5]
    r = results[5]
    logits = handle.model(mx.array(example.tokens[None]))[0].astype(mx.float32)
    logp = np.array(logits - mx.logsumexp(logits, axis=-1, keepdims=True))
    want = logp[r.positions - 1, example.tokens[r.positions]]
    np.testing.assert_allclose(r.logprob, want, atol=2e-4)
    assert r.rank.min() >= 1 and (r.top_ids[:, 0] == np.argmax(logp[r.positions - 1], 1)).all()


def test_chunked_projection_gives_the_same_figures(handle):
    _, big, s_big = run(handle)
    _, small, s_small = run(handle, logits_budget_mb=1)
    assert s_small.loss == pytest.approx(s_big.loss, rel=1e-6)
    np.testing.assert_allclose(small[3].entropy, big[3].entropy, rtol=1e-5)


def test_ppl_is_exp_loss_and_the_interval_brackets_it(handle):
    _, results, s = run(handle)
    assert s.ppl == pytest.approx(math.exp(s.loss))
    assert s.ppl_ci95[0] < s.ppl < s.ppl_ci95[1]
    assert s.bits_per_token == pytest.approx(s.loss / math.log(2))
    total = sum(-r.logprob.astype(np.float64).sum() for r in results.values())
    assert s.tokens == sum(r.n_tokens for r in results.values())
    assert s.loss == pytest.approx(total / s.tokens)


def test_bits_per_byte_counts_the_utf8_bytes_of_the_scored_text(handle):
    """Each record's own bytes: the demo's targets are every token after BOS, and its
    byte-level tokens hold the text's bytes exactly (BOS and EOS count none)."""
    evaluation, results, s = run(handle)
    records = [json.loads(line) for line in evaluation.split.path.read_text().splitlines()
               if line.strip()]
    n_bytes = sum(len(r["text"].encode("utf-8")) for r in records)
    total_bits = sum(-r.logprob.astype(np.float64).sum() for r in results.values()) / math.log(2)
    assert s.bits_per_byte == pytest.approx(total_bits / n_bytes, rel=1e-6)


def test_clustered_mean_and_error_of_a_small_example_worked_by_hand():
    """Four examples: 57 nats over 24 tokens. Residuals s_i - mean * n_i are -1.875, 6.25,
    -6.875 and 2.5; their squares add to 96.09375, times m/(m-1) = 4/3 that is 128.125, so
    the standard error is sqrt(128.125) / 24 nats."""
    mean, se = clustered_mean(np.array([10.0, 30.0, 5.0, 12.0]), np.array([5, 10, 5, 4]))
    assert mean == 2.375
    assert se == pytest.approx(0.4716346, abs=1e-7)
    lo, hi = ppl_interval(mean, se)
    assert (lo, hi) == pytest.approx((4.26573, 27.09602), abs=1e-5)  # exp(2.375 -+ 0.92440)


def test_the_ppl_interval_covers_the_true_ppl_95_times_in_100_on_clustered_data():
    """2,000 simulated test sets of 40 examples whose tokens share their example's
    difficulty (tokens of one example are not independent): the true loss per token is 2,
    and the interval of each set covers exp(2) in about 95% of them; its standard error is
    the spread the estimate really has across the sets."""
    rng = np.random.default_rng(7)
    sets, examples, true_loss = 2000, 40, 2.0
    estimates, errors, covered = [], [], 0
    for _ in range(sets):
        counts = rng.integers(5, 61, examples)
        difficulty = true_loss + rng.normal(0, 0.6, examples)
        sums = np.array([rng.normal(d, 1.0, n).sum() for d, n in zip(difficulty, counts)])
        mean, se = clustered_mean(sums, counts)
        lo, hi = ppl_interval(mean, se)
        covered += lo <= math.exp(true_loss) <= hi
        estimates.append(mean)
        errors.append(se)
    assert 0.93 <= covered / sets <= 0.965, covered / sets
    assert np.median(errors) == pytest.approx(np.std(estimates), rel=0.1)


def test_clustered_error_is_larger_than_naive_when_examples_differ():
    # two clusters of very different difficulty: the per-token SE understates the spread
    sums = np.array([100.0, 400.0, 110.0, 390.0])
    counts = np.array([100, 100, 100, 100])
    _, se = clustered_mean(sums, counts)
    assert se > 0.5


def test_loss_only_path_gives_the_same_loss(handle):
    _, _, full = run(handle)
    _, _, lean = run(handle, per_token=False)
    assert lean.loss == pytest.approx(full.loss, rel=1e-6)


def test_per_token_storage_fits_32_bytes_and_keeps_what_is_shown(handle):
    """Demo vocabulary (1,024 ids): 32 bytes/token; log-probs stay float32 (the figures
    are their sums), entropy and alternatives float16 within display precision, mlx-lm's
    cross-entropy as int16 float32 steps from the log-prob."""
    from ppltop.core.figures.results import compact, id_dtype

    evaluation, results, summary = run(handle)
    stored = sum(r.nbytes_stored() for r in results.values())
    tokens = sum(r.n_tokens for r in results.values())
    assert all(r.mlx_lm.delta.dtype == np.int16 for r in results.values())
    assert stored / tokens == 32
    r = results[5]
    assert r.logprob.dtype == np.float32 and r.targets.dtype == np.uint16
    example = evaluation.split.examples[5]
    np.testing.assert_array_equal(r.targets, example.tokens[r.positions])
    assert summary.loss == pytest.approx(
        -sum(float(x.logprob.astype(np.float64).sum()) for x in results.values()) / tokens)
    # a 262k vocabulary needs 4-byte ids; ids and ranks survive the round trip exactly
    assert id_dtype(65535) == np.uint16 and id_dtype(65536) == np.int32
    rng = np.random.default_rng(1)
    block = token_stats.StatsBlock(
        -rng.exponential(3, 8).astype(np.float32), rng.exponential(3, 8).astype(np.float32),
        rng.integers(1, 262144, 8).astype(np.int32), rng.integers(0, 262144, (8, 5)),
        -rng.exponential(3, (8, 5)).astype(np.float32))
    big = compact(block, rng.integers(0, 262144, 8), 262144)
    np.testing.assert_array_equal(big["top_ids"], block.top_ids)
    np.testing.assert_array_equal(big["rank"], block.rank)
    np.testing.assert_allclose(big["entropy"], block.entropy, rtol=1e-3)
    assert sum(a.nbytes for a in big.values()) / 8 == 44

"""Aggregations behind the surprisal viewer, against direct computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ppltop.view.surprisal import SurprisalIndex, rank_bucket
from support.synthetic import example_result


@pytest.fixture
def index():
    rng = np.random.default_rng(3)
    idx = SurprisalIndex()
    for i in range(50):
        n = int(rng.integers(3, 40))
        idx.add(example_result(i, -rng.exponential(2.0, n), rng.integers(0, 20, n)))
    return idx


def test_examples_sort_by_every_column(index):
    for column in ("tokens", "mean_loss", "total_loss", "worst_bits"):
        order = index.example_order(column, descending=True)
        rows = index.example_rows(order, 0, len(order))
        values = [getattr(r, column) for r in rows]
        assert values == sorted(values, reverse=True)
        assert len(rows) == 50
    rows = index.example_rows(index.example_order("index"), 10, 5)
    assert [r.index for r in rows] == [10, 11, 12, 13, 14]


def test_example_row_figures(index):
    r = index.results[7]
    row = index.example_rows(index.example_order("index"), 7, 1)[0]
    assert row.tokens == r.n_tokens
    assert row.total_loss == pytest.approx(-r.logprob.astype(np.float64).sum())
    assert row.mean_loss == pytest.approx(row.total_loss / r.n_tokens)
    worst = np.argmin(r.logprob)
    assert row.worst_bits == pytest.approx(-r.logprob[worst] / math.log(2), rel=1e-6)
    assert row.worst_position == r.positions[worst]


def test_filter_keeps_only_allowed_examples(index):
    order = index.example_order("mean_loss", allowed=np.array([3, 9, 40]))
    assert sorted(r.index for r in index.example_rows(order, 0, 10)) == [3, 9, 40]


def test_worst_tokens_are_the_global_maxima(index):
    hits = index.worst_tokens(10)
    every = sorted(((-r.logprob[j] / math.log(2), r.example, int(r.positions[j]))
                    for r in index.results.values() for j in range(r.n_tokens)), reverse=True)
    assert [(h.example, h.position) for h in hits] == [(e, p) for _, e, p in every[:10]]


def test_by_token_aggregates(index):
    agg = {a.token_id: a for a in index.by_token(count=100)}
    for token in (0, 5, 19):
        bits = [-r.logprob[j] / math.log(2) for r in index.results.values()
                for j in range(r.n_tokens) if r.targets[j] == token]
        assert agg[token].count == len(bits)
        assert agg[token].mean_bits == pytest.approx(np.mean(bits), rel=1e-5)
        assert agg[token].total_loss == pytest.approx(sum(bits) * math.log(2), rel=1e-5)
    totals = [a.total_loss for a in index.by_token(count=100)]
    assert totals == sorted(totals, reverse=True)


def test_next_above_threshold_and_rank_buckets():
    idx = SurprisalIndex()
    idx.add(example_result(0, [-0.1, -5.0, -0.2, -6.0, -0.1], [1, 2, 3, 4, 5]))
    threshold = 4 / math.log(2)
    assert idx.next_above(0, 0, threshold) == 2
    assert idx.next_above(0, 2, threshold) == 4
    assert idx.next_above(0, 4, threshold) is None
    assert idx.next_above(0, 4, threshold, forward=False) == 2
    np.testing.assert_array_equal(rank_bucket(np.array([1, 10, 11, 100, 101, 1000, 1001])),
                                  [0, 0, 1, 1, 2, 2, 3])


def test_histograms_count_everything(index):
    (tok_counts, _), (ex_counts, _) = index.histograms(bins=10)
    assert tok_counts.sum() == index.n_tokens and ex_counts.sum() == 50

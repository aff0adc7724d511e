"""Rankings of exact ties list the same rows on every machine: ties by example, then position.

numpy's partition and sort kernels differ by CPU (AVX-512 or not), so these tests rank data
made of exact ties and check the order against the stable key itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from ppltop.core.figures.compare import example_deltas, token_deltas
from ppltop.core.figures.ranking import top_k
from ppltop.core.figures.results import ExampleResult
from ppltop.core.mlx_lm import MlxLmPart
from ppltop.view.surprisal import SurprisalIndex


def result(index, logprob, targets) -> ExampleResult:
    n = len(logprob)
    return ExampleResult(index, 1, np.asarray(targets, np.int32), np.asarray(logprob, np.float32),
                         np.ones(n, np.float32), np.arange(1, n + 1, dtype=np.int32),
                         np.zeros((n, 5), np.int32), np.zeros((n, 5), np.float32), n, 0,
                         MlxLmPart(np.zeros(n, np.int16), 0.0))


def by_stable_key(key, ties, k):
    rows = sorted(range(len(key)), key=lambda i: (key[i], *(t[i] for t in ties), i))
    return rows[:k]


@pytest.mark.parametrize("seed", range(20))
def test_top_k_orders_ties_by_the_stable_key(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    key = rng.integers(0, 3, n).astype(np.float64)      # nothing but ties
    example = rng.integers(0, 40, n)
    position = rng.integers(0, 500, n)
    for k in (1, 7, 100, n):
        got = top_k(key, k, ties=(example, position)).tolist()
        assert got == by_stable_key(key, (example, position), k)


def test_top_k_puts_nan_last_and_handles_k_past_the_end():
    assert top_k(np.array([np.nan, 1.0, 1.0, 0.0]), 10).tolist() == [3, 1, 2, 0]
    assert top_k(np.array([]), 5).tolist() == []


def tied_results(order):
    # every token has the same surprisal: only the tie-break decides the ranking
    return {i: result(i, np.full(30, -2.0), np.arange(30) % 7) for i in order}


def test_worst_tokens_of_tied_surprisals_come_by_example_then_position():
    index = SurprisalIndex()
    for r in tied_results([5, 2, 9, 0, 7, 1, 3, 8, 6, 4]).values():
        index.add(r)
    hits = index.worst_tokens(45)
    assert [(h.example, h.position) for h in hits] == \
        [(e, p) for e in range(10) for p in range(1, 31)][:45]


def test_token_and_example_deltas_of_ties_come_by_example_then_position():
    reference = tied_results(range(10))
    candidate = {i: result(i, np.full(30, -1.0), np.arange(30) % 7) for i in range(10)}
    for improved in (True, False):
        top = token_deltas(candidate, reference, 45, improved=improved)
        assert [(t.example, t.position) for t in top] == \
            [(e, p) for e in range(10) for p in range(1, 31)][:45]
    assert [e for e, _ in example_deltas(candidate, reference)] == list(range(10))

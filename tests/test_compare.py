"""Paired comparison statistics against direct computations on known data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_surprisal_index import result

from ppltop.core.figures.compare import compare, example_deltas, paired_bootstrap, token_deltas


def runs(rng, m=200, shift=0.0, noise=0.0):
    ref, cand = {}, {}
    for i in range(m):
        n = int(rng.integers(5, 30))
        base = -rng.exponential(2.0, n)
        ref[i] = result(i, base, rng.integers(0, 50, n))
        delta = -shift + noise * rng.standard_normal(n)
        cand[i] = result(i, base - delta, ref[i].targets)
    return cand, ref


def test_a_constant_shift_is_found_exactly():
    cand, ref = runs(np.random.default_rng(0), shift=0.25)
    c = compare("a", cand, "base", ref)
    assert c.delta_loss == pytest.approx(-0.25, abs=1e-5)
    assert c.delta_ci95[0] == pytest.approx(-0.25, abs=1e-5)
    assert c.delta_ci95[1] == pytest.approx(-0.25, abs=1e-5)
    assert c.significant and c.win_share == 1.0
    assert c.delta_ppl == pytest.approx(math.exp(c.loss) - math.exp(c.reference_loss))


def test_pure_noise_is_not_significant_and_the_interval_matches_the_paired_se():
    cand, ref = runs(np.random.default_rng(1), m=400, noise=1.0)
    c = compare("a", cand, "base", ref)
    assert c.delta_ci95[0] < 0 < c.delta_ci95[1] and not c.significant
    # direct computation: clustered SE of the per-example difference (ratio estimator)
    d = np.array([cand[i].loss_sum - ref[i].loss_sum for i in ref])
    n = np.array([ref[i].n_tokens for i in ref], dtype=float)
    mean = d.sum() / n.sum()
    se = math.sqrt(len(n) / (len(n) - 1) * ((d - mean * n) ** 2).sum()) / n.sum()
    width = c.delta_ci95[1] - c.delta_ci95[0]
    assert width == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert 0.3 < c.win_share < 0.7


def test_bootstrap_uses_the_same_examples_on_both_sides():
    # every example has the same difference, but very different difficulty: an unpaired
    # bootstrap would give a wide interval, the paired one gives none
    s_r = np.array([10.0, 500.0, 40.0, 900.0])
    n = np.array([10.0, 100.0, 20.0, 150.0])
    lo, hi = paired_bootstrap(s_r - 0.1 * n, s_r, n)
    assert lo == pytest.approx(-0.1) and hi == pytest.approx(-0.1)


def test_token_and_example_deltas():
    ref = {0: result(0, [-1.0, -1.0, -1.0], [1, 2, 3]), 1: result(1, [-2.0, -2.0], [4, 5])}
    cand = {0: result(0, [-0.5, -3.0, -1.0], [1, 2, 3]), 1: result(1, [-2.0, -1.0], [4, 5])}
    improved = token_deltas(cand, ref, count=2, improved=True)
    assert [(t.example, t.position) for t in improved] == [(1, 2), (0, 1)]
    assert improved[0].delta_bits == pytest.approx(-1 / math.log(2))
    hurt = token_deltas(cand, ref, count=1, improved=False)
    assert (hurt[0].example, hurt[0].position) == (0, 2)
    assert hurt[0].delta_bits == pytest.approx(2 / math.log(2))
    deltas = dict(example_deltas(cand, ref))
    assert deltas[0] == pytest.approx((0.5 + 3.0 + 1.0) / 3 - 1.0)
    assert deltas[1] == pytest.approx(-0.5)

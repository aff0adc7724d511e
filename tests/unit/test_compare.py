"""Paired comparison statistics against direct computations on known data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ppltop.core.figures.compare import compare, example_deltas, paired_bootstrap, token_deltas
from support.synthetic import example_result


def runs(rng, m=200, shift=0.0, noise=0.0):
    ref, cand = {}, {}
    for i in range(m):
        n = int(rng.integers(5, 30))
        base = -rng.exponential(2.0, n)
        ref[i] = example_result(i, base, rng.integers(0, 50, n))
        delta = -shift + noise * rng.standard_normal(n)
        cand[i] = example_result(i, base - delta, ref[i].targets)
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
    ref = {0: example_result(0, [-1.0, -1.0, -1.0], [1, 2, 3]),
           1: example_result(1, [-2.0, -2.0], [4, 5])}
    cand = {0: example_result(0, [-0.5, -3.0, -1.0], [1, 2, 3]),
            1: example_result(1, [-2.0, -1.0], [4, 5])}
    improved = token_deltas(cand, ref, count=2, improved=True)
    assert [(t.example, t.position) for t in improved] == [(1, 2), (0, 1)]
    assert improved[0].delta_bits == pytest.approx(-1 / math.log(2))
    hurt = token_deltas(cand, ref, count=1, improved=False)
    assert (hurt[0].example, hurt[0].position) == (0, 2)
    assert hurt[0].delta_bits == pytest.approx(2 / math.log(2))
    deltas = dict(example_deltas(cand, ref))
    assert deltas[0] == pytest.approx((0.5 + 3.0 + 1.0) / 3 - 1.0)
    assert deltas[1] == pytest.approx(-0.5)


def test_a_finished_run_and_a_stopped_one_are_compared_over_their_common_examples():
    """The finished run scored 200 examples, the stopped one (the same model) 80: each
    label's figures and every paired Δ are over those 80, said `over 80 common examples`;
    the same model on the same examples is an exact tie, an adapter a real difference."""
    from ppltop.core.figures.common import common_figures
    from ppltop.core.figures.stats import clustered_mean

    cand, ref = runs(np.random.default_rng(4), shift=0.1, noise=0.3)
    stopped = {i: ref[i] for i in range(80)}
    results = {"a:base": ref, "a:net": cand, "b:base": stopped}
    common = common_figures(results)
    assert common.examples == 80 and common.basis == "over 80 common examples"
    for label, own in results.items():
        sums = [own[i].loss_sum for i in range(80)]
        counts = [own[i].n_tokens for i in range(80)]
        loss, se = clustered_mean(np.array(sums), np.array(counts))
        figures = common.figures[label]
        assert (figures.loss, figures.stderr, figures.examples) == (loss, se, 80)
        assert figures.bits_per_byte == pytest.approx(sum(sums) / math.log(2) / sum(counts))
    assert common.figures["a:base"] == common.figures["b:base"]  # not 200 against 80
    found = {c.label: c for c in common.comparisons(list(results), "a:base")}
    tie, net = found["b:base"], found["a:net"]
    assert (tie.examples, tie.delta_loss, tie.delta_ci95) == (80, 0.0, (0.0, 0.0))
    assert net.examples == 80
    assert net.delta_loss == pytest.approx(common.figures["a:net"].loss
                                           - common.figures["a:base"].loss)
    direct = compare("a:net", {i: cand[i] for i in range(80)}, "a:base", stopped)
    assert net.delta_ci95 == direct.delta_ci95


def test_labels_on_the_same_examples_keep_their_own_figures():
    from ppltop.core.figures.common import common_figures

    cand, ref = runs(np.random.default_rng(5))
    assert common_figures({"base": ref, "a": cand}) is None
    assert common_figures({"base": ref, "a": cand, "just-added": {}}) is None

"""Models of different tokenizers per example in bits per byte: which examples count, and
Δ bits/byte weighted by the reference's bytes, checked against the arithmetic written out."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from ppltop.core.figures.byte_compare import across_reference, byte_rows, example_bits_per_byte
from support.synthetic import _summary, example_result


def _example(index: int, nats: list[float], n_bytes: int):
    return replace(example_result(index, [-x for x in nats], [1] * len(nats)),
                   n_bytes=n_bytes)


REFERENCE = {0: _example(0, [1.0, 2.0], 6), 1: _example(1, [0.5], 2),
             2: _example(2, [math.inf], 3),  # non-finite: left out
             3: _example(3, [1.0], 0)}  # no byte (a special token): left out
CANDIDATE = {0: _example(0, [2.0, 2.0, 1.0], 6), 1: _example(1, [0.2, 0.2], 4),
             2: _example(2, [1.0], 3), 3: _example(3, [1.0], 1)}


def test_examples_without_bytes_or_with_a_non_finite_loss_have_no_bits_per_byte():
    got = example_bits_per_byte(REFERENCE)
    assert list(got) == [0, 1]
    assert got[0] == pytest.approx(3.0 / math.log(2) / 6)


def test_rows_pair_the_examples_both_sides_scored_weighted_by_the_references_bytes():
    parts = {"ref": ([replace(_summary(0, "ref"), bits_per_byte=1.25)], {"ref": REFERENCE}),
             "cand": ([replace(_summary(0, "cand"), bits_per_byte=1.5)], {"cand": CANDIDATE})}
    ref, cand = byte_rows(parts, "ref")
    assert (ref.reference, ref.examples, ref.bits_per_byte) == (True, 2, 1.25)
    assert (cand.reference, cand.examples, cand.bits_per_byte) == (False, 2, 1.5)
    # by hand: each side's own bits/byte per example, weighted by the reference's bytes
    # (to float32's precision: the log-probs are float32)
    ln2 = math.log(2)
    mine = np.array([5.0 / ln2 / 6, 0.4 / ln2 / 4])
    theirs = np.array([3.0 / ln2 / 6, 0.5 / ln2 / 2])
    weights = np.array([6.0, 2.0])
    assert cand.delta == pytest.approx(float(((mine - theirs) * weights).sum() / 8), rel=1e-6)
    assert cand.win_share == 0.5  # example 1 is better under the candidate, example 0 worse
    assert cand.part == "cand" and ref.part == "ref"


def test_the_reference_is_the_one_given_else_the_first_label_and_none_before_it_is_scored():


    assert across_reference(None, ["a", "b", "c"]) == "a"
    assert across_reference("c", ["a", "b", "c"]) == "c"
    assert across_reference("c", ["a", "b"]) is None  # its tokenizer's part not scored yet
    assert across_reference(None, []) is None

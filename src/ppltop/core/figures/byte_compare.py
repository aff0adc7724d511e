"""Models of different tokenizers compared per example, in bits per byte.

Their tokens differ, so nothing pairs token by token; every example is the same bytes for
both, so each example's bits per byte pairs. Without a BOS token the first token is not
scored, and the two tokenizers' first tokens cover different bytes: each side is therefore
normalized to its own bits per byte per example, and both are weighted by the reference's
scored bytes. Δ bits/byte and its paired interval come from the one comparison function
(`compare.paired_comparison`), as every Δ of ppltop does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .compare import Comparison, paired_comparison
from .results import ExampleResult
from .stats import finite_or_none

if TYPE_CHECKING:
    from .summary import RunSummary

LN2 = math.log(2)


def example_bits_per_byte(results: dict[int, ExampleResult]) -> dict[int, float]:
    """Each scored example's surprisal in bits per UTF-8 byte of its scored targets (the
    examples with no byte, or a non-finite loss, left out)."""
    return {i: r.loss_sum / LN2 / r.n_bytes for i, r in sorted(results.items())
            if r.n_bytes and r.finite}


def across_reference(wanted: str | None, labels: list[str]) -> str | None:
    """The label every part is compared with, among `labels` (every started part's, in
    order): `--reference` (`wanted`), else the first part's first; None while it has not
    been scored."""
    if wanted is None:
        return labels[0] if labels else None
    return wanted if wanted in labels else None


def byte_arrays(candidate: dict[int, ExampleResult], reference: dict[int, ExampleResult]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(candidate's bits, reference's bits, reference's bytes) per example both scored, the
    candidate's bits scaled to the reference's bytes (its own bits/byte times them)."""
    mine, theirs = example_bits_per_byte(candidate), example_bits_per_byte(reference)
    common = sorted(set(mine) & set(theirs))
    n = np.array([reference[i].n_bytes for i in common], dtype=np.float64)
    s_c = np.array([mine[i] for i in common], dtype=np.float64) * n
    s_r = np.array([theirs[i] for i in common], dtype=np.float64) * n
    return s_c, s_r, n


def compare_bytes(label: str, candidate: dict[int, ExampleResult], reference_label: str,
                  reference: dict[int, ExampleResult]) -> Comparison:
    """`label` against the reference in bits per byte: `loss` and `reference_loss` are
    bits/byte, `delta_loss` Δ bits/byte with its paired interval; no PPL, no KL (the
    tokens differ)."""
    c = paired_comparison(label, reference_label, *byte_arrays(candidate, reference))
    return replace(c, delta_ppl=math.nan, ppl_ratio=math.nan)


@dataclass(frozen=True)
class ByteRow:
    """One label of a run over several tokenizers, against the reference in bits/byte."""

    label: str
    part: str
    """The run set's part it was scored in (its tokenizer's first model)."""
    reference: bool
    examples: int
    """Examples paired with the reference (the reference's: those with a bits/byte)."""
    bits_per_byte: float
    """Its own figure over everything it scored (`RunSummary.bits_per_byte`)."""
    delta: float
    """Δ bits/byte over the paired examples, weighted by the reference's bytes."""
    delta_ci95: tuple[float, float]
    significant: bool
    win_share: float

    def to_dict(self) -> dict[str, Any]:
        out = {**self.__dict__, "delta_ci95": list(self.delta_ci95)}
        finite: dict[str, Any] = finite_or_none(out)
        return finite


def byte_rows(parts: dict[str, tuple[list[RunSummary], dict[str, dict[int, ExampleResult]]]],
              reference: str) -> list[ByteRow]:
    """A row per label of every part ({part: (summaries, results by label)}), in order;
    `reference` is a label of one of them."""
    results = {label: r for _, by_label in parts.values() for label, r in by_label.items()}
    rows = []
    for part, (summaries, _) in parts.items():
        for s in summaries:
            if s.label == reference:
                rows.append(ByteRow(s.label, part, True,
                                    len(example_bits_per_byte(results[s.label])),
                                    s.bits_per_byte, 0.0, (0.0, 0.0), False, math.nan))
                continue
            c = compare_bytes(s.label, results[s.label], reference, results[reference])
            rows.append(ByteRow(s.label, part, False, c.examples, s.bits_per_byte,
                                c.delta_loss, c.delta_ci95, c.significant, c.win_share))
    return rows

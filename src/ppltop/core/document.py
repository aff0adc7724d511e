"""One example laid out for the token viewer: every token, whether it counts, and its numbers.

Arrays are aligned with the example's tokens (NaN / -1 where a token is not scored), so
the viewer looks up any position in O(1) and never holds a Python object per statistic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .data import Example
from .results import ExampleResult
from .surprisal import rank_bucket

LN2 = math.log(2)

# Why a token does not count toward the loss (or that it does).
SCORED, FIRST, PROMPT, TRUNCATED, PENDING = "scored", "first", "prompt", "truncated", "pending"


@dataclass
class Document:
    example: Example
    pieces: list[str]
    """Display text of each token."""
    kind: list[str]
    """Per token: scored, first (nothing predicts it), prompt, truncated, or pending."""
    special: np.ndarray
    """bool per token: a special token of the tokenizer (chat markers, EOS)."""
    bits: np.ndarray
    """float32 per token: surprisal in bits, NaN if not scored."""
    entropy_bits: np.ndarray
    rank: np.ndarray
    """int32 per token, -1 if not scored."""
    row: np.ndarray
    """int32 per token: index into the result's arrays, -1 if not scored."""
    result: ExampleResult | None
    reference: ExampleResult | None = None
    """The reference label's result on the same example, for the diff mode."""
    ref_bits: np.ndarray | None = None
    """float32 per token: the reference's surprisal, NaN if not scored."""

    @property
    def delta_bits(self) -> np.ndarray | None:
        """Surprisal minus the reference's (negative: better than the reference)."""
        return None if self.ref_bits is None else self.bits - self.ref_bits

    def __len__(self) -> int:
        return len(self.pieces)

    def rank_buckets(self) -> np.ndarray:
        out = np.full(len(self.rank), -1, dtype=np.int8)
        scored = self.rank > 0
        out[scored] = rank_bucket(self.rank[scored])
        return out

    def scored_positions(self) -> np.ndarray:
        return np.nonzero(self.row >= 0)[0]


def build_document(example: Example, result: ExampleResult | None, token_texts,
                   max_seq_length: int, reference: ExampleResult | None = None) -> Document:
    tokens = example.tokens
    n = len(tokens)
    pieces = token_texts.pieces(tokens)
    row = np.full(n, -1, dtype=np.int32)
    bits = np.full(n, np.nan, dtype=np.float32)
    entropy = np.full(n, np.nan, dtype=np.float32)
    rank = np.full(n, -1, dtype=np.int32)
    if result is not None and result.n_tokens:
        pos = result.positions
        row[pos] = np.arange(len(pos), dtype=np.int32)
        bits[pos] = -result.logprob / LN2
        entropy[pos] = result.entropy.astype(np.float32) / LN2
        rank[pos] = result.rank
    kind = []
    for p in range(n):
        if row[p] >= 0:
            kind.append(SCORED)
        elif p == 0:
            kind.append(FIRST)
        elif p < example.offset:
            kind.append(PROMPT)
        elif p >= max_seq_length and (result is not None or n > max_seq_length):
            kind.append(TRUNCATED)
        else:
            kind.append(PENDING)
    special = np.array([token_texts.is_special(t) for t in tokens], dtype=bool)
    ref_bits = None
    if reference is not None and reference.n_tokens:
        ref_bits = np.full(n, np.nan, dtype=np.float32)
        ref_bits[reference.positions] = -reference.logprob / LN2
    return Document(example, pieces, kind, special, bits, entropy, rank, row, result,
                    reference, ref_bits)

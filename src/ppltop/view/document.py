"""One example laid out for the token viewer: every token, whether it counts, and its numbers.

Arrays are aligned with the example's tokens (NaN / -1 where a token is not scored), so
the viewer looks up any position in O(1) and never holds a Python object per statistic.
The viewer shows groups (the tokens of whole characters, see `token_groups`); a group's
figures are here too: its surprisal is the sum of its tokens' (the chain rule: the
surprisal of the characters), its rank and entropy those of its worst token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..core.data.split import Example
from ..core.data.token_groups import TokenGroups
from ..core.data.token_text import TokenTexts
from ..core.figures.results import ExampleResult
from .surprisal import rank_bucket

LN2 = math.log(2)

# Why a token does not count toward the loss (or that it does).
SCORED, FIRST, PROMPT, TRUNCATED, PENDING = "scored", "first", "prompt", "truncated", "pending"


@dataclass
class Document:
    example: Example
    groups: TokenGroups
    """The tokens' bytes, grouped into whole characters; template tokens marked."""
    kind: list[str]
    """Per token: scored, first (nothing predicts it), prompt, truncated, or pending."""
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
    group_bits: np.ndarray = field(init=False)
    """float32 per group: its tokens' summed surprisal, NaN unless every one is scored."""
    group_entropy_bits: np.ndarray = field(init=False)
    """float32 per group: the highest entropy of its tokens' predictions."""
    group_rank: np.ndarray = field(init=False)
    """int32 per group: the worst (highest) rank of its tokens, -1 unless all are scored."""
    group_ref_bits: np.ndarray | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        starts = self.groups.bounds[:-1]
        if not len(starts):
            empty = np.zeros(0, dtype=np.float32)
            self.group_bits, self.group_entropy_bits = empty, empty
            self.group_rank = np.zeros(0, dtype=np.int32)
            return
        self.group_bits = np.add.reduceat(self.bits, starts)
        self.group_entropy_bits = np.maximum.reduceat(self.entropy_bits, starts)
        scored = np.isfinite(self.group_bits)
        self.group_rank = np.where(scored, np.maximum.reduceat(self.rank, starts), -1)
        if self.ref_bits is not None:
            self.group_ref_bits = np.add.reduceat(self.ref_bits, starts)

    @property
    def special(self) -> np.ndarray:
        """bool per token: a special token of the tokenizer (chat markers, EOS)."""
        return self.groups.special

    @property
    def template(self) -> np.ndarray:
        """bool per token: written by the chat template."""
        return self.groups.template

    @property
    def delta_bits(self) -> np.ndarray | None:
        """Surprisal minus the reference's (negative: better than the reference)."""
        return None if self.ref_bits is None else self.bits - self.ref_bits

    @property
    def group_delta_bits(self) -> np.ndarray | None:
        """Per group: summed surprisal minus the reference's."""
        return None if self.group_ref_bits is None else self.group_bits - self.group_ref_bits

    def group_kind(self, g: int) -> str:
        """SCORED when every token of the group is, else the first other token's kind."""
        kinds = [self.kind[p] for p in self.groups.tokens_of(g)]
        return next((k for k in kinds if k != SCORED), SCORED)

    def __len__(self) -> int:
        return self.groups.n_tokens

    def rank_buckets(self) -> np.ndarray:
        return _buckets(self.rank)

    def group_rank_buckets(self) -> np.ndarray:
        return _buckets(self.group_rank)

    def scored_positions(self) -> np.ndarray:
        return np.nonzero(self.row >= 0)[0]

    def next_change(self, position: int, threshold_bits: float,
                    forward: bool = True) -> int | None:
        """Position of the next (or previous) token whose surprisal moved by at least
        `threshold_bits` against the reference (None: no reference, or no such token)."""
        delta = self.delta_bits
        if delta is None:
            return None
        with np.errstate(invalid="ignore"):
            hits = np.nonzero(np.abs(delta) >= threshold_bits)[0]  # NaN: not scored by both
        if forward:
            later = hits[hits > position]
            return int(later[0]) if later.size else None
        earlier = hits[hits < position]
        return int(earlier[-1]) if earlier.size else None


def build_document(example: Example, result: ExampleResult | None, token_texts: TokenTexts,
                   max_seq_length: int, reference: ExampleResult | None = None,
                   template: np.ndarray | None = None) -> Document:
    """`template`: the example's template tokens (`TokenMarks`); None guesses them from
    the special tokens."""
    tokens = example.tokens
    n = len(tokens)
    groups = token_texts.groups(tokens, template)
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
    ref_bits = None
    if reference is not None and reference.n_tokens:
        ref_bits = np.full(n, np.nan, dtype=np.float32)
        ref_bits[reference.positions] = -reference.logprob / LN2
    return Document(example, groups, kind, bits, entropy, rank, row, result, reference, ref_bits)


def _buckets(rank: np.ndarray) -> np.ndarray:
    out = np.full(len(rank), -1, dtype=np.int8)
    scored = rank > 0
    out[scored] = rank_bucket(rank[scored])
    return out

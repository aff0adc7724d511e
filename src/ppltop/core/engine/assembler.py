"""Assemble each example's result from the pieces its segments were scored in.

With `--long-sequences window` one example's windows can fall in different batches; every
piece is filed under its example, and the example's `ExampleResult` is made when its last
piece arrives. With truncation every example has one piece and completes at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import mlx_lm
from ..data.batching import truncated_targets
from ..data.token_text import TokenTexts
from ..figures.results import ExampleResult, compact
from . import token_stats
from .plan import ScoringPlan


@dataclass
class _Pieces:
    """What one label has scored of one example so far."""

    parts: list[Any] = field(default_factory=list)
    """(first target position, statistics block, targets, KL or None) per segment."""
    mlx_lm: tuple[Any, float] = (None, float("nan"))
    """mlx-lm's cross-entropies of the first segment's targets, and of its phantom target."""


class ExampleAssembler:
    """One label's examples in progress: file segment pieces, get finished results."""

    def __init__(self, plan: ScoringPlan, texts: TokenTexts, vocab_size: int):
        self.plan = plan
        self.texts = texts
        self.vocab_size = vocab_size
        self._pending: dict[int, _Pieces] = {}

    def file(self, example: int, first: int, block: token_stats.StatsBlock,
             targets: np.ndarray, kl: np.ndarray | None,
             mlx_lm_ce: tuple[Any, float] | None = None) -> ExampleResult | None:
        """Add one segment's piece; return the example's result once it is complete.
        `mlx_lm_ce` (cross-entropies, phantom) comes with an example's first segment."""
        pieces = self._pending.setdefault(example, _Pieces())
        pieces.parts.append((first, block, targets, kl))
        if mlx_lm_ce is not None:
            pieces.mlx_lm = mlx_lm_ce
        if len(pieces.parts) < self.plan.segments_per_example[example]:
            return None
        return self._assemble(example, self._pending.pop(example))

    def _assemble(self, index: int, pieces: _Pieces) -> ExampleResult:
        example = self.plan.split.examples[index]
        config = self.plan.config
        pieces.parts.sort(key=lambda p: p[0])
        first = pieces.parts[0][0]
        # windows score disjoint, adjacent ranges: the targets are contiguous from `first`
        assert all(a[0] + len(a[2]) == b[0] for a, b in zip(pieces.parts, pieces.parts[1:]))
        block = token_stats.concat([p for _, p, _, _ in pieces.parts])
        targets = np.concatenate([t for _, _, t, _ in pieces.parts]).astype(np.int32)
        kl = (None if pieces.parts[0][3] is None
              else np.concatenate([k for _, _, _, k in pieces.parts]).astype(np.float32))
        truncated = (0 if config.long_sequences == "window"
                     else truncated_targets(example, config.max_seq_length))
        return ExampleResult(
            example=index,
            first=int(first),
            **compact(block, targets, self.vocab_size),
            n_bytes=self.texts.content_bytes(targets),
            truncated=truncated,
            mlx_lm=mlx_lm.MlxLmPart.of(pieces.mlx_lm[0], block.logprob, pieces.mlx_lm[1]),
            kl=kl,
        )

"""Per-example results of scoring: compact numpy arrays, never a Python object per token.

Storage per scored token (`bytes_per_token`): the target's log-prob in float32 (the figures
are sums of it), entropy and the top-5 log-probs in float16 (shown, never summed), mlx-lm's
own cross-entropy as int16 steps from the log-prob (`MlxLmPart`), and the target id, rank and
top-5 ids as uint16 when the vocabulary fits (< 65,536 ids), else int32.
Positions are not stored: an example's scored targets are contiguous from `first`.
That is 32 bytes per token for vocabularies up to 65,535 ids, 46 above.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..mlx_lm import MlxLmPart


@dataclass
class ExampleResult:
    """One example scored by one model/adapter."""

    example: int
    """Index in the split."""
    first: int
    """Position in the example's tokens of the first scored target; the others follow."""
    targets: np.ndarray
    """uint16 or int32 [n]: the target token ids."""
    logprob: np.ndarray
    """float32 [n]: log p(target) in nats (loss of a token = -logprob)."""
    entropy: np.ndarray
    """float16 [n]: entropy of the prediction, nats."""
    rank: np.ndarray
    """uint16 or int32 [n]: rank of the target (1 = the model's top choice)."""
    top_ids: np.ndarray
    """uint16 or int32 [n, 5]: the model's top alternatives."""
    top_logprobs: np.ndarray
    """float16 [n, 5]: their log-probs."""
    n_bytes: int
    """UTF-8 bytes of the scored targets' text (special tokens count 0)."""
    truncated: int
    """Targets beyond --max-seq-length left unscored (0 with --long-sequences window)."""
    mlx_lm: MlxLmPart
    """What mlx-lm's figure counts of this example (see `mlx_lm.py`)."""
    kl: np.ndarray | None = None
    """float32 [n]: KL(reference || this label) per token, nats, with --kl; else None."""

    @property
    def n_tokens(self) -> int:
        return int(self.logprob.shape[0])

    @property
    def positions(self) -> np.ndarray:
        """int32 [n]: positions in the example's tokens of the scored targets."""
        return np.arange(self.first, self.first + self.n_tokens, dtype=np.int32)

    @property
    def loss_sum(self) -> float:
        return float(-self.logprob.astype(np.float64).sum())

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / self.n_tokens if self.n_tokens else float("nan")

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.logprob).all())

    def nbytes_stored(self) -> int:
        arrays = (self.targets, self.logprob, self.entropy, self.rank, self.top_ids,
                  self.top_logprobs, self.mlx_lm.delta)
        return sum(a.nbytes for a in arrays)


def id_dtype(vocab_size: int) -> np.dtype:
    """Smallest integer type for token ids and ranks (1..vocab) of this vocabulary."""
    return np.dtype(np.uint16) if vocab_size <= np.iinfo(np.uint16).max else np.dtype(np.int32)


def compact(block: Any, targets: np.ndarray, vocab_size: int) -> dict[str, np.ndarray]:
    """A statistics block (the engine's `StatsBlock`, below this layer) and its targets in
    storage types (see the module docstring)."""
    ids = id_dtype(vocab_size)
    return {
        "targets": targets.astype(ids),
        "logprob": block.logprob.astype(np.float32),
        "entropy": block.entropy.astype(np.float16),
        "rank": block.rank.astype(ids),
        "top_ids": block.top_ids.astype(ids),
        "top_logprobs": block.top_logprobs.astype(np.float16),
    }

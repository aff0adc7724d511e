"""Per-example results of scoring: compact numpy arrays, never a Python object per token."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ExampleResult:
    """One example scored by one model/adapter."""

    example: int
    """Index in the split."""
    positions: np.ndarray
    """int32 [n]: positions in the example's tokens of the scored targets."""
    targets: np.ndarray
    """int32 [n]: the target token ids."""
    logprob: np.ndarray
    """float32 [n]: log p(target) in nats (loss of a token = -logprob)."""
    entropy: np.ndarray
    """float32 [n]: entropy of the prediction, nats."""
    rank: np.ndarray
    """int32 [n]: rank of the target (1 = the model's top choice)."""
    top_ids: np.ndarray
    """int32 [n, 5]: the model's top alternatives."""
    top_logprobs: np.ndarray
    """float32 [n, 5]: their log-probs."""
    n_bytes: int
    """UTF-8 bytes of the scored targets' text (special tokens count 0)."""
    truncated: int
    """Targets beyond --max-seq-length left unscored (0 with --long-sequences window)."""
    mlx_lm_sum: float
    """Sum of mlx-lm's per-token cross-entropy over the truncated first segment."""
    mlx_lm_count: int
    """Targets in that sum."""
    phantom_ce: float
    """Cross-entropy of predicting pad id 0 after the last token of the first segment."""
    extra: dict = field(default_factory=dict)
    kl: np.ndarray | None = None
    """float32 [n]: KL(reference || this label) per token, nats, with --kl; else None."""

    @property
    def n_tokens(self) -> int:
        return int(self.positions.shape[0])

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
        arrays = (self.positions, self.targets, self.logprob, self.entropy, self.rank,
                  self.top_ids, self.top_logprobs)
        return sum(a.nbytes for a in arrays)

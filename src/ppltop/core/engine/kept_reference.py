"""The reference's top-k log-probabilities per target, kept when the models of a run are
scored one at a time (they do not fit in --max-memory together), so that a later model's
KL(reference || model) needs no logits file.

With the reference's top k outcomes and the mass of the rest (its tail) as one more
outcome, the KL of these k + 1 outcomes is a lower bound of the exact KL (merging outcomes
never increases a divergence). The exact value is at most `gap` higher: within the tail,
the reference's mass could at worst all sit on the outcome the model finds least likely.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from .token_stats import host_logits, in_row_blocks, log_softmax_numpy, log_softmax_rows

ROWS = 8
"""Rows a worker takes at a time: their vocabulary-wide passes stay in the cache."""

TOP_K_CHOICES = (4096, 2048, 1024, 512, 256, 128, 64)
"""The k kept: the largest --max-memory allows (on the real test model, k = 64 left 11% of
the reference's probability in its tail and its KL 16% below the exact one; 4096, 0.5% and
0.8%)."""


def bytes_per_target(k: int) -> int:
    """Kept per target: k token ids (int32), k log-probabilities (float32), the tail's mass
    (float64)."""
    return k * (4 + 4) + 8


@dataclass(frozen=True)
class KeptRows:
    """The reference's top-k for a block of target rows."""

    ids: np.ndarray
    logp: np.ndarray
    tail: np.ndarray
    """The reference's probability outside its top k, per row (float64)."""


class KeptReference:
    """The reference's top-k per batch, kept while the models go one at a time (k > 0),
    and the KL of the other labels against it."""

    def __init__(self, reference: str, k: int):
        self.reference = reference
        self.k = k
        """The top-k kept (0: nothing is kept, the models are in memory together)."""
        self.batches: dict[int, KeptRows] = {}
        self.gaps = KlGaps(k)

    def keeps(self, label: str) -> bool:
        return self.k > 0 and label == self.reference

    def store(self, number: int, kept: list[KeptRows]) -> None:
        """Batch `number`'s rows, as its blocks of rows kept them in order."""
        if kept:
            self.batches[number] = KeptRows(*(np.concatenate([getattr(k, name) for k in kept])
                                              for name in ("ids", "logp", "tail")))

    def rows_for(self, number: int, label: str) -> KeptRows | None:
        """What `label` is compared with on batch `number` (None: nothing kept for it)."""
        return None if label == self.reference else self.batches.get(number)

    def kl(self, label: str, kept: KeptRows, a: int, b: int, logits: mx.array,
           real: np.ndarray) -> np.ndarray:
        """KL lower bounds of target rows a:b; `real` leaves mlx-lm's phantom targets out of
        the gaps said (they are not in ppltop's KL figures either)."""
        rows = KeptRows(kept.ids[a:b], kept.logp[a:b], kept.tail[a:b])
        lower, gap = kl_bounds(rows, logits)
        self.gaps.add(label, gap[real], rows.tail[real])
        return lower


class KlGaps:
    """Per label scored against the reference's kept top-k: how far its KL may be below
    the exact one (the sum and the largest per-token gap) and the reference's tail mass."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.sums: dict[str, list[float]] = {}

    def add(self, label: str, gap: np.ndarray, tail: np.ndarray) -> None:
        sums = self.sums.setdefault(label, [0.0, 0.0, 0, 0.0])
        sums[0] += float(gap.sum())
        sums[1] = max(sums[1], float(gap.max(initial=0.0)))
        sums[2] += len(gap)
        sums[3] += float(tail.sum())

    def note(self, label: str) -> str | None:
        """What the summary says of `label`'s KL (None: computed exactly)."""
        if label not in self.sums or not self.sums[label][2]:
            return None
        total, worst, n, tail = self.sums[label]
        if tail == 0 and total == 0:
            return (f"KL from the reference's log-probabilities of every token (top-{self.k}: "
                    "the whole vocabulary, kept as the models did not fit in --max-memory "
                    "together): exact")
        return (f"KL from the reference's top-{self.k} log-probabilities and "
                f"its tail (mean tail mass {tail / n:.2g}; the models did not fit in "
                f"--max-memory together): a lower bound, the exact mean at most "
                f"{total / n:.2g} higher (at most {worst:.2g} on one token)")


def keep(logits: mx.array, k: int) -> KeptRows:
    """The reference's top-k of each row of `logits` [n, V], and the mass of the rest."""
    return keep_of(log_softmax_numpy(logits), k)


def keep_of(logp: np.ndarray, k: int) -> KeptRows:
    """The same from the reference's host log-probabilities [n, V] (float32)."""
    n, vocab = logp.shape
    k = min(k, vocab)
    ids = np.empty((n, k), np.int32)
    top_logp = np.empty((n, k), np.float32)
    tail = np.empty(n, np.float64)

    def block(a: int, b: int) -> None:
        lp = logp[a:b]
        top = np.argpartition(-lp, k - 1, axis=1)[:, :k]
        ids[a:b] = top
        top_logp[a:b] = np.take_along_axis(lp, top, axis=1)
        tail[a:b] = np.exp(_log_mass_outside(lp, top))

    in_row_blocks(n, ROWS, block)
    return KeptRows(ids, top_logp, tail)


def kl_bounds(kept: KeptRows, logits: mx.array) -> tuple[np.ndarray, np.ndarray]:
    """Per row: KL(reference || model) over the reference's top k and its tail (a lower
    bound, float32), and how much higher the exact KL can be at most (float64)."""
    x = host_logits(logits)
    n = x.shape[0]
    lower = np.empty(n, np.float32)
    gap = np.empty(n, np.float64)

    def block(a: int, b: int) -> None:
        logq = log_softmax_rows(x[a:b])
        ids, p_tail = kept.ids[a:b], kept.tail[a:b]
        q_top = np.take_along_axis(logq, ids, axis=1).astype(np.float64)
        lp = kept.logp[a:b].astype(np.float64)
        head = (np.exp(lp) * (lp - q_top)).sum(axis=1)
        log_q_tail = _log_mass_outside(logq, ids)  # no underflow where the tail is tiny
        with np.errstate(divide="ignore", invalid="ignore"):
            merged = np.where(p_tail > 0, p_tail * (np.log(p_tail) - log_q_tail), 0.0)
            # the model's least likely outcome bounds its log-probability in the tail
            worst = np.where(p_tail > 0, p_tail * (log_q_tail - logq.min(axis=1)), 0.0)
        lower[a:b] = np.maximum(head + merged, 0.0)  # rounding below 0 is no divergence
        gap[a:b] = np.maximum(worst, 0.0)

    in_row_blocks(n, ROWS, block)
    return lower, gap


def _log_mass_outside(logp: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """log of the probability of the outcomes not in `ids`, per row (-inf: none), summed
    directly (1 - the top's mass would cancel to noise where the tail is tiny) and shifted
    by the tail's largest log-probability (no underflow), accumulated in float64."""
    rest = logp.copy()
    np.put_along_axis(rest, ids, -np.inf, axis=1)
    top = rest.max(axis=1, keepdims=True)
    finite = np.isfinite(top)
    with np.errstate(under="ignore", invalid="ignore"):
        np.exp(rest - np.where(finite, top, 0.0), out=rest)
    total: np.ndarray = rest.sum(axis=1, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(finite[:, 0], np.log(total) + top[:, 0], -np.inf)

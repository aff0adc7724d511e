"""Per-token statistics from a block of logits: log-prob of the target, entropy, rank, top-k.

Two implementations of the same function. On the CPU backend MLX's `exp` is scalar and
single-threaded, so the vocabulary-wide work is faster in numpy on the copied-out logits
(about 10% of a forward pass instead of 55%); on a GPU, MLX does it on the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import numpy as np

TOP_K = 5


@dataclass
class StatsBlock:
    """Statistics for n target positions (rows of a logits block)."""

    logprob: np.ndarray
    """float32 [n]: log p(target), nats."""
    entropy: np.ndarray
    """float32 [n]: entropy of the predictive distribution, nats."""
    rank: np.ndarray
    """int32 [n]: 1 + number of vocabulary entries with a strictly larger logit."""
    top_ids: np.ndarray
    """int32 [n, TOP_K]: the most likely ids, best first."""
    top_logprobs: np.ndarray
    """float32 [n, TOP_K]: their log-probs."""


def stats_numpy(logits: mx.array, targets: np.ndarray) -> StatsBlock:
    """Compute on the host: logits [n, V] (any float dtype), targets int [n]."""
    x = np.array(logits.astype(mx.float32), copy=False)
    n, vocab = x.shape
    rows = np.arange(n)
    m = x.max(axis=1, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(axis=1, keepdims=True)
    lse = (np.log(s) + m)[:, 0]
    target_logit = x[rows, targets]
    # entropy = lse - E_p[x]; E_p[x] = sum(e * x) / s
    expected = np.einsum("ij,ij->i", e, x) / s[:, 0]
    rank = (x > target_logit[:, None]).sum(axis=1) + 1
    k = min(TOP_K, vocab)
    top = np.argpartition(-x, k - 1, axis=1)[:, :k]
    order = np.argsort(-x[rows[:, None], top], axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    return StatsBlock(
        logprob=(target_logit - lse).astype(np.float32),
        entropy=(lse - expected).astype(np.float32),
        rank=rank.astype(np.int32),
        top_ids=top.astype(np.int32),
        top_logprobs=(x[rows[:, None], top] - lse[:, None]).astype(np.float32),
    )


def stats_mlx(logits: mx.array, targets: np.ndarray) -> StatsBlock:
    """Compute on the MLX device: logits [n, V] (any float dtype), targets int [n]."""
    x = logits.astype(mx.float32)
    t = mx.array(targets.astype(np.int32))[:, None]
    lse = mx.logsumexp(x, axis=1, keepdims=True)
    logp = x - lse
    target_logit = mx.take_along_axis(x, t, axis=1)
    entropy = -(mx.exp(logp) * logp).sum(axis=1)
    rank = (x > target_logit).sum(axis=1) + 1
    k = min(TOP_K, x.shape[1])
    top = mx.argpartition(-x, k - 1, axis=1)[:, :k]
    top_vals = mx.take_along_axis(logp, top, axis=1)
    order = mx.argsort(-top_vals, axis=1)
    top = mx.take_along_axis(top, order, axis=1)
    top_vals = mx.take_along_axis(top_vals, order, axis=1)
    out = [(target_logit - lse)[:, 0], entropy, rank, top, top_vals]
    mx.eval(*out)
    return StatsBlock(
        logprob=np.array(out[0], dtype=np.float32),
        entropy=np.array(out[1], dtype=np.float32),
        rank=np.array(out[2], dtype=np.int32),
        top_ids=np.array(out[3], dtype=np.int32),
        top_logprobs=np.array(out[4], dtype=np.float32),
    )


def default_backend() -> str:
    """`numpy` on the CPU device, `mlx` on a GPU (chosen by measurement, see module doc)."""
    return "numpy" if mx.default_device() == mx.cpu else "mlx"


def compute(logits: mx.array, targets: np.ndarray, backend: str | None = None) -> StatsBlock:
    backend = backend or default_backend()
    return stats_numpy(logits, targets) if backend == "numpy" else stats_mlx(logits, targets)


def loss_only(logits: mx.array, targets: np.ndarray) -> StatsBlock:
    """The loss-only path: log p(target) and nothing else (entropy, rank, top-k left empty)."""
    x = logits.astype(mx.float32)
    t = mx.array(targets.astype(np.int32))[:, None]
    logprob = (mx.take_along_axis(x, t, axis=1) - mx.logsumexp(x, axis=1, keepdims=True))[:, 0]
    n = len(targets)
    return StatsBlock(
        logprob=np.array(logprob, dtype=np.float32),
        entropy=np.full(n, np.nan, dtype=np.float32),
        rank=np.zeros(n, dtype=np.int32),
        top_ids=np.zeros((n, 0), dtype=np.int32),
        top_logprobs=np.zeros((n, 0), dtype=np.float32),
    )


def concat(blocks: list[StatsBlock]) -> StatsBlock:
    if len(blocks) == 1:
        return blocks[0]
    return StatsBlock(*(np.concatenate([getattr(b, f) for b in blocks])
                        for f in ("logprob", "entropy", "rank", "top_ids", "top_logprobs")))


def log_softmax_numpy(logits: mx.array) -> np.ndarray:
    """float32 [n, V] log-probabilities on the host."""
    x = np.array(logits.astype(mx.float32), copy=False)
    m = x.max(axis=1, keepdims=True)
    return x - (np.log(np.exp(x - m).sum(axis=1, keepdims=True)) + m)


def kl_numpy(reference_logp: np.ndarray, logits: mx.array) -> np.ndarray:
    """KL(P_ref || P) per row, nats: sum p_ref * (log p_ref - log p)."""
    logp = log_softmax_numpy(logits)
    return np.einsum("ij,ij->i", np.exp(reference_logp), reference_logp - logp).astype(np.float32)

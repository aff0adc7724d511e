"""Statistics over a run: mean token loss with a standard error clustered by example."""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054


def clustered_mean(sums: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """Ratio estimate sum(sums)/sum(counts) and its standard error, examples as clusters.

    Tokens of one example are not independent, so the per-token standard error is too
    small; the cluster-robust (sandwich) variance of a ratio estimator is
    m/(m-1) * sum((s_i - mean*n_i)^2) / (sum n_i)^2.
    """
    sums = np.asarray(sums, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return float("nan"), float("nan")
    mean = sums.sum() / total
    m = len(sums)
    if m < 2:
        return float(mean), float("nan")
    resid = sums - mean * counts
    var = m / (m - 1) * float((resid**2).sum()) / total**2
    return float(mean), math.sqrt(var)


def ppl_interval(loss: float, stderr: float) -> tuple[float, float]:
    """95% interval of perplexity: exp of the loss interval (PPL is monotone in loss)."""
    if not math.isfinite(stderr):
        return float("nan"), float("nan")
    return safe_exp(loss - Z95 * stderr), safe_exp(loss + Z95 * stderr)


def safe_exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return float("inf")


def bits(nats: float) -> float:
    return nats / math.log(2)

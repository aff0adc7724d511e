"""Statistics over a run: mean token loss with a standard error clustered by example."""

from __future__ import annotations

import math
from typing import Any

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


class RunningMean:
    """`clustered_mean` kept as examples come: the sufficient statistics of the clustered
    standard error (Σs, Σn, Σs², Σsn, Σn² over examples), so the running loss and its
    interval cost the same at the millionth example as at the first. The figures it gives
    at the end are those of `clustered_mean` over the same examples, to rounding."""

    def __init__(self) -> None:
        self.examples = 0
        self._s = self._n = self._ss = self._sn = self._nn = 0.0

    def add(self, loss_sum: float, n_tokens: int) -> None:
        """One example: its summed loss over `n_tokens` targets."""
        s, n = float(loss_sum), float(n_tokens)
        self.examples += 1
        self._s += s
        self._n += n
        self._ss += s * s
        self._sn += s * n
        self._nn += n * n

    @property
    def mean(self) -> float:
        return self._s / self._n if self._n else math.nan

    @property
    def stderr(self) -> float:
        """m/(m-1) * Σ(s_i - mean*n_i)² / (Σn)², the residuals expanded into the sums."""
        m = self.examples
        if m < 2 or self._n == 0:
            return math.nan
        mean = self._s / self._n
        resid = self._ss - 2 * mean * self._sn + mean * mean * self._nn
        return math.sqrt(max(resid, 0.0) * m / (m - 1)) / self._n

    @property
    def ppl_ci95(self) -> tuple[float, float]:
        return ppl_interval(self.mean, self.stderr)


def finite_or_none(value: Any) -> Any:
    """`value` with every non-finite float, however deep, as None (JSON's null: `NaN` is
    not JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    return value

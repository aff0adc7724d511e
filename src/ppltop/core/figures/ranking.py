"""Rankings that list the same rows on every machine: ties broken by a stable key.

`np.argpartition` and an unstable sort order equal values by whatever their kernels do, and
numpy picks those kernels by CPU (AVX-512 code where it can), so a ranking of exact ties
would list other rows on another machine. Every "top k" of the product goes through here.
"""

from __future__ import annotations

import numpy as np


def top_k(key: np.ndarray, k: int, ties: tuple[np.ndarray, ...] = ()) -> np.ndarray:
    """Indices of the `k` smallest values of `key`, smallest first.

    Equal values come in the order of `ties` (e.g. example, then position), then by index;
    NaN ranks last.
    """
    key = np.asarray(key, dtype=np.float64)
    key = np.where(np.isnan(key), np.inf, key)
    k = min(int(k), key.size)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < key.size:
        # every value tied with the k-th is a candidate, so the partition's choice among
        # them cannot matter
        kth = np.partition(key, k - 1)[k - 1]
        candidates = np.nonzero(key <= kth)[0]
    else:
        candidates = np.arange(key.size)
    columns = [candidates] + [np.asarray(t)[candidates] for t in reversed(ties)]
    order = np.lexsort(tuple(columns) + (key[candidates],))
    return candidates[order[:k]]

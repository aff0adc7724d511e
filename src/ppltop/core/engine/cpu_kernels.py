"""Attention and SwiGLU for MLX's CPU backend, with their exponentials in numpy.

On the CPU, MLX's `exp` is a scalar loop: in a profile of SmolLM2-135M (4 x 512 tokens)
the attention softmax and SiLU took 70% of the forward pass, against a fraction of that
for every matmul. numpy's `exp` is vectorized, so here the matmuls stay in MLX (BLAS) and
the softmax and SiLU run in numpy, a cache-sized block of rows at a time on every core.

They are swapped into the model's modules only for the length of one forward call
(`SplitForward.rows`), only on the CPU device, and only where they compute what they
replace: causal or no mask, float32, no attention sinks, no quantized cache. Anything
else goes to mlx-lm's own function. Nothing changes on a GPU. `PPLTOP_CPU_KERNELS=mlx`
keeps MLX's own everywhere (the benchmark's side-by-side rows).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import mlx.core as mx
import numpy as np

from .token_stats import in_parallel

BLOCK_BYTES = 1 << 19
"""Bytes of scores a worker takes at a time (their five passes stay in the cache)."""


@lru_cache(maxsize=8)
def _above_diagonal(length: int) -> np.ndarray:
    """[L, L]: True where a key comes after its query (the causal mask), made once per
    length rather than once per layer and batch."""
    return np.triu(np.ones((length, length), bool), 1)


def _softmax_rows(scores: np.ndarray, causal: bool) -> None:
    """In place: softmax of each row of `scores` [rows, L], row r being query r % L."""
    rows, length = scores.shape
    above = _above_diagonal(length) if causal else None

    def work(lo: int, hi: int) -> None:
        step = max(1, BLOCK_BYTES // (4 * length))
        for a in range(lo, hi, step):
            block = scores[a:min(hi, a + step)]
            if above is not None:
                np.copyto(block, -np.inf, where=above[np.arange(a, a + len(block)) % length])
            np.subtract(block, block.max(axis=1, keepdims=True), out=block)
            np.exp(block, out=block)
            block /= block.sum(axis=1, keepdims=True)

    in_parallel(rows, length, work)


def attention(queries: mx.array, keys: mx.array, values: mx.array, scale: float,
              causal: bool) -> mx.array:
    """softmax(scale * Q K^T (causal)) V for [B, H, L, D] queries and [B, KV, L, D] keys."""
    batch, heads, length, dim = queries.shape
    kv = keys.shape[1]
    grouped = (queries * scale).reshape(batch, kv, heads // kv * length, dim)
    scores = grouped @ keys.swapaxes(-1, -2)
    mx.eval(scores)
    host = np.array(scores, copy=False).reshape(-1, length)
    _softmax_rows(host, causal)
    weights = mx.array(host).reshape(batch, kv, heads // kv * length, length)
    return (weights @ values).reshape(batch, heads, length, dim)


def swiglu(gate: mx.array, x: mx.array) -> mx.array:
    """silu(gate) * x, as gate * x / (1 + exp(-gate))."""
    mx.eval(gate, x)
    g = np.array(gate, copy=False).reshape(-1, gate.shape[-1])
    u = np.array(x, copy=False).reshape(-1, x.shape[-1])
    out = np.empty_like(g)

    def work(lo: int, hi: int) -> None:
        step = max(1, BLOCK_BYTES // (4 * g.shape[1]))
        for a in range(lo, hi, step):
            b = min(hi, a + step)
            o = out[a:b]
            np.negative(g[a:b], out=o)
            np.exp(o, out=o)
            o += 1.0
            np.divide(g[a:b], o, out=o)
            o *= u[a:b]

    in_parallel(g.shape[0], g.shape[1], work)
    return mx.array(out).reshape(gate.shape)


def _wrap_attention(original):
    def scaled_dot_product_attention(queries, keys, values, cache, scale, mask, sinks=None):
        plain = (sinks is None and not hasattr(cache, "bits")
                 and (mask is None or (isinstance(mask, str) and mask == "causal"))
                 and queries.dtype == mx.float32 and queries.ndim == 4
                 and queries.shape[-2] == keys.shape[-2] and queries.shape[-2] > 1
                 and queries.shape[1] % keys.shape[1] == 0)
        if not plain:
            return original(queries, keys, values, cache=cache, scale=scale, mask=mask,
                            sinks=sinks)
        return attention(queries, keys, values, scale, mask == "causal")
    return scaled_dot_product_attention


def _wrap_swiglu(original):
    def fast_swiglu(gate, x):
        if gate.dtype != mx.float32 or x.dtype != mx.float32 or gate.shape != x.shape:
            return original(gate, x)
        return swiglu(gate, x)
    return fast_swiglu


class CpuKernels:
    """The swaps for one model: which of its modules' functions are mlx-lm's own."""

    def __init__(self, model) -> None:
        from mlx_lm.models import activations, base

        replace = {"scaled_dot_product_attention": (base.scaled_dot_product_attention,
                                                    _wrap_attention),
                   "swiglu": (activations.swiglu, _wrap_swiglu)}
        self.swaps: list[tuple[object, str, object, object]] = []
        names = {type(m).__module__ for _, m in model.named_modules()}
        for module in (sys.modules.get(name) for name in sorted(names)):
            for attr, (original, wrap) in replace.items():
                if module is not None and getattr(module, attr, None) is original:
                    self.swaps.append((module, attr, original, wrap(original)))
        self.active = (bool(self.swaps) and mx.default_device() == mx.cpu
                       and os.environ.get("PPLTOP_CPU_KERNELS", "numpy") != "mlx")

    @contextmanager
    def around_call(self) -> Iterator[None]:
        if not self.active:
            yield
            return
        for module, attr, _, fast in self.swaps:
            setattr(module, attr, fast)
        try:
            yield
        finally:
            for module, attr, original, _ in self.swaps:
                setattr(module, attr, original)

"""Attention and SwiGLU for MLX's CPU backend, with their exponentials in numpy.

On the CPU, MLX's `exp` is a scalar loop: in a profile of SmolLM2-135M (4 x 512 tokens)
the attention softmax and SiLU took 70% of the forward pass, against a fraction of that
for every matmul. numpy's `exp` is vectorized, so here the SiLU runs in numpy, and the
attention runs wholly in numpy: one (batch row, key head) group per core, a block of queries
at a time against only the keys the block may see (the causal half is never computed), so
its scores never leave the cache and never travel back into MLX. The projections and the
MLP's matmuls stay in MLX (its BLAS).

They are swapped into the model's modules only for the length of one forward call
(`SplitForward.rows`), only on the CPU device, and only where they compute what they
replace: causal or no mask, float32, no attention sinks, no quantized cache. Anything
else goes to mlx-lm's own function. Nothing changes on a GPU. `PPLTOP_CPU_KERNELS=mlx`
keeps MLX's own everywhere (the benchmark's side-by-side rows).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import mlx.core as mx
import numpy as np

from . import packing
from .token_stats import in_parallel

BLOCK_BYTES = 1 << 19
"""Bytes of SwiGLU rows a worker takes at a time (their passes stay in the cache)."""


QUERY_BLOCK = 128
"""Queries per block of the causal attention: a block reads only the keys up to its last
query, so a 512-token row does 62% of the full product's work, and its scores stay in cache."""


@lru_cache(maxsize=16)
def _above_diagonal(length: int) -> np.ndarray:
    """[L, L]: True where a key comes after its query (the causal mask), made once per
    length rather than once per layer and batch."""
    return np.triu(np.ones((length, length), bool), 1)


SCORE_BYTES = 1 << 20
"""The scores of one block of queries (every head) stay about this small: in the cache."""


def _query_step(heads: int, length: int) -> int:
    """Queries per block: QUERY_BLOCK, fewer where every head's scores against `length`
    keys would leave the cache (a 4 x 512 batch ran 9% slower in blocks of 128)."""
    return max(16, min(QUERY_BLOCK, SCORE_BYTES // (4 * heads * max(1, length))))


def _attend(q: np.ndarray, keys_t: np.ndarray, values: np.ndarray, out: np.ndarray,
            causal: bool, i0: int, i1: int, scale: float) -> None:
    """One block of queries of one row (or segment), every key head at once (a batched
    product per step, not a Python loop over heads): q [KV, rep, L, D], keys_t [KV, D, L],
    values [KV, L, D]; writes softmax(scale q K^T) V of queries i0.. into out [KV, rep, L,
    D]."""
    kv, rep, length, dim = q.shape
    seen = i1 if causal else length  # keys a query of this block may attend to
    block = np.multiply(q[:, :, i0:i1], np.float32(scale))  # scaled as MLX scales, copied
    scores = block.reshape(kv, -1, dim) @ keys_t[:, :, :seen]
    if causal:
        np.copyto(scores.reshape(kv, rep, i1 - i0, seen), -np.inf,
                  where=_above_diagonal(seen)[i0:i1])
    np.subtract(scores, scores.max(axis=2, keepdims=True), out=scores)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=2, keepdims=True)
    out[:, :, i0:i1] = (scores @ values[:, :seen]).reshape(kv, rep, i1 - i0, dim)


def attention(queries: mx.array, keys: mx.array, values: mx.array, scale: float,
              causal: bool, lengths: tuple[int, ...] | None = None) -> mx.array:
    """softmax(scale * Q K^T (causal)) V for [B, H, L, D] queries and [B, KV, L, D] keys,
    in numpy (its BLAS for the products), one block of queries of one row per job; with
    `lengths` (a packed batch: B = 1), each segment of the row attends within itself."""
    mx.eval(queries, keys, values)
    q = np.array(queries, copy=False)
    k = np.array(keys, copy=False)
    v = np.array(values, copy=False)
    batch, heads, length, dim = q.shape
    kv = k.shape[1]
    out = np.empty(q.shape, np.float32)
    spans = ([(0, a, z) for a, z in packing.bounds(lengths)] if lengths
             else [(b, 0, length) for b in range(batch)])
    jobs = []
    for b, a, z in spans:
        step = _query_step(heads, z - a)
        jobs += [((b, a, z), i0, min(z - a, i0 + step) if causal else z - a)
                 for i0 in range(0, z - a, step if causal else z - a)]
    jobs = jobs[0::2] + jobs[1::2]  # a later block costs more: each core gets some of both
    grouped = (kv, heads // kv, length, dim)  # a row's heads by the key head they read

    def work(lo: int, hi: int) -> None:
        for (b, a, z), i0, i1 in jobs[lo:hi]:
            _attend(q[b].reshape(grouped)[:, :, a:z], k[b, :, a:z].transpose(0, 2, 1),
                    v[b, :, a:z], out[b].reshape(grouped)[:, :, a:z], causal, i0, i1, scale)

    in_parallel(len(jobs), 1, work)
    return mx.array(out)


def swiglu(gate: mx.array, x: mx.array) -> mx.array:
    """silu(gate) * x, as gate * x / (1 + exp(-gate))."""
    mx.eval(gate, x)
    g = np.array(gate, copy=False).reshape(-1, gate.shape[-1])
    u = np.array(x, copy=False).reshape(-1, x.shape[-1])
    out = np.empty_like(g)

    step = max(1, BLOCK_BYTES // (4 * g.shape[1]))

    def work(lo: int, hi: int) -> None:
        for a in range(lo, hi, step):
            b = min(hi, a + step)
            o = out[a:b]
            np.negative(g[a:b], out=o)
            np.exp(o, out=o)
            o += 1.0
            np.divide(g[a:b], o, out=o)
            o *= u[a:b]

    in_parallel(g.shape[0], step, work)
    return mx.array(out).reshape(gate.shape)


@lru_cache(maxsize=1)
def _one_thread_numpy_blas() -> None:
    """numpy's own OpenBLAS to one thread, once per process (every forward split used to
    search for the library again): the attention's products run one group per core
    already, and a second pool of BLAS threads spinning beside MLX's took a core from it
    (the MLP's matmuls were 50% slower in a profile). Other numpy builds are left alone."""
    import ctypes
    import glob

    for lib in glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs",
                                      "libscipy_openblas*.so*")):
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads"):
            setter = getattr(ctypes.CDLL(lib), name, None)
            if setter is not None:
                setter(1)
                return


def _wrap_attention(original: Callable[..., mx.array]) -> Callable[..., mx.array]:
    def scaled_dot_product_attention(queries: mx.array, keys: mx.array, values: mx.array,
                                     cache: Any, scale: float, mask: Any,
                                     sinks: Any = None) -> mx.array:
        plain = (sinks is None and not hasattr(cache, "bits")
                 and (mask is None or (isinstance(mask, str) and mask == "causal"))
                 and queries.dtype == mx.float32 and queries.ndim == 4
                 and queries.shape[-2] == keys.shape[-2] and queries.shape[-2] > 1
                 and queries.shape[1] % keys.shape[1] == 0)
        lengths = packing.segments()
        if lengths is not None and (not plain or mask != "causal" or queries.shape[0] != 1):
            raise packing.NotPackable("an attention call ppltop's kernel does not take")
        if not plain:
            return original(queries, keys, values, cache=cache, scale=scale, mask=mask,
                            sinks=sinks)
        return attention(queries, keys, values, scale, mask == "causal", lengths)
    return scaled_dot_product_attention


def _wrap_swiglu(original: Callable[..., mx.array]) -> Callable[..., mx.array]:
    def fast_swiglu(gate: mx.array, x: mx.array) -> mx.array:
        if gate.dtype != mx.float32 or x.dtype != mx.float32 or gate.shape != x.shape:
            return original(gate, x)
        return swiglu(gate, x)
    return fast_swiglu


class CpuKernels:
    """The swaps for one model: which of its modules' functions are mlx-lm's own."""

    def __init__(self, model: Any) -> None:
        from mlx_lm.models import activations, base

        replace: dict[str, tuple[object, Callable[[Any], object]]] = {
                   "scaled_dot_product_attention": (base.scaled_dot_product_attention,
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
        if self.active:
            _one_thread_numpy_blas()

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

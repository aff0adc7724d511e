"""The CPU backend's attention and SwiGLU with numpy exponentials: the same values as
MLX's own within float32 rounding, swapped in only for ppltop's forward calls."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest
from mlx_lm.models import activations, base, llama

from ppltop import demo
from ppltop.core.engine import cpu_kernels
from ppltop.core.engine.forward import SplitForward
from ppltop.core.model.loader import ModelHandle


def _normal(shape, seed):
    return mx.array(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("heads,kv,length,causal", [(4, 4, 37, True), (9, 3, 64, True),
                                                    (2, 1, 5, False)])
def test_attention_equals_mlx_fast_attention(heads, kv, length, causal):
    q, k, v = (_normal((2, h, length, 16), s) for s, h in ((1, heads), (2, kv), (3, kv)))
    want = mx.fast.scaled_dot_product_attention(q, k, v, scale=0.25,
                                                mask="causal" if causal else None)
    got = cpu_kernels.attention(q, k, v, 0.25, causal)
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-5, atol=2e-6)


def test_swiglu_equals_mlx_silu_times_x():
    gate, x = _normal((3, 50, 96), 4) * 6, _normal((3, 50, 96), 5)
    np.testing.assert_allclose(np.array(cpu_kernels.swiglu(gate, x)),
                               np.array(activations.swiglu(gate, x)), rtol=1e-5, atol=1e-6)


def test_other_masks_and_dtypes_go_to_mlx_lm_and_the_swap_ends_with_the_call(monkeypatch):
    handle = ModelHandle.load(demo.MODEL_DIR)
    forward = SplitForward(handle.model)
    assert forward.kernels.active and len(forward.kernels.swaps) == 2
    seen = []
    fast = dict((attr, f) for _, attr, _, f in forward.kernels.swaps)

    def original(*args, **kwargs):
        seen.append(kwargs["mask"])
        return base.scaled_dot_product_attention(*args, **kwargs)

    wrapped = cpu_kernels._wrap_attention(original)
    q = _normal((1, 2, 6, 8), 6)
    mask = mx.ones((6, 6), dtype=mx.bool_)
    wrapped(q, q, q, cache=None, scale=1.0, mask=mask)               # an array mask
    wrapped(q.astype(mx.float16), q.astype(mx.float16), q.astype(mx.float16), cache=None,
            scale=1.0, mask="causal")                                 # half precision
    assert len(seen) == 2
    wrapped(q, q, q, cache=None, scale=1.0, mask="causal")
    assert len(seen) == 2 and fast["swiglu"] is not activations.swiglu
    calls = []
    for name in ("attention", "swiglu"):
        real = getattr(cpu_kernels, name)
        monkeypatch.setattr(cpu_kernels, name,
                            lambda *a, _real=real, _name=name: calls.append(_name) or _real(*a))
    inputs = mx.array(np.arange(1, 25, dtype=np.int32).reshape(2, 12))
    rows, cols = np.repeat(np.arange(2), 12), np.tile(np.arange(12), 2)
    with_kernels = np.array(forward.rows(inputs, rows, cols)(0, 24))
    assert calls.count("attention") == calls.count("swiglu") == len(handle.model.layers)
    # outside ppltop's forward call, mlx-lm's modules hold their own functions again
    assert llama.scaled_dot_product_attention is base.scaled_dot_product_attention
    assert llama.swiglu is activations.swiglu
    forward.kernels.active = False
    without = np.array(forward.rows(inputs, rows, cols)(0, 24))
    np.testing.assert_allclose(with_kernels, without, rtol=1e-4, atol=1e-4)


def test_mlx_lm_cross_entropy_split_over_streams_is_bit_for_bit_and_works_in_any_thread():
    import threading

    import mlx.nn as nn

    from ppltop.core import mlx_lm

    logits = _normal((301, 500), 7) * 4
    targets = np.arange(301) * 7 % 500
    mx.eval(logits)
    want = np.array(nn.losses.cross_entropy(logits, mx.array(targets.astype(np.int32))))
    got = []

    def score():  # a run scores in a thread of its own, and a watch in a new one per step
        got.append(mlx_lm.token_ce(logits, targets))

    for _ in range(2):
        worker = threading.Thread(target=score)
        worker.start()
        worker.join(timeout=60)
    assert len(got) == 2
    for ce in got:
        np.testing.assert_array_equal(ce, want)

"""The model split into body (tokens -> hidden states) and head (hidden -> logits), so the
output projection runs on the hidden states of target positions only."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .cpu_kernels import CpuKernels


class SplitForward:
    """The model split into body (tokens -> hidden states) and head (hidden -> logits).

    Checked once against the model's own forward pass; when a model does more after its
    body than one projection (soft-capping, scaling), the full forward pass is used.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.split = False
        self.trunk = None
        """A `trunk.SharedTrunk` when the run's labels share their lower blocks."""
        self.kernels = CpuKernels(model)
        inner = getattr(model, "model", None)
        if inner is None or not callable(inner):
            return
        probe = mx.array(np.arange(1, 9, dtype=np.int32)[None] % 7 + 1)
        try:
            want = model(probe)
            got = self._head(inner(probe))
            self.split = bool(mx.allclose(want, got, rtol=1e-4, atol=1e-4).item())
        except Exception:
            self.split = False

    def _head(self, hidden: mx.array) -> mx.array:
        lm_head = getattr(self.model, "lm_head", None)
        if lm_head is not None and not getattr(getattr(self.model, "args", None),
                                               "tie_word_embeddings", False):
            logits: mx.array = lm_head(hidden)
            return logits
        tied: mx.array = self.model.model.embed_tokens.as_linear(hidden)
        return tied

    @property
    def body(self) -> nn.Module:
        """Tokens -> hidden states (or logits, when the head cannot be split off)."""
        return self.model.model if self.split else self.model

    def new_batch(self) -> None:
        """Forget the shared blocks' hidden states of the batch before."""
        if self.trunk is not None:
            self.trunk.new_batch()

    def rows(self, inputs: mx.array, rows: np.ndarray, cols: np.ndarray,
             micro_rows: int | None = None) -> Callable[[int, int], mx.array]:
        """Run the body once (over `micro_rows` batch rows at a time); return
        `project(a, b)`, the logits of selected target rows a:b. `rows` is non-decreasing."""
        body = self.body
        n_rows = inputs.shape[0]
        step = min(micro_rows or n_rows, n_rows)
        parts = []
        for start in range(0, n_rows, step):
            sel = slice(*np.searchsorted(rows, [start, start + step]))
            shared = self.trunk.pass_for((start, step)) if self.trunk else nullcontext()
            with shared, self.kernels.around_call():
                out = body(inputs[start:start + step])
            part = out[mx.array(rows[sel] - start), mx.array(cols[sel])]
            mx.eval(part)
            parts.append(part)
            del out
        picked = parts[0] if len(parts) == 1 else mx.concatenate(parts)
        if self.split:
            return lambda a, b: self._head(picked[a:b])
        return lambda a, b: picked[a:b]

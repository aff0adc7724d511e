"""The model split into body (tokens -> hidden states) and head (hidden -> logits), so the
output projection runs on the hidden states of target positions only."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from . import packing
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
        self.packs = False
        """Micro-batches run packed, without their padding (`packing.py`)."""
        inner = getattr(model, "model", None)
        if inner is None or not callable(inner):
            return
        probe, hidden = packing.probe_inputs(), None  # one probe for both checks
        try:
            with self.kernels.around_call():
                want = model(probe)
                hidden = inner(probe)
                got = self._head(hidden)
            self.split = bool(mx.allclose(want, got, rtol=1e-4, atol=1e-4).item())
        except Exception:
            self.split = False
        self.packs = self.kernels.active and packing.packs(
            self.body, self.kernels.around_call, hidden if self.split else None)

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
             micro_rows: int | None = None, lengths: np.ndarray | None = None
             ) -> Callable[[int, int], mx.array]:
        """Run the body once (over `micro_rows` batch rows at a time, packed where the rows'
        `lengths` differ); return `project(a, b)`, the logits of selected target rows a:b.
        `rows` is non-decreasing."""
        n_rows = inputs.shape[0]
        step = min(micro_rows or n_rows, n_rows)
        parts = []
        for start in range(0, n_rows, step):
            sel = slice(*np.searchsorted(rows, [start, start + step]))
            micro = inputs[start:start + step]
            where = (rows[sel] - start, cols[sel])
            lens = None if lengths is None else lengths[start:start + step]
            part = None
            if self.packs and lens is not None and len(set(lens.tolist())) > 1:
                part = self._packed(micro, lens, where, (start, step))
            if part is None:
                part = self._padded(micro, where, (start, step))
            parts.append(part)
        picked = parts[0] if len(parts) == 1 else mx.concatenate(parts)
        if self.split:
            return lambda a, b: self._head(picked[a:b])
        return lambda a, b: picked[a:b]

    def _shared(self, key: tuple[int, int]) -> AbstractContextManager[None]:
        return self.trunk.pass_for(key) if self.trunk else nullcontext()

    def _padded(self, micro: mx.array, where: tuple[np.ndarray, np.ndarray],
                key: tuple[int, int]) -> mx.array:
        with self._shared(key), self.kernels.around_call():
            out = self.body(micro)
        part: mx.array = out[mx.array(where[0]), mx.array(where[1])]
        mx.eval(part)
        return part

    def _packed(self, micro: mx.array, lengths: np.ndarray,
                where: tuple[np.ndarray, np.ndarray], key: tuple[int, int]) -> mx.array | None:
        """The micro-batch packed; None (and padded from now on) where a call cannot be."""
        lens = [int(n) for n in lengths]
        try:
            with self._shared(key), self.kernels.around_call(), packing.packed(lens):
                out = self.body(packing.pack(micro, lens))
                part: mx.array = out[0, mx.array(packing.positions(lens, *where))]
                mx.eval(part)
        except packing.NotPackable:
            self.packs = False
            return None
        return part

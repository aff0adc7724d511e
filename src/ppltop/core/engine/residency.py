"""Which models are in memory while a run scores: all of them together, or one at a time
when their weights do not fit in --max-memory together (`MemoryPlan.one_at_a_time`). One
at a time, each model is read when its pass starts and freed when the next one starts, so
each is read once per run (opened again, lazily, where the loop runs on another thread than
the one that opened it; a run set's next split reads them anew): the loop scores every
batch with one model before the next."""

from __future__ import annotations

import gc
import threading

import mlx.core as mx

from ..config import EvalConfig
from ..model.loader import ModelHandle
from .forward import SplitForward
from .models import make_ready, planned


class Residency:
    """The run's models and their forward passes (None: not in memory now)."""

    def __init__(self, config: EvalConfig, handles: list[ModelHandle],
                 forwards: list[SplitForward | None]):
        self.config = config
        self.handles = handles
        self.forwards = forwards
        self.sizes = [planned(handle, config).converted_bytes for handle in handles]
        """Each model's weights in the precision it is scored in."""
        self.one_at_a_time = any(forward is None for forward in forwards)

    def forward_for(self, model: int) -> SplitForward:
        """Model `model`'s forward pass; one at a time, the model in memory is freed and
        this one read and converted first."""
        forward = self.forwards[model]
        if forward is not None and forward.model is self.handles[model].model:
            return forward
        self._free_all_but(model)
        handle = self.handles[model]
        if handle.unread and handle.opened_in != threading.get_ident():
            handle.reopen()  # opened by another thread (the dashboard scores in a worker)
        make_ready(handle, self.config)
        forward = self.forwards[model] = SplitForward(handle.model)
        return forward

    def release(self) -> None:
        """One at a time, at the run's end: free the model in memory, so that a later part
        of a run set (the next split) reads its models anew beside nothing."""
        if self.one_at_a_time:
            self._free_all_but(None)

    def _free_all_but(self, model: int | None) -> None:
        """Free every model read but `model` (whoever read it: another split too)."""
        for other, held in enumerate(self.handles):
            if other != model and (self.forwards[other] is not None or not held.unread):
                self.forwards[other] = None
                held.reopen()
        gc.collect()  # the freed model's arrays go now, before the next is read
        mx.clear_cache()

    def others_bytes(self, model: int) -> int:
        """The weights in memory beside model `model`'s while it computes."""
        if self.one_at_a_time:
            return 0
        return sum(self.sizes) - self.sizes[model]

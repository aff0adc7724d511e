"""The shared trunk: the blocks below every label's lowest adapted block run once a batch.

mlx-lm's LoRA and DoRA adapt only the last `num_layers` blocks, so the base model and every
adapter or checkpoint of a run compute the same hidden states below the lowest block any of
them adapts. The first label of a batch records the hidden state that leaves the last
shared block; the labels after it replay that state and run only the blocks above.

The model's own forward pass runs every time (its embedding, its masks, sliding windows and
all): the shared blocks are swapped, for the length of one call, for stand-ins that pass
their input through and, at the last one, return the recorded state. Whether this gives
every label exactly its own figures is checked at load, bit for bit, on a probe.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import mlx.core as mx
import numpy as np

from ..model.loader import Adapter, ModelHandle

_BLOCK = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def lowest_adapted_block(adapter: Adapter, n_blocks: int) -> int:
    """The lowest block whose computation the adapter changes, from its weights (0 for
    weights outside the blocks: an adapted embedding changes everything above it). Blocks
    that mlx-lm wraps for DoRA change even without weights: DoRA renormalizes them."""
    lowest = n_blocks
    for name in adapter.weights:
        match = _BLOCK.search(name)
        if match is None:
            return 0
        lowest = min(lowest, int(match.group(1)))
    num_layers = adapter.config.get("num_layers")
    if adapter.fine_tune_type == "dora" and isinstance(num_layers, int):
        lowest = min(lowest, n_blocks - num_layers if num_layers >= 0 else 0)
    return lowest


def shared_blocks(adapters: Iterable[Adapter | None], n_blocks: int) -> int:
    """How many blocks from the bottom every label computes alike (0: none)."""
    lowest = n_blocks
    for adapter in adapters:
        if adapter is not None:
            lowest = min(lowest, lowest_adapted_block(adapter, n_blocks))
    return max(0, min(lowest, n_blocks - 1))


class _PassThrough:
    """A shared block's stand-in: its input goes up unchanged."""

    def __init__(self, block):
        self._block = block

    def __getattr__(self, name):  # attributes the model's loop reads (use_sliding, ...)
        return getattr(self._block, name)

    def __call__(self, h, *args, **kwargs):
        return h


class _Replay(_PassThrough):
    """The last shared block's stand-in: the recorded hidden state, whatever comes in."""

    def __init__(self, block, state: mx.array):
        super().__init__(block)
        self._state = state

    def __call__(self, h, *args, **kwargs):
        return self._state


class _Record(_PassThrough):
    """The last shared block, recording what it computes."""

    def __init__(self, block):
        super().__init__(block)
        self.state: mx.array | None = None

    def __call__(self, h, *args, **kwargs):
        self.state = self._block(h, *args, **kwargs)
        return self.state


class SharedTrunk:
    """Hidden states of the shared blocks, kept for the batch being scored.

    `pass_for(key)` is the context of one forward call over one micro-batch: the first
    call with a key records, later ones with the same key replay. `new_batch()` forgets.
    """

    def __init__(self, blocks: list, shared: int):
        self.blocks = blocks
        self.shared = shared
        self._kept: dict = {}

    def new_batch(self) -> None:
        self._kept = {}

    def note(self, labels: int) -> str:
        return (f"shared trunk: blocks 0-{self.shared - 1} of {len(self.blocks)} computed "
                f"once for {labels} labels (no adapter changes them)")

    @contextmanager
    def pass_for(self, key) -> Iterator[None]:
        top = self.shared - 1
        originals = self.blocks[:self.shared]
        state = self._kept.get(key)
        recorder = None
        if state is None:  # the blocks below compute; the top one records
            recorder = self.blocks[top] = _Record(originals[top])
        else:
            for i in range(top):
                self.blocks[i] = _PassThrough(originals[i])
            self.blocks[top] = _Replay(originals[top], state)
        try:
            yield
        finally:
            self.blocks[:self.shared] = originals
        if recorder is not None and recorder.state is not None:
            self._kept[key] = recorder.state


def inner_blocks(model) -> list | None:
    """The model's list of transformer blocks, where it has one the loop walks."""
    inner = getattr(model, "model", None)
    blocks = getattr(inner, "layers", None)
    return blocks if isinstance(blocks, list) and len(blocks) > 1 else None


def checked_trunk(handle: ModelHandle, adapters: list[Adapter | None], body) -> tuple[
        SharedTrunk | None, str | None]:
    """A shared trunk for these labels if it gives each of them bit for bit its own hidden
    states on a probe, else None; and why not, when sharing was possible but failed."""
    labelled = [a for a in adapters if a is not None]
    blocks = inner_blocks(handle.model)
    if not labelled or len(adapters) < 2 or blocks is None:
        return None, None
    shared = shared_blocks(labelled, len(blocks))
    if shared < 1:
        return None, None
    trunk = SharedTrunk(blocks, shared)
    probe = mx.array(np.arange(1, 17, dtype=np.int32)[None] % 11 + 1)
    try:
        for adapter in adapters:
            handle.activate(adapter)
            want = body(probe)
            with trunk.pass_for("probe"):
                got = body(probe)
            mx.eval(want, got)
            if not bool(mx.array_equal(want, got).item()):
                return None, (f"the shared trunk was checked and gives other figures for "
                              f"{adapter.label if adapter else 'base'}: not shared")
    except Exception as e:  # a model whose loop the stand-ins do not fit
        return None, f"the shared trunk cannot run on this model ({str(e)[:80]}): not shared"
    finally:
        handle.activate(None)
        trunk.new_batch()
    return trunk, None

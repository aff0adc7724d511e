"""A micro-batch's rows laid end to end, without their padding, for the CPU kernels' path.

Length-sorted batches still pad every row to the longest of its batch (8.8% of the
positions fed on the real model's test set, more with larger batches), and the forward pass
paid for every padded position. A row's computation meets the other rows of its batch only
in the attention and in the positions RoPE gives it. So, where ppltop's own attention runs
(`cpu_kernels`), the rows of a micro-batch become one sequence of their real tokens: the
attention runs per row ("segment"), and RoPE restarts at each row's first token, by one
`mx.fast.rope` call per segment. Every figure is the padded batch's within float32 rounding
(the BLAS rounds a row differently with the product's number of rows, as any change of
batch does): checked at load on a probe (`packs`). Any call the kernels cannot take packed
(a mask that is not causal, another dtype, a cache) raises `NotPackable`, after which that
model runs padded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import mlx.core as mx
import numpy as np

from ..store.events import RunPlan

_here = threading.local()


class NotPackable(Exception):
    """A call inside a packed forward pass that cannot keep its rows apart."""


def segments() -> tuple[int, ...] | None:
    """The lengths of the rows packed into the forward pass this thread is running."""
    lengths: tuple[int, ...] | None = getattr(_here, "lengths", None)
    return lengths


def bounds(lengths: Sequence[int]) -> list[tuple[int, int]]:
    """Each segment's [start, stop) in the packed sequence."""
    ends = np.cumsum(lengths).tolist()
    return list(zip([0, *ends[:-1]], ends))


def _rope_per_segment(original: Callable[..., mx.array]) -> Callable[..., mx.array]:
    def rope(x: mx.array, *args: Any, offset: Any = 0, **kwargs: Any) -> mx.array:
        lengths = segments()
        if lengths is None:
            return original(x, *args, offset=offset, **kwargs)
        if not (isinstance(offset, int) and offset == 0) or x.shape[-2] != sum(lengths):
            raise NotPackable("RoPE with an offset or another sequence axis")
        return mx.concatenate([original(x[..., a:b, :], *args, offset=0, **kwargs)
                               for a, b in bounds(lengths)], axis=-2)
    return rope


@contextmanager
def packed(lengths: Sequence[int]) -> Iterator[None]:
    """For this thread, the forward pass inside runs on rows of `lengths` laid end to end:
    `mx.fast.rope` restarts at each (the models call it through `mx.fast`, so it is swapped
    there for the call; other threads meet the original, their `segments()` being None)."""
    original = mx.fast.rope
    _here.lengths = tuple(int(n) for n in lengths)
    mx.fast.rope = _rope_per_segment(original)
    try:
        yield
    finally:
        mx.fast.rope = original
        _here.lengths = None


def pack(inputs: mx.array, lengths: Sequence[int]) -> mx.array:
    """[rows, width] padded tokens -> [1, sum(lengths)], each row's real tokens in turn."""
    return mx.concatenate([inputs[r, :n] for r, n in enumerate(lengths)])[None]


def positions(lengths: Sequence[int], rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Where (row, column) of the padded batch sits in the packed sequence."""
    starts = np.array([a for a, _ in bounds(lengths)], np.int64)
    at: np.ndarray = starts[rows] + cols
    return at


def notes(plan: RunPlan) -> list[str]:
    """The start notice of a `RunPlan`: what packing spares the run."""
    if not plan.skips_padding:
        return []
    return [f"packed: each batch's rows run end to end, so its padding ({plan.padding_share:.1%}"
            " of the positions a padded batch would compute) is not computed"]


def packs_all(forwards: Sequence[Any]) -> bool:
    """Whether every model held for the run packs (one read at its own pass is not known
    yet, and does not count)."""
    known = [forward.packs for forward in forwards if forward is not None]
    return bool(known) and all(known)


PROBE_LENGTHS = (5, 9)


def probe_inputs() -> mx.array:
    """Two rows of PROBE_LENGTHS tokens, the shorter padded (with more tokens)."""
    width = max(PROBE_LENGTHS)
    return mx.array((np.arange(len(PROBE_LENGTHS) * width, dtype=np.int32) % 7 + 1).reshape(
        len(PROBE_LENGTHS), width))


def packs(body: Callable[[mx.array], mx.array], around_call: Callable[[], Any],
          padded_out: mx.array | None = None) -> bool:
    """Whether `body`, with the CPU kernels swapped in (`around_call`), gives packed rows
    the outputs it gives them padded (within rounding), on `probe_inputs()`; `padded_out`
    is that padded output where the caller has it already."""
    padded = probe_inputs()
    try:
        with around_call():
            want = body(padded) if padded_out is None else padded_out
            mx.eval(want)
            with packed(PROBE_LENGTHS):
                got = body(pack(padded, PROBE_LENGTHS))
                mx.eval(got)
    except Exception:  # NotPackable, or a model whose loop a single long row does not fit
        return False
    return all(_close(want[r, :n], got[0, a:b])
               for r, (n, (a, b)) in enumerate(zip(PROBE_LENGTHS, bounds(PROBE_LENGTHS))))


PROBE_RTOL = 1e-3
"""How far a packed row may be from its padded self, relative to the row's largest value:
the BLAS rounds a product's rows differently with their number (OpenBLAS gives a row of an
18-row product and of a 14-row one 7e-5 apart), while rows that attend across their segment
or take another's positions are wrong by their whole size."""


def _close(want: mx.array, got: mx.array) -> bool:
    scale = np.abs(np.array(want)).max()
    return bool(np.abs(np.array(want) - np.array(got)).max() <= PROBE_RTOL * scale)

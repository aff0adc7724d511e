"""Notices said once before the first batch: precision, memory split, data warnings."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..model.precision import Precision
from ..store.events import Notice
from .plan import ScoringPlan


def start_notices(frozen: ScoringPlan, precision: Precision, engine_notes: Sequence[str] = ()
                  ) -> Iterator[Notice]:
    """What the user should know before the first batch: precision, memory, data, and
    what the engine computes once for several labels."""
    cfg = frozen.config
    for note in [*precision.notes, *engine_notes]:
        yield Notice("info", note)
    if frozen.memory.note:
        yield Notice("info", frozen.memory.note)
    for warning in frozen.split.warnings:
        yield Notice("warning", warning)
    n_records = len(frozen.split.examples)
    if n_records < cfg.batch_size:
        yield Notice("warning", f"{n_records} examples but --batch-size {cfg.batch_size}: "
                     "mlx-lm would refuse; ppltop scores them in one smaller batch")
    empty = frozen.empty_after_truncation
    if empty:
        lines = ", ".join(str(e.line) for e in empty[:5])
        yield Notice("warning", f"{len(empty)} examples have no token left to score within "
                     f"--max-seq-length {cfg.max_seq_length} (their prompt fills it; lines "
                     f"{lines}): they count in neither figure")
    n_trunc = sum(1 for e in frozen.examples if len(e.tokens) > cfg.max_seq_length)
    if n_trunc:
        how = ("scored whole in overlapping windows" if cfg.long_sequences == "window"
               else "truncated as mlx-lm does")
        yield Notice("warning", f"{n_trunc} examples are longer than --max-seq-length "
                     f"{cfg.max_seq_length}: {how}")

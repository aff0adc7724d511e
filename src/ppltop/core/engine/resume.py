"""Resume: which batches of an interrupted run are read back instead of scored again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..data.batching import Segment
from ..store.records import BatchLine

if TYPE_CHECKING:
    from ..store.run_dir import RunRecord


@dataclass(frozen=True)
class ReplayedBatch:
    """One label's record of a batch the interrupted run completed."""

    loss_sum: float
    n_tokens: int
    results: list[Any]
    """The ExampleResults it completed, as the run directory stored them."""


def replayable(record: RunRecord | None, batches: list[list[Segment]], labels: list[str]
               ) -> dict[int, dict[str, ReplayedBatch]]:
    """Batches of `record` (a `run_dir.RunRecord`) that every label completed and whose
    examples are all complete; a window of an unfinished example is scored again."""
    if record is None:
        return {}
    by_batch: dict[int, dict[str, BatchLine]] = {}
    for event in record.events:
        if isinstance(event, BatchLine):
            by_batch.setdefault(event.batch, {})[event.label] = event
    replay = {}
    for number in record.batches_done:
        if number >= len(batches):
            continue
        examples = {s.example for s in batches[number]}
        if not all(i in record.results.get(label, {}) for label in labels for i in examples):
            continue
        replay[number] = {
            label: ReplayedBatch(event.loss_sum, event.n_tokens,
                                 [record.results[label][i] for i in event.examples])
            for label, event in by_batch[number].items() if label in labels}
    return replay

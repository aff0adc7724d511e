"""Write the event stream of a run to its run directory as it passes by."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

from .events import BatchScored, Notice, RunFinished, RunStarted
from .export import export_run
from .run_store import RunWriter


def recorded(events: Iterator, writer: RunWriter) -> Iterator:
    """Yield every event unchanged, after making it durable in the run directory; at the
    end, export summary.csv, examples.csv and tokens-*.npz next to it."""
    lines: dict[int, int] = {}
    try:
        for event in events:
            if isinstance(event, RunStarted):
                if event.source is not None:
                    lines = {e.index: e.line for e in event.source.examples}
                plan = asdict(event.plan)
                plan.pop("example_tokens", None)
                writer.append({"type": "started", "plan": plan})
            elif isinstance(event, Notice):
                writer.append({"type": "notice", "level": event.level, "message": event.message})
            elif isinstance(event, BatchScored) and not event.replayed:
                writer.write_batch(event.label, event.batch, event.loss_sum, event.n_tokens,
                                   event.results, event.elapsed_s)
            elif isinstance(event, RunFinished):
                writer.append({"type": "finished", "cancelled": event.cancelled,
                               "elapsed_s": event.elapsed_s,
                               "summaries": [s.to_dict() for s in event.summaries],
                               "comparisons": [c.to_dict() for c in event.comparisons]})
                export_run(writer.path, event.summaries, event.results, lines)
            yield event
    finally:
        writer.close()

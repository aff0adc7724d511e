"""Write the event stream of a run to its run directory as it passes by.

A failure of the scoring loop is recorded too (an `error` notice in events.jsonl) and raised
again as a `ScoringError` that names the batch it stopped at and how to continue: the run
directory then holds every batch before it, and `ppltop resume` finishes the run.

`PPLTOP_FAULT_AT_BATCH=k` injects such a failure for tests and drills: a `RuntimeError`
once batch k (0-based) has been scored, before it is written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict

from ..errors import ScoringError
from .events import BatchScored, DocumentSource, Event, Notice, RunFinished, RunStarted
from .export import export_run
from .records import FinishedLine, NoticeLine, StartedLine
from .run_dir import RunWriter
from .run_liveness import Heartbeat

FAULT_ENV = "PPLTOP_FAULT_AT_BATCH"


def fault_batch() -> int | None:
    """The batch `PPLTOP_FAULT_AT_BATCH` asks to fail at, or None."""
    raw = os.environ.get(FAULT_ENV, "").strip()
    return int(raw) if raw.isdigit() else None


def recorded(events: Iterator[Event], writer: RunWriter) -> Iterator[Event]:
    """Yield every event unchanged, after making it durable in the run directory; at the
    end, export summary.csv, examples.csv and tokens-*.npz next to it."""
    lines: dict[int, int] = {}
    source = None
    fault_at = fault_batch()
    labels: list[str] = []
    n_batches = 0
    batches_done = 0
    heartbeat = Heartbeat(writer.path)  # tells readers this run is being scored right now
    heartbeat.start()
    try:
        for event in events:
            if isinstance(event, RunStarted):
                labels, n_batches = event.plan.labels, event.plan.n_batches
                if event.source is not None:
                    source = event.source
                    lines = {e.index: e.line for e in source.examples}
                plan = asdict(event.plan)
                plan.pop("example_tokens", None)
                writer.append(StartedLine(plan))
            elif isinstance(event, Notice):
                writer.append(NoticeLine(event.level, event.message))
            elif isinstance(event, BatchScored) and not event.replayed:
                if event.batch == fault_at:
                    raise RuntimeError(f"{FAULT_ENV}={fault_at}: a fault injected in batch "
                                       f"{fault_at + 1}")
                writer.write_batch(event.label, event.batch, event.loss_sum, event.n_tokens,
                                   event.results, event.elapsed_s)
            elif isinstance(event, RunFinished):
                yield from _record_finish(event, writer, heartbeat, lines, source)
            if isinstance(event, BatchScored) and labels and event.label == labels[-1]:
                batches_done = event.batch + 1
            yield event
    except Exception as exc:
        message = _failure(exc, batches_done, n_batches, writer.path)
        heartbeat.stop("failed", message)
        try:
            writer.append(NoticeLine("error", message))
        except OSError:
            pass  # the disk itself may be the fault; the batches written stay readable
        raise ScoringError(message) from exc
    finally:
        heartbeat.stop("stopped")  # interrupted (a signal, q): resumable
        close = getattr(events, "close", None)
        if close is not None:
            close()
        writer.close()


def _record_finish(event: RunFinished, writer: RunWriter, heartbeat: Heartbeat,
                   lines: dict[int, int], source: DocumentSource | None
                   ) -> Iterator[Notice]:
    """Write the run's end, then its exports; a warning (yielded) when they cannot be."""
    writer.append(FinishedLine(event.cancelled, event.elapsed_s,
                               [s.to_dict() for s in event.summaries],
                               [c.to_dict() for c in event.comparisons]))
    # after the line, so that a reader told "finished" finds the end in the file
    heartbeat.stop("stopped" if event.cancelled else "finished")
    try:
        export_run(writer.path, event.summaries, event.results, lines, source,
                   event.comparisons)
    except OSError as e:  # a full disk at the very end: the run itself is whole
        yield Notice("warning", f"could not write the exports (summary.csv, "
                     f"examples.csv, tokens-*.npz) to {writer.path} ({e.strerror}); "
                     f"the run is complete there: ppltop open {writer.path}")


def _failure(exc: Exception, batches_done: int, n_batches: int, path: object) -> str:
    """What the log and the run directory say when scoring stopped on `exc`."""
    where = (f"in batch {batches_done + 1} of {n_batches or '?'}"
             if not n_batches or batches_done < n_batches else "after the last batch")
    return (f"scoring stopped {where} by {type(exc).__name__}: {exc}; the run directory "
            f"keeps the {batches_done} batches before it; continue with: "
            f"ppltop resume {path}")

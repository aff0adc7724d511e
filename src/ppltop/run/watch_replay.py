"""A watch's folder read back (`ppltop open WATCH_DIR`): its record, the runs it scored to
their end, and their figures merged into one run's, compared with the reference the watch
was started with."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..core.errors import InputError
from ..core.store.records import WATCH_FILE, WatchRecord


def merge_finished(finished: list, reference: str | None):
    """Several runs' `RunFinished` on the same data as one, base first and checkpoints by
    iteration; the comparisons against the reference from the core's one function, on
    the merged results."""
    from ..core.checkpoint_files import label_order
    from ..core.figures.compare import compare_labels, resolve_reference
    from ..core.store.events import RunFinished

    summaries, results = [], {}
    for event in finished:
        summaries += event.summaries
        results.update(event.results)
    summaries.sort(key=lambda s: label_order(s.label))
    labels = [s.label for s in summaries]
    comparisons = []
    if len(labels) > 1:
        comparisons = compare_labels(results, labels, resolve_reference(labels, reference))
    return RunFinished(summaries, False, sum(e.elapsed_s for e in finished), comparisons,
                       results)


def read_watch(watch_dir: Path):
    """The watch's `WatchRecord` (what it follows, the reference asked for)."""
    from ..core.store.run_dir import read_run_set

    record = read_run_set(watch_dir)
    if not isinstance(record, WatchRecord):
        raise InputError(f"{watch_dir}: not a watch's folder (no {WATCH_FILE})")
    return record


def scored_runs(watch_dir: Path) -> list[Path]:
    """The run directories of a watch's folder, base first and checkpoints by iteration."""
    from ..core.checkpoint_files import label_order
    from ..core.store.records import MANIFEST

    return sorted((p for p in Path(watch_dir).iterdir() if (p / MANIFEST).is_file()),
                  key=lambda p: label_order(p.name))


def watch_events(watch_dir: Path):
    """A watch's run directory read back as one run's events (`ppltop open WATCH_DIR`): the
    runs scored to their end, their batches, then their figures merged, compared with the
    reference the watch was started with (its `WatchRecord`)."""
    from dataclasses import replace as copy_with

    from ..core.figures.compare import resolve_reference
    from ..core.store.events import BatchScored, RunFinished, RunStarted
    from ..core.store.replay import RunFollower

    streams = [list(RunFollower(path, follow=False).events()) for path in scored_runs(watch_dir)]
    streams = [s for s in streams if isinstance(s[-1], RunFinished) and not s[-1].cancelled]
    if not streams:
        return
    plans = [next(e for e in s if isinstance(e, RunStarted)) for s in streams]
    labels = [label for started in plans for label in started.plan.labels]
    paths = [path for started in plans for path in started.plan.adapter_paths]
    reference = resolve_reference(labels, read_watch(watch_dir).reference)
    yield RunStarted(copy_with(plans[0].plan, labels=labels, adapter_paths=paths,
                               reference=reference), plans[0].source)
    for stream in streams:
        yield from (e for e in stream if isinstance(e, BatchScored))
    yield merge_finished([s[-1] for s in streams], reference)


def opened_watch(watch_dir: Path):
    """(config, manifest of its first run) of a watch read back: the config of the watch's
    own (its folders, its --reference), the machine and versions of its runs."""
    from ..core.store.replay import RunFollower

    runs = scored_runs(watch_dir)
    if not runs:
        raise InputError(f"{watch_dir}: a watch with no checkpoint scored yet; try again "
                         "once one is")
    watched = read_watch(watch_dir)
    first = RunFollower(runs[0], follow=False)
    config = replace(first.config, checkpoints=True, reference=watched.reference,
                     adapters=[Path(f) for f in watched.folders],
                     no_base=runs[0].name != "base")
    return config, first.manifest


def read_back_watch(request, record: WatchRecord):
    """`ppltop open WATCH_DIR`: every checkpoint the watch scored, as one run (the curve
    first in the dashboard), compared with its record's reference; `ppltop open
    WATCH_DIR/LABEL` shows one of them."""
    from .run_set_parts import ReadBack

    watch_dir = Path(request.run_dir)
    config, manifest = opened_watch(watch_dir)
    return ReadBack(request, config, manifest, lambda: watch_events(watch_dir), record=record)

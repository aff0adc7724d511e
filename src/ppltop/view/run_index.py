"""The runs of a folder as rows a person can tell apart: when, which model, which data,
which adapters, in what state, and the figures so far; and runs read back into one
`LiveRun` for the views (one run, or several side by side as `run:label`).

Textual-free; the runs screen shows these rows and reads runs in a worker thread, passing a
`progress` callback that is told what is being read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.errors import InputError
from ..core.store.events import BatchScored, RunFinished, RunPlan, RunStarted
from ..core.store.records import BatchLine
from ..core.store.run_dir import EVENTS, MANIFEST, parts_of, read_events, read_run, read_run_set
from ..core.store.run_liveness import state_of
from .live import LabelLive, LiveRun
from .surprisal import SurprisalIndex


@dataclass(frozen=True)
class RunRow:
    path: Path
    date: str
    """When the run started, `2026-12-01 12:32` (the manifest's time, UTC)."""
    model: str
    data: str
    """The split file as `folder/file.jsonl`: runs of different data look different."""
    adapters: str
    status: str
    batches: str
    """`done/total`."""
    figures: str
    """`label ppl X` per label once finished; for a damaged run, what is wrong."""


def _short(path: str | None) -> str:
    if not path:
        return "–"
    p = Path(path)
    return p.name if p.exists() else path  # a Hugging Face id (or a moved folder) whole


def _data(data_file: str | None) -> str:
    if not data_file:
        return "–"
    p = Path(data_file)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def run_row(path: Path, status: str | None = None) -> RunRow:
    """One run directory as a row; `status` overrides the run's own word for its state."""
    try:
        record = read_run(path, with_results=False)
    except InputError as e:
        return RunRow(path, "–", "–", "–", "–", "damaged", "–", str(e))
    m = record.manifest
    figures = record.finished.ppl_text(" ") if record.finished else ""
    adapters = ", ".join(a.label for a in m.adapters) or "none"
    state = state_of(path, record.events)
    if state.resumable and not figures:
        figures = f"resumable: ppltop resume {path}"
    return RunRow(path, (m.created or "–")[:16].replace("T", " "),
                  _short(m.config.get("model")), _data(m.data_file),
                  adapters, status or state.state,
                  f"{len(record.batches_done)}/{m.n_batches or '?'}", figures)


def run_rows(folder: Path, status_of: Callable[[Path], str] | None = None) -> list[RunRow]:
    """A row per run directory of `folder`, and one per run set (its parts not apart),
    newest first; `status_of(path)` gives the state word (the run's own when None)."""
    if not folder.is_dir():
        return []
    paths = [p for p in folder.iterdir() if (p / MANIFEST).is_file()]
    rows = [run_row(p, status_of(p) if status_of else None) for p in paths]
    rows += run_set_rows(folder)
    return sorted(rows, key=lambda r: (r.date, r.path.name), reverse=True)


def run_set_rows(folder: Path) -> list[RunRow]:
    """A row per run set in `folder` (a watch, a run over splits), read through its record,
    by name: its kind as status, its parts as figures (what `ppltop runs` lists); when,
    which model, data and adapters from its first part."""
    rows = []
    for path in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            record = read_run_set(path)
        except InputError as e:
            rows.append(RunRow(path, "–", "–", "–", "–", "damaged", "–", str(e)))
            continue
        if record is None:
            continue
        kind = record.KIND
        parts = parts_of(path, record)
        runs = f"{len(parts)} runs: {', '.join(parts)}" if parts else "no run yet"
        first = (run_row(path / parts[0]) if parts
                 else RunRow(path, "–", "–", "–", "–", kind, "–", ""))
        rows.append(replace(first, path=path, status=kind, batches="–",
                            figures=f"{runs}; see them with: ppltop open {path}"))
    return rows


Progress = Callable[[str, float], None]
"""Told what is read (`reading a-base: batch 3 of 12`) and the share done, 0 to 1."""


def read_runs(paths: list[Path], progress: Progress | None = None,
              prefix: bool | None = None) -> LiveRun:
    """The runs at `paths` in one LiveRun, every event replayed (a single run with its
    RunFinished, so its summaries and mlx-lm lines come along). With several runs, labels
    become `run:label` (`prefix` forces either way) and the first run's examples are the
    source: the runs screen compares only runs of the same data. The labels of a run scored
    to its end keep their summaries; where the runs have scored different examples (one
    stopped part-way) the views compare them over those they share (`LiveRun.common`)."""
    from ..core.store.replay import RunFollower

    prefix = len(paths) > 1 if prefix is None else prefix
    report = progress or (lambda text, share: None)
    total = sum(sum(1 for e in read_events(p / EVENTS) if isinstance(e, BatchLine))
                for p in paths) or 1
    done = 0
    if not prefix:  # one run as it was: its own labels and its finish
        follower = RunFollower(paths[0], follow=False)
        live = LiveRun(paths[0].name, follower.config.split)
        report(f"reading {paths[0].name}: model's tokenizer and data", 0.0)
        for event in follower.events():
            live.apply(event)
            if isinstance(event, BatchScored):
                done += 1
                report(f"reading {paths[0].name}: batch {done} of {total}", done / total)
        return live
    return _merged(paths, report, total)


def _merged(paths: list[Path], report: Progress, total: int) -> LiveRun:
    from ..core.store.replay import RunFollower

    live = LiveRun(" + ".join(p.name for p in paths))  # the runs compared, by name
    labels, source, most = [], None, 0
    streams, done = [], 0
    for path in paths:
        report(f"reading {path.name}: model's tokenizer and data", done / total)
        events = []
        follower = RunFollower(path, follow=False)
        live.split = live.split or follower.config.split
        for event in follower.events():
            events.append(event)
            if isinstance(event, BatchScored):
                done += 1
                report(f"reading {path.name}: batch {done} of {total}", done / total)
        started = next(e for e in events if isinstance(e, RunStarted))
        source = source or started.source
        most = max(most, started.plan.targets_per_label)
        labels += [f"{path.name}:{label}" for label in started.plan.labels]
        streams.append((path.name, events))
    live.plan = RunPlan(labels, [None] * len(labels), len(source.examples), 0, most,
                        source.path, "", 0.0)
    live.source = source
    live.labels = {label: LabelLive(label, most) for label in labels}
    live.index = {label: SurprisalIndex() for label in labels}
    for name, events in streams:
        for event in events:
            if isinstance(event, BatchScored):
                live.apply(replace(event, label=f"{name}:{event.label}"))
            elif isinstance(event, RunFinished) and not event.cancelled:
                # a run scored to its end: its labels' own summaries (mlx-lm's line)
                for summary in event.summaries:
                    label = f"{name}:{summary.label}"
                    live.label_summaries[label] = replace(summary, label=label)
    return live

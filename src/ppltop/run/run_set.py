"""A run set: one run, several splits or a watch, each part a run directory of its own;
a run set of several parts is marked by its record (`records.SplitsRecord`,
`records.WatchRecord`). `start` scores one as the request says, `open_run_set` reads any
of them back; `RunSetParts` is what a run over splits and a watch share while they score.

    RUN_DIR/                  one run: manifest.json, events.jsonl, results/
    RUN_DIR/splits.json       several splits: SplitsRecord (the splits, the reference)
    RUN_DIR/watch.json        a watch: WatchRecord (the folders, the reference, the stop)
    RUN_DIR/<part>/           each part of a run set: a run of its own (open, resume)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


def say_loading() -> None:
    """A progress hint before the model loads, for people (not for logs)."""
    if sys.stderr.isatty():
        print("ppltop: loading model and data ...", file=sys.stderr, flush=True)


class RunSetParts:
    """The parts of a run set scored one at a time in this process, the model loaded once:
    each part an evaluation recorded in its own run directory RUN_DIR/<part>; `stop` ends
    the part in flight after its batch and starts no other."""

    def __init__(self, request, blas):
        self.request, self.blas = request, blas
        self.run_dir = Path(request.run_dir)
        self.current = None
        """The evaluation scoring now, None between parts."""
        self.stopping = False

    def writer_of(self, name: str, evaluation):
        """The writer of the part's run directory (refused where a run is, unless
        --overwrite)."""
        from ..core.store.run_dir import RunWriter

        return RunWriter(self.run_dir / name, evaluation.manifest(self.blas),
                         overwrite=self.request.overwrite)

    def recorded(self, evaluation, writer):
        """The part's events, each recorded in its run directory first."""
        from ..core.store.recorder import recorded

        self.current = evaluation
        try:
            yield from recorded(evaluation.events(), writer)
        finally:
            self.current = None

    def stop(self) -> None:
        self.stopping = True
        if self.current is not None:
            self.current.cancel()


def start(config, request, blas) -> int:
    """Score what `config` asks, as `request` says (the run directory is chosen)."""
    if request.watch:
        from .detach import detach_watch
        from .watch import watch

        return detach_watch(request) if request.detach else watch(config, request, blas)
    if len(config.all_splits) > 1:
        from .splits import run_splits

        return run_splits(config, request, blas)
    if request.detach:
        from .detach import detach_run

        return detach_run(request)
    from ..core.engine.evaluation import Evaluation
    from .score import run_evaluation

    return run_evaluation(Evaluation(config), request, blas)


@dataclass(frozen=True)
class OpenedRunSet:
    """A run set read back (`ppltop open`): the config it was scored with, the manifest of
    its first run (the machine and versions), and all of it as one stream of events."""

    config: object
    manifest: object
    events: Callable[[], Iterator]
    stop: Callable[[], None] = lambda: None
    """Stops following a run being written (nothing to stop in a finished one)."""
    printed: Callable[[object], int] | None = None
    """Headless, when it is not printed as one run's events are: a run over splits prints
    each split under its name, then the labels across them."""


def read_back(request) -> OpenedRunSet:
    """The run set in `request.run_dir`, by its record: a watch (one run per checkpoint,
    read as one), a run over splits (one run per split, in order), or one run."""
    from ..core.store.records import SplitsRecord, WatchRecord
    from ..core.store.replay import RunFollower
    from ..core.store.run_dir import read_run_set

    record = read_run_set(request.run_dir)
    if isinstance(record, WatchRecord):
        from .watch_replay import read_back_watch

        return read_back_watch(request.run_dir)
    if isinstance(record, SplitsRecord):
        from .splits import read_back_splits

        return read_back_splits(request.run_dir, request.follow)
    follower = RunFollower(request.run_dir, follow=request.follow)
    return OpenedRunSet(follower.config, follower.manifest, follower.events, follower.stop)


def open_run_set(request) -> int:
    """`ppltop open RUN_DIR`: any run set, headless or under the dashboard."""
    opened = read_back(request)
    if request.headless and opened.printed is not None:
        return opened.printed(request)
    if request.headless:
        from .score import run_headless

        return run_headless(opened.config, request, None, opened.events, opened.stop)
    from .dashboard import run_dashboard

    return run_dashboard(opened.config, request, None, opened.events, opened.stop,
                         recorded=opened.manifest)

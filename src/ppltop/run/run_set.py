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


def open_run_set(request) -> int:
    """`ppltop open RUN_DIR`: a watch (one run per checkpoint, opened as one), a run over
    splits (one run per split, opened in order) or one run."""
    from ..core.store.records import SplitsRecord, WatchRecord
    from ..core.store.run_dir import read_run_set

    record = read_run_set(request.run_dir)
    if isinstance(record, WatchRecord):
        from .watch_replay import open_watch

        return open_watch(request)
    if isinstance(record, SplitsRecord):
        from .splits import open_splits

        return open_splits(request)
    from .runs import open_run

    return open_run(request)

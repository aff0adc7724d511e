"""A run set: one run, several splits or a watch, each part a run directory of its own;
a run set of several parts is marked by its record (`records.SplitsRecord`,
`records.WatchRecord`). `start` scores one as the request says, `open_run_set` reads any
of them back; what the modes share lives in `run_set_parts`.

    RUN_DIR/                  one run: manifest.json, events.jsonl, results/
    RUN_DIR/splits.json       several splits: SplitsRecord (the splits, the reference)
    RUN_DIR/watch.json        a watch: WatchRecord (the folders, the reference, the stop)
    RUN_DIR/<part>/           each part of a run set: a run of its own (open, resume)
"""

from __future__ import annotations

from .run_set_parts import OpenedRunSet


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

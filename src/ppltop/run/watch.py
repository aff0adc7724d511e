"""`ppltop --watch`: follow adapter folders while `mlx_lm.lora --train` writes them.

The model is loaded once. The base model is scored first (unless --no-base), then every
checkpoint already in the folders, then each new one as it is complete
(`checkpoint_watch.CheckpointWatcher`), the newest waiting one first. Each is scored once,
as its own ordinary run, in a sub-folder of the watch's run directory:

    RUN_DIR/watch.json            what is watched (marks the folder as a watch)
    RUN_DIR/adapters/<label>/     the checkpoint, frozen (config + weights)
    RUN_DIR/<label>/              its run directory: `ppltop open`, `ppltop resume` work

Ctrl-C (or SIGTERM) while waiting ends the watch at once; during a checkpoint it stops
after the batch in flight (that checkpoint's run stays resumable and is left out of the
curve); headless, SIGHUP stops it the same way and it exits 130, as a stopped run does
(`stops.StopPolicy`, the one policy of both). Then the figures of everything scored are
printed as one run's, with the checkpoint table, and written with --json / --csv.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from ..core.errors import InputError
from ..core.store.records import WatchRecord
from .stops import StopPolicy, stop_words
from .watch_replay import read_watch
from .watch_session import NOT_SCORED, WatchSession, not_scored, ready_checkpoints


def watch(config, request, blas) -> int:
    """Score the base model and every checkpoint of the folders, then each new one, until
    Ctrl-C or SIGTERM (or q in the dashboard); print and write the figures of all of them."""
    run_dir = Path(request.run_dir)
    _start(run_dir, config, request.overwrite)
    print(f"ppltop: run directory {run_dir} (one run per checkpoint)", file=sys.stderr)
    if not request.headless:
        return _watch_in_dashboard(config, request, blas, run_dir)
    session = WatchSession(config, request, blas, run_dir, None)
    stops = StopPolicy(session.stop, lambda signum: session.say(
        f"stopping ({stop_words(signum)})"))
    try:
        with stops:  # before the model loads: Ctrl-C then ends cleanly too
            _score_headless(session)
    except KeyboardInterrupt:  # a second Ctrl-C: what is scored is kept all the same
        session.cut_short = True
    if stops.stopped_by:
        _record_stop(run_dir, stops.stopped_by)
    return _finish(session, config, request, blas, stops)


def _score_headless(session: WatchSession) -> None:
    """The base model, every checkpoint there, then each new one, until the session stops."""
    from ..core.model.loader import ModelHandle

    session.handle = ModelHandle.load(session.config.model)
    if not session.config.no_base and not session.stopping:
        session.score("base", [])
    for ready in ready_checkpoints(session):
        if ready is None:
            continue
        label, frozen = ready
        try:
            session.score(label, [frozen])
        except NOT_SCORED as e:
            not_scored(session, label, e)


def _finish(session: WatchSession, config, request, blas, stops: StopPolicy) -> int:
    """The figures of everything the watch scored, printed and written. Ending the watch
    is its normal end (0), unless it cut a checkpoint short or the terminal hung up: then
    it was stopped, as a plain run is (130)."""
    from ..headless import HeadlessPrinter
    from .outputs import write_outputs

    merged = session.merged()
    if merged.summaries:
        HeadlessPrinter(config, blas, out=sys.stdout, err=sys.stderr).handle(merged)
        write_outputs(request, config, merged, blas)
    else:
        print("ppltop: watch: nothing was scored", file=sys.stderr)
    if stops.hung_up:
        print(f"ppltop: watch: stopped by {stops.stopped_by}; what it scored: ppltop open "
              f"{session.run_dir}", file=sys.stderr, flush=True)
    return 130 if session.cut_short or stops.hung_up else 0


def _watch_in_dashboard(config, request, blas, run_dir: Path) -> int:
    """The watch under the dashboard: one run whose labels grow as checkpoints come (the
    curve first); q, Ctrl-C or a signal ends it. The model loads, and the base model's
    run is prepared, before the dashboard starts: bad input is one line, as for any run."""
    from ..core.model.loader import ModelHandle
    from .dashboard import run_dashboard

    notes: list[str] = []
    session = WatchSession(config, request, blas, run_dir, None, say=notes.append)
    session.handle = ModelHandle.load(config.model)
    first = None if config.no_base else session.prepare("base", [])
    status = run_dashboard(config, request, blas, lambda: dashboard_events(session, first, notes),
                           session.stop, resumable=False)
    for line in session.left_out:  # under the figures the dashboard left on the terminal
        print(f"ppltop: watch: {line}", file=sys.stderr)
    if not session.finished:
        print("ppltop: watch: nothing was scored", file=sys.stderr)
    if status == 1:
        return 1
    # as headless: ending the watch (q, Ctrl-C, a signal) is its normal end, unless it cut
    # a checkpoint short
    return 130 if session.cut_short else 0


def dashboard_events(session: WatchSession, first, notes: list[str]):
    """The watch as one run's events: the first evaluation's start, then each checkpoint
    as `LabelAdded`, its batches, and `LabelFinished` once it is scored to its end; what
    the watch says as notices; at the end the merged figures."""
    from ..core.store.events import LabelAdded, LabelFinished, Notice, RunFinished, RunStarted

    started = False

    def relayed(name: str, prepared):
        nonlocal started
        for event in session.stream(name, prepared):
            if isinstance(event, RunStarted):
                if started:
                    yield LabelAdded(name, event.plan.adapter_paths[-1])
                    continue
                started = True  # the watch's plan: its --reference, scored yet or not
                wanted = session.config.reference or event.plan.reference
                event = replace(event, plan=replace(event.plan, reference=wanted))
            elif isinstance(event, RunFinished):
                if not event.cancelled:
                    yield LabelFinished(event.summaries[-1])
                continue
            yield event

    def said():  # what the watch said since the last step, for the dashboard's log
        while notes:
            yield Notice("info", f"watch: {notes.pop(0)}")

    if first is not None and not session.stopping:
        yield from relayed("base", first)
        yield from said()
    for ready in ready_checkpoints(session):
        if ready is not None:
            label, frozen = ready
            try:
                yield from relayed(label, session.prepare(label, [frozen]))
            except NOT_SCORED as e:
                not_scored(session, label, e)
        yield from said()
    yield from said()  # the stop's own words
    if session.finished:  # nothing scored: no figures, the dashboard says it stopped
        yield session.merged()


def _start(run_dir: Path, config, overwrite: bool) -> None:
    from ..core.store.run_dir import start_run_set

    record = WatchRecord(tuple(str(f) for f in config.adapters), config.reference)
    start_run_set(run_dir, record, overwrite)


def _record_stop(run_dir: Path, stopped_by: str) -> None:
    """The watch's record says which signal ended it (`ppltop runs`, a later reader)."""
    from ..core.store.run_dir import write_run_set

    try:
        write_run_set(run_dir, replace(read_watch(run_dir), stopped_by=stopped_by))
    except InputError:  # the runs are all there; only this word is lost
        pass

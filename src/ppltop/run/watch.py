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

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from ..core.errors import InputError, ScoringError
from ..core.mlx_lm import present
from .stops import StopPolicy, stop_words

WATCH_FILE = "watch.json"
POLL_S = 0.5
NOT_SCORED = (InputError, ScoringError, OSError)
"""What one checkpoint may fail with while the watch goes on: named in one line."""


class WatchSession:
    """The evaluations of one watch, their results merged into one run's figures.

    What it has to say (a checkpoint scored, one it cannot score) goes to `say`: stderr
    when headless, the dashboard's log under the dashboard."""

    def __init__(self, config, args, blas, run_dir: Path, handle, say=None):
        self.config, self.args, self.blas = config, args, blas
        self.run_dir = Path(run_dir)
        self.handle = handle
        self.say = say or _to_stderr
        self.how_to_end = "Ctrl-C" if say is None else "q"
        self.finished: list = []
        """`RunFinished` of every label scored to its end, in scoring order."""
        self.left_out: list[str] = []
        """A line for each checkpoint stopped before its end (resumable, not on the curve)."""
        self.current = None
        self.stopping = False
        self.cut_short = False

    def prepare(self, name: str, adapters: list[Path]):
        """The evaluation of the base model, or of one frozen checkpoint, and the writer of
        its run directory RUN_DIR/<name>: bad input fails here, before anything is scored."""
        from ..core.engine.evaluation import Evaluation
        from ..core.store.run_dir import RunWriter

        config = replace(self.config, adapters=adapters, checkpoints=False,
                         no_base=bool(adapters), reference=None)
        evaluation = Evaluation(config, handle=self.handle)
        evaluation.prepare()
        writer = RunWriter(self.run_dir / name, evaluation.manifest(self.blas),
                           overwrite=getattr(self.args, "overwrite", False))
        return evaluation, writer

    def stream(self, name: str, prepared):
        """The events of one evaluation, each recorded in its run directory first; its
        `RunFinished` is kept for the merged figures (and yielded as well)."""
        from ..core.store.events import RunFinished
        from ..core.store.recorder import recorded

        evaluation, writer = prepared
        self.current = evaluation
        try:
            for event in recorded(evaluation.events(), writer):
                if isinstance(event, RunFinished):
                    self._keep(name, event)
                yield event
        finally:
            self.current = None

    def score(self, name: str, adapters: list[Path]) -> None:
        """One evaluation, headless: its progress on stderr as a run's."""
        from ..core.store.events import RunFinished
        from ..headless import HeadlessPrinter

        printer = HeadlessPrinter(self.config, self.blas, out=sys.stdout, err=sys.stderr)
        for event in self.stream(name, self.prepare(name, adapters)):
            if not isinstance(event, RunFinished):  # the watch prints the figures at its end
                printer.handle(event)

    def _keep(self, name: str, event) -> None:
        if event.cancelled:
            self.cut_short = True
            line = (f"{name} stopped before its end; left out of the curve "
                    f"(continue it with: ppltop resume {self.run_dir / name})")
            self.left_out.append(line)
            self.say(line)
            return
        self.finished.append(event)
        s = event.summaries[-1]
        mlx = f", mlx-lm {s.mlx_lm.loss:.4f}" if present(s.mlx_lm) else ""
        self.say(f"{s.label} scored: loss {s.loss:.4f} ppl {s.ppl:.3f}{mlx} "
                 f"({len(self.finished)} scored)")

    def stop(self) -> None:
        self.stopping = True
        if self.current is not None:
            self.current.cancel()

    def merged(self):
        """Everything scored, as one run's `RunFinished`."""
        return merge_finished(self.finished, self.config.reference)


def _to_stderr(text: str) -> None:
    print(f"ppltop: watch: {text}", file=sys.stderr, flush=True)


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
    from ..core.store.records import WatchRecord

    where = Path(watch_dir) / WATCH_FILE
    try:
        return WatchRecord.from_dict(json.loads(where.read_text()), str(where))
    except (OSError, ValueError) as e:
        raise InputError(f"{where}: unreadable ({e}); the watch's folder is damaged") from e


def scored_runs(watch_dir: Path) -> list[Path]:
    """The run directories of a watch's folder, base first and checkpoints by iteration."""
    from ..core.checkpoint_files import label_order
    from ..core.store.run_dir import MANIFEST

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


def open_watch(args) -> int:
    """`ppltop open WATCH_DIR`: every checkpoint the watch scored, as one run (the curve
    first in the dashboard); `ppltop open WATCH_DIR/LABEL` shows one of them."""
    from .score import is_headless, run_headless

    config, manifest = opened_watch(args.run_dir)

    def events():
        return watch_events(args.run_dir)

    if is_headless(args):
        return run_headless(config, args, None, events, lambda: None)
    from .dashboard import run_dashboard

    return run_dashboard(config, args, None, events, lambda: None, recorded=manifest)


def watch(config, args, blas, run_dir: Path) -> int:
    """Score the base model and every checkpoint of the folders, then each new one, until
    Ctrl-C or SIGTERM (or q in the dashboard); print and write the figures of all of them."""
    from .score import is_headless

    run_dir = Path(run_dir)
    _start(run_dir, config, args)
    print(f"ppltop: run directory {run_dir} (one run per checkpoint)", file=sys.stderr)
    if not is_headless(args):
        return _watch_in_dashboard(config, args, blas, run_dir)
    session = WatchSession(config, args, blas, run_dir, None)
    stops = StopPolicy(session.stop, lambda signum: session.say(
        f"stopping ({stop_words(signum)})"))
    try:
        with stops:  # before the model loads: Ctrl-C then ends cleanly too
            _score_headless(session)
    except KeyboardInterrupt:  # a second Ctrl-C: what is scored is kept all the same
        session.cut_short = True
    if stops.stopped_by:
        _record_stop(run_dir, stops.stopped_by)
    return _finish(session, config, args, blas, stops)


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
            _not_scored(session, label, e)


def _finish(session: WatchSession, config, args, blas, stops: StopPolicy) -> int:
    """The figures of everything the watch scored, printed and written. Ending the watch
    is its normal end (0), unless it cut a checkpoint short or the terminal hung up: then
    it was stopped, as a plain run is (130)."""
    from ..headless import HeadlessPrinter
    from .outputs import write_outputs

    merged = session.merged()
    if merged.summaries:
        HeadlessPrinter(config, blas, out=sys.stdout, err=sys.stderr).handle(merged)
        write_outputs(args, config, merged, blas)
    else:
        print("ppltop: watch: nothing was scored", file=sys.stderr)
    if stops.hung_up:
        print(f"ppltop: watch: stopped by {stops.stopped_by}; what it scored: ppltop open "
              f"{session.run_dir}", file=sys.stderr, flush=True)
    return 130 if session.cut_short or stops.hung_up else 0


def _watch_in_dashboard(config, args, blas, run_dir: Path) -> int:
    """The watch under the dashboard: one run whose labels grow as checkpoints come (the
    curve first); q, Ctrl-C or a signal ends it. The model loads, and the base model's
    run is prepared, before the dashboard starts: bad input is one line, as for any run."""
    from ..core.model.loader import ModelHandle
    from .dashboard import run_dashboard

    notes: list[str] = []
    session = WatchSession(config, args, blas, run_dir, None, say=notes.append)
    session.handle = ModelHandle.load(config.model)
    first = None if config.no_base else session.prepare("base", [])
    args.run_dir = run_dir
    status = run_dashboard(config, args, blas, lambda: dashboard_events(session, first, notes),
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
                _not_scored(session, label, e)
        yield from said()
    yield from said()  # the stop's own words
    if session.finished:  # nothing scored: no figures, the dashboard says it stopped
        yield session.merged()


def _not_scored(session: WatchSession, label: str, error: Exception) -> None:
    session.cut_short = session.cut_short or isinstance(error, ScoringError)
    session.say(f"{label} not scored: {error}")


def ready_checkpoints(session: WatchSession):
    """(label, frozen adapter folder) of each checkpoint as it is complete, the newest
    waiting one first, until the session stops; says once when it starts waiting, and
    yields None then."""
    from ..core.checkpoint_files import checkpoint_label, file_iteration
    from ..core.model.checkpoint_watch import CheckpointWatcher, snapshot_adapter

    watchers = [CheckpointWatcher(folder) for folder in session.config.adapters]
    pending: list = []
    waiting_said = False
    while not session.stopping:
        for watcher in watchers:
            pending += [(watcher, path) for path in watcher.ready()]
        if not pending:
            # "waiting for new" once every checkpoint already there is scored or refused
            if not waiting_said and not any(w.settling() for w in watchers):
                session.say(f"waiting for new checkpoints in "
                            f"{', '.join(str(w.folder) for w in watchers)} "
                            f"({session.how_to_end} ends)")
                waiting_said = True
                yield None  # the dashboard's log shows it now, not after the next checkpoint
            time.sleep(POLL_S)
            continue
        pending.sort(key=lambda item: file_iteration(item[1]) or 0)
        watcher, path = pending.pop()  # the newest: the one the user cares most about
        label = checkpoint_label(watcher.folder, path)
        waiting_said = False
        try:
            frozen = snapshot_adapter(watcher.folder, path, session.run_dir / "adapters")
        except OSError as e:
            session.say(f"{label} not scored: {e}")
            continue
        yield label, frozen


def _start(run_dir: Path, config, args) -> None:
    from ..core.store.records import WatchRecord
    from ..core.store.run_dir import start_run_set

    record = WatchRecord(tuple(str(f) for f in config.adapters), config.reference)
    start_run_set(run_dir, WATCH_FILE, record.to_dict(), "a watch",
                  getattr(args, "overwrite", False))


def _record_stop(run_dir: Path, stopped_by: str) -> None:
    """The watch's record says which signal ended it (`ppltop runs`, a later reader)."""
    from dataclasses import replace as copy_with

    path = Path(run_dir) / WATCH_FILE
    try:
        path.write_text(json.dumps(copy_with(read_watch(run_dir), stopped_by=stopped_by)
                                   .to_dict(), indent=2) + "\n")
    except (OSError, InputError):  # the runs are all there; only this word is lost
        pass


def detach_watch(argv: list[str], run_dir: Path, args) -> int:
    """`--watch --detach`: the watch in its own session beside the training; its log and
    runs in RUN_DIR."""
    import os

    run_dir.mkdir(parents=True, exist_ok=True)
    child_args = [a for a in argv if a != "--detach"]
    if args.run_dir is None:
        child_args += ["--run-dir", str(run_dir)]
    with open(run_dir / "ppltop.log", "ab") as log:
        child = subprocess.Popen([sys.executable, "-m", "ppltop", *child_args, "--headless"],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 start_new_session=True, env={**os.environ})
    print(f"ppltop: watching in the background (pid {child.pid}; stop it with kill "
          f"{child.pid}), log in {run_dir / 'ppltop.log'}; its runs: ppltop runs {run_dir}",
          file=sys.stderr)
    return 0

"""One watch's scoring: `WatchSession`, the run set of a watch (the base model and each
checkpoint a part, scored as it comes, their results kept for the merged figures) and its
one stream; `ready_checkpoints`, each checkpoint as its files are complete, frozen in the
watch's folder."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

from ..core.errors import InputError, ScoringError
from ..core.figures import formats as fmt
from ..core.mlx_lm import present
from ..core.store.records import WatchRecord
from .run_set_parts import RunSet
from .watch_replay import merge_finished

POLL_S = 0.5
NOT_SCORED = (InputError, ScoringError, OSError)
"""What one checkpoint may fail with while the watch goes on: named in one line."""


class WatchSession(RunSet):
    """The evaluations of one watch, their results merged into one run's figures; its
    `WatchRecord` holds the reference every view compares with.

    What it has to say (a checkpoint scored, one it cannot score) goes to stderr when
    headless, to the dashboard's log (as `Notice`s in the stream) under the dashboard."""

    def __init__(self, config, request, blas, run_dir: Path, handle=None):
        request = replace(request, run_dir=Path(run_dir))
        super().__init__(config, request, blas,
                         WatchRecord(tuple(str(f) for f in config.adapters), config.reference))
        self.handle = handle
        self.notes: list[str] = []
        """What the watch said since the stream last passed it on (under the dashboard)."""
        self.say = _to_stderr if request.headless else self.notes.append
        self.how_to_end = "Ctrl-C" if request.headless else "q"
        self.parts_started = False
        """The stream has passed on its `RunStarted` (the next parts are `LabelAdded`)."""
        self.first = None
        """The base model's evaluation and writer, prepared (None: --no-base)."""
        self.finished: list = []
        """`RunFinished` of every label scored to its end, in scoring order."""
        self.left_out: list[str] = []
        """A line for each checkpoint stopped before its end (resumable, not on the curve)."""
        self.cut_short = False

    def prepare(self) -> None:
        """Mark the folder as a watch's, load the model once, prepare the base model's run:
        bad input is one line, as for any run."""
        from ..core.model.loader import ModelHandle
        from ..core.store.run_dir import start_run_set

        start_run_set(self.run_dir, self.record, self.request.overwrite)
        print(f"ppltop: run directory {self.run_dir} (one run per checkpoint)",
              file=sys.stderr)
        if self.handle is None:
            self.handle = ModelHandle.load(self.config.model)
        self.first = None if self.config.no_base else self.prepare_part("base", [])

    def prepare_part(self, name: str, adapters: list[Path]):
        """The evaluation of the base model, or of one frozen checkpoint, and the writer of
        its run directory RUN_DIR/<name>: bad input fails here, before anything is scored."""
        from ..core.engine.evaluation import Evaluation

        config = replace(self.config, adapters=adapters, checkpoints=False,
                         no_base=bool(adapters), reference=None)
        evaluation = Evaluation(config, handle=self.handle)
        evaluation.prepare()
        self.parts[name] = config
        return evaluation, self.writer_of(name, evaluation)

    def events(self):
        """The watch as one run's events: the first evaluation's start (its plan's
        reference the record's), then each checkpoint as `LabelAdded`, its batches, and
        `LabelFinished` once it is scored to its end; what the watch says as notices; at
        the end the merged figures."""
        if self.first is not None and not self.stopping:
            yield from self._relayed("base", self.first)
            yield from self._said()
        for ready in ready_checkpoints(self):
            if ready is not None:
                label, frozen = ready
                try:
                    yield from self._relayed(label, self.prepare_part(label, [frozen]))
                except NOT_SCORED as e:
                    not_scored(self, label, e)
            yield from self._said()
        yield from self._said()  # the stop's own words
        if self.finished:  # nothing scored: no figures, the dashboard says it stopped
            yield self.merged()

    def _relayed(self, name: str, prepared):
        from ..core.store.events import LabelAdded, LabelFinished, RunFinished, RunStarted

        for event in self.stream(name, prepared):
            if isinstance(event, RunStarted):
                if self.parts_started:
                    yield LabelAdded(name, event.plan.adapter_paths[-1])
                    continue
                self.parts_started = True
                # the watch's plan: the reference of its record, scored yet or not
                wanted = self.record.reference or event.plan.reference
                event = replace(event, plan=replace(event.plan, reference=wanted))
            elif isinstance(event, RunFinished):
                if not event.cancelled:
                    yield LabelFinished(event.summaries[-1])
                continue
            yield event

    def _said(self):
        """What the watch said since the last step, for the dashboard's log."""
        from ..core.store.events import Notice

        while self.notes:
            yield Notice("info", f"watch: {self.notes.pop(0)}")

    def stream(self, name: str, prepared):
        """The events of one evaluation, each recorded in its run directory first; its
        `RunFinished` is kept for the merged figures (and yielded as well)."""
        from ..core.store.events import RunFinished

        for event in self.recorded(*prepared):
            if isinstance(event, RunFinished):
                self._keep(name, event)
            yield event

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
        mlx = f", mlx-lm {fmt.loss(s.mlx_lm.loss)}" if present(s.mlx_lm) else ""
        self.say(f"{s.label} scored: loss {fmt.loss(s.loss)} ppl {fmt.ppl(s.ppl)}{mlx} "
                 f"({len(self.finished)} scored)")

    def merged(self):
        """Everything scored, as one run's `RunFinished`."""
        return merge_finished(self.finished, self.record.reference)


def _to_stderr(text: str) -> None:
    print(f"ppltop: watch: {text}", file=sys.stderr, flush=True)


def not_scored(session: WatchSession, label: str, error: Exception) -> None:
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

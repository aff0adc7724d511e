"""One watch's scoring: `WatchSession`, the evaluations of the base model and of each
checkpoint, their results kept for the merged figures; `ready_checkpoints`, each checkpoint
as its files are complete, frozen in the watch's folder."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

from ..core.errors import InputError, ScoringError
from ..core.figures import formats as fmt
from ..core.mlx_lm import present
from .run_set_parts import RunSetParts
from .watch_replay import merge_finished

POLL_S = 0.5
NOT_SCORED = (InputError, ScoringError, OSError)
"""What one checkpoint may fail with while the watch goes on: named in one line."""


class WatchSession(RunSetParts):
    """The evaluations of one watch, their results merged into one run's figures.

    What it has to say (a checkpoint scored, one it cannot score) goes to `say`: stderr
    when headless, the dashboard's log under the dashboard."""

    def __init__(self, config, request, blas, run_dir: Path, handle, say=None):
        super().__init__(replace(request, run_dir=Path(run_dir)), blas)
        self.config = config
        self.handle = handle
        self.say = say or _to_stderr
        self.how_to_end = "Ctrl-C" if say is None else "q"
        self.finished: list = []
        """`RunFinished` of every label scored to its end, in scoring order."""
        self.left_out: list[str] = []
        """A line for each checkpoint stopped before its end (resumable, not on the curve)."""
        self.cut_short = False

    def prepare(self, name: str, adapters: list[Path]):
        """The evaluation of the base model, or of one frozen checkpoint, and the writer of
        its run directory RUN_DIR/<name>: bad input fails here, before anything is scored."""
        from ..core.engine.evaluation import Evaluation

        config = replace(self.config, adapters=adapters, checkpoints=False,
                         no_base=bool(adapters), reference=None)
        evaluation = Evaluation(config, handle=self.handle)
        evaluation.prepare()
        return evaluation, self.writer_of(name, evaluation)

    def stream(self, name: str, prepared):
        """The events of one evaluation, each recorded in its run directory first; its
        `RunFinished` is kept for the merged figures (and yielded as well)."""
        from ..core.store.events import RunFinished

        for event in self.recorded(*prepared):
            if isinstance(event, RunFinished):
                self._keep(name, event)
            yield event

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
        mlx = f", mlx-lm {fmt.loss(s.mlx_lm.loss)}" if present(s.mlx_lm) else ""
        self.say(f"{s.label} scored: loss {fmt.loss(s.loss)} ppl {fmt.ppl(s.ppl)}{mlx} "
                 f"({len(self.finished)} scored)")

    def merged(self):
        """Everything scored, as one run's `RunFinished`."""
        return merge_finished(self.finished, self.config.reference)


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

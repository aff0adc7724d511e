"""The one run-set model every mode implements. A `RunSet` is a plain run, several splits or
a watch: its `parts` (name -> config, each a run directory of its own), its `record` (the
marker file of a set of several parts, None for one run), `prepare()` (the model loaded
once, every part prepared: bad input fails there, one line, before anything is scored),
`events()` (ONE stitched stream: `SplitStarted`, `LabelAdded`/`LabelFinished`, the merged
finish) and `stop()`. `ReadBack` is any run set read back from its run directory
(`ppltop open`, `report`).

Headless (`headless_run.run_headless`) and the dashboard (`dashboard.show_run_set`) each
consume any run set one way; what a mode says at its end is its own `ended_headless` /
`ended_dashboard`. The modes (score, splits, watch) import this; `run_set` dispatches to
them, so nothing here imports them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from .stops import stop_words


def show(run_set: RunSet) -> int:
    """Prepare `run_set`, then consume its one stream: headless, or under the dashboard."""
    run_set.prepare()
    if run_set.request.headless:
        from .headless_run import run_headless

        return run_headless(run_set)
    from .dashboard import show_run_set

    return show_run_set(run_set)


def say_loading() -> None:
    """A progress hint before the model loads, for people (not for logs)."""
    if sys.stderr.isatty():
        print("ppltop: loading model and data ...", file=sys.stderr, flush=True)


class RunSet:
    """What every mode of a run has: see the module's docstring. `stop` ends the part in
    flight after its batch and starts no other."""

    parts_resume = True
    """A stopped part is continued with `ppltop resume` on its own run directory (not
    where it is only read back)."""

    def __init__(self, config, request, blas, record=None, manifest=None):
        self.config, self.request, self.blas = config, request, blas
        self.record = record
        """The set's `records.SplitsRecord` / `records.WatchRecord`; None: one run."""
        self.manifest = manifest
        """The `Manifest` of a run scored by another process (read back), else None."""
        self.run_dir = Path(request.run_dir) if request.run_dir is not None else None
        self.parts: dict[str, object] = {}
        """Each part's `EvalConfig` by name, in scoring order ("" for a plain run)."""
        self.current = None
        """The evaluation scoring now, None between parts."""
        self.stopping = False

    def prepare(self) -> None:
        """Load the model once, prepare every part known before scoring starts."""

    def events(self) -> Iterator:
        """The one stitched stream of the whole set."""
        raise NotImplementedError

    def stop(self) -> None:
        self.stopping = True
        if self.current is not None:
            self.current.cancel()

    @property
    def resumable(self) -> bool:
        """RUN_DIR itself is continued by `ppltop resume RUN_DIR` (one run scored here)."""
        return self.parts_resume and self.record is None

    def resume_dir(self, part: str) -> Path | None:
        """Where a stop of `part` is continued from (None: nowhere, only read back)."""
        if not self.parts_resume or self.run_dir is None:
            return None
        return self.run_dir / part if part else self.run_dir

    def stopping_line(self, signum: int) -> str:
        """The line a signal's stop says at once, headless."""
        kept = "; the run stays resumable" if self.parts_resume else ""
        return f"ppltop: stopping after this batch ({stop_words(signum)}{kept})"

    def left_line(self, outcome) -> str | None:
        """After a stop: the parts not started, and how to score them (None: none)."""
        return None

    def ended_headless(self, outcome) -> int:
        """The words, outputs and exit status after the headless loop (`headless_run`)."""
        from .headless_run import ended

        return ended(self, outcome)

    def ended_dashboard(self, status: int) -> int:
        """The words after the dashboard closed; the exit status."""
        return status

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


class PartsInOrder(RunSet):
    """A run set whose parts are prepared evaluations scored one after the other (splits,
    tokenizers), each recorded in its sub-folder and announced by `SplitStarted` of
    `KIND`; a part stopped before its end ends the set."""

    KIND = "split"
    across_reference: str | None = None
    """What `SplitStarted.reference` says (a run over several tokenizers' `--reference`)."""

    def __init__(self, config, request, blas, record):
        super().__init__(config, request, blas, record)
        self.evaluations: dict = {}
        self.writers: dict = {}

    def open_parts(self, what: str) -> None:
        """The run set's folder and record, then every part's run directory."""
        from ..core.store.run_dir import start_run_set

        start_run_set(self.run_dir, self.record, self.request.overwrite)
        for name, evaluation in self.evaluations.items():
            self.writers[name] = self.writer_of(name, evaluation)
        print(f"ppltop: run directory {self.run_dir} (one run per {what}: "
              f"{', '.join(self.evaluations)})", file=sys.stderr, flush=True)

    def events(self) -> Iterator:
        from ..core.store.events import RunFinished, SplitStarted

        names = list(self.evaluations)
        for index, name in enumerate(names):
            if self.stopping:
                return
            yield SplitStarted(name, index, len(names), self.KIND, self.across_reference)
            for event in self.recorded(self.evaluations[name], self.writers[name]):
                yield event
                if isinstance(event, RunFinished) and event.cancelled:
                    return

    def left_words(self, part: str) -> str:
        """The parts after `part`, in words."""
        return f"the parts after {part}"

    def left_line(self, outcome) -> str | None:
        left = [p for p in self.evaluations if p not in outcome.finished and p != outcome.part]
        if not left:
            return None
        return (f"ppltop: {self.left_words(outcome.part)} were not scored ({', '.join(left)}); "
                f"score them with: ppltop resume {self.run_dir / left[0]}")

    def ended_dashboard(self, status: int) -> int:
        from ..core.store.run_liveness import state_of

        unfinished = [name for name, writer in self.writers.items()
                      if state_of(writer.path).state != "finished"]
        if unfinished:  # each part is a run of its own: continue the first one left
            print(f"ppltop: not scored to the end: {', '.join(unfinished)}; continue with: "
                  f"ppltop resume {self.run_dir / unfinished[0]}", file=sys.stderr)
        return status


def recorded_parts(run_dir: Path, parts: list[str], kind: str, follow: bool = False,
                   reference: str | None = None) -> Iterator:
    """A run set of parts in order read back (`ppltop open`), as it was scored: each
    part's recorded events after its `SplitStarted`, up to the first not started."""
    from ..core.store.events import SplitStarted
    from ..core.store.records import MANIFEST
    from ..core.store.replay import RunFollower

    for index, part in enumerate(parts):
        if not (Path(run_dir) / part / MANIFEST).is_file():
            return
        yield SplitStarted(part, index, len(parts), kind, reference)
        yield from RunFollower(Path(run_dir) / part, follow=follow).events()


class ReadBack(RunSet):
    """A run set read back (`ppltop open`, `report`): the config it was scored with, the
    manifest of its first run (the machine and versions), its record, and all of it as the
    stream it was shown as when scored."""

    parts_resume = False

    def __init__(self, request, config, manifest, events: Callable[[], Iterator],
                 stop: Callable[[], None] = lambda: None, record=None):
        super().__init__(config, request, None, record, manifest)
        self._events, self._stop = events, stop

    @classmethod
    def of_run(cls, request) -> ReadBack:
        """One run read back from `request.run_dir` (followed while it is written, unless
        `request.follow` is off)."""
        from ..core.store.replay import RunFollower

        follower = RunFollower(request.run_dir, follow=request.follow)
        return cls(request, follower.config, follower.manifest, follower.events, follower.stop)

    def events(self) -> Iterator:
        return self._events()

    def stop(self) -> None:
        """Stops following a run being written (nothing to stop in a finished one)."""
        self._stop()

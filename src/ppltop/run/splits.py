"""`--split valid,test`: several splits scored one after the other in one run, with the
model loaded once. Each split is an ordinary run in a sub-folder of the run directory:

    RUN_DIR/splits.json      the splits, in order (marks the folder as a run over splits)
    RUN_DIR/<split>/         that split's run directory: `ppltop open`, `resume` work on it

Every split is prepared before anything is scored (bad input is one line, exit 2). Headless,
each split prints its figures as a run does, under `== split NAME ==`, then the labels
across the splits; under the dashboard the splits follow each other (`SplitStarted`) and
the curve screen shows them side by side. Stopping a split stops the run: the splits after
it are not started (each stays resumable on its own).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from ..core.errors import InputError
from ..core.store.records import MANIFEST, SPLITS_FILE, SplitsRecord
from .run_set_parts import RunSetParts, say_loading


class SplitRun(RunSetParts):
    """The evaluations of one run over several splits, scored in order."""

    def __init__(self, config, request, blas):
        super().__init__(request, blas)
        self.config = config
        self.evaluations: dict = {}
        self.writers: dict = {}

    def prepare(self) -> None:
        """Load the models once, prepare every split, then open their run directories."""
        from ..core.engine.evaluation import Evaluation
        from ..core.model.loader import ModelHandle

        say_loading()
        handles = [ModelHandle.load(model) for model in self.config.all_models]
        for split in self.config.all_splits:
            evaluation = Evaluation(replace(self.config, split=split, splits=()),
                                    handles=handles)
            evaluation.prepare()
            self.evaluations[split] = evaluation
        _start(self.run_dir, self.config, self.request.overwrite)
        for split, evaluation in self.evaluations.items():
            self.writers[split] = self.writer_of(split, evaluation)
        print(f"ppltop: run directory {self.run_dir} (one run per split: "
              f"{', '.join(self.evaluations)})", file=sys.stderr, flush=True)

    def events_of(self, split: str):
        """One split's events, each recorded in its run directory first."""
        return self.recorded(self.evaluations[split], self.writers[split])


def run_splits(config, request, blas) -> int:
    """Score every split of `config.splits`, headless or under the dashboard."""
    run = SplitRun(config, request, blas)
    run.prepare()
    if request.headless:
        return _headless(run)
    from .dashboard import run_dashboard

    status = run_dashboard(config, request, blas, lambda: split_events(run), run.stop,
                           resumable=False)
    unfinished = [split for split, writer in run.writers.items() if not _finished(writer)]
    if unfinished:  # each split is a run of its own: continue the first one left
        print(f"ppltop: not scored to the end: {', '.join(unfinished)}; continue with: "
              f"ppltop resume {run.run_dir / unfinished[0]}", file=sys.stderr)
    return status


def _finished(writer) -> bool:
    from ..core.store.run_liveness import state_of

    return state_of(writer.path).state == "finished"


def _headless(run: SplitRun) -> int:
    finished: dict = {}
    status = 0
    for split, evaluation in run.evaluations.items():
        status, done = _print_split(split, evaluation.config, run.blas,
                                    lambda split=split: run.events_of(split), run.stop,
                                    run.run_dir / split)
        if done is not None:
            finished[split] = done
        if status != 0:
            left = [s for s in run.evaluations if s not in finished and s != split]
            if left:
                print(f"ppltop: the splits after {split} were not scored ({', '.join(left)}); "
                      f"score them with: ppltop resume {run.run_dir / left[0]}",
                      file=sys.stderr)
            break
    _print_across(run.config, run.request, run.blas, finished)
    return status


def _print_split(split: str, config, blas, make_events, cancel,
                 run_dir: Path | None = None) -> tuple[int, object]:
    """One split headless, under its name, as a run of it alone prints (`run_dir`: the
    split's own, which a stop names for `ppltop resume`; None when only read back)."""
    from .score import score_headless

    print(f"== split {split} ==", flush=True)
    return score_headless(config, blas, make_events, cancel, run_dir)


def _print_across(config, request, blas, finished: dict) -> None:
    """After the splits: the labels across them, and --json, --csv, groups.csv."""
    from ..headless import render_split_figures
    from .outputs import write_split_outputs

    if len(finished) > 1:
        sys.stdout.write(render_split_figures(finished, each=False))
    if finished:
        write_split_outputs(request, config, finished, blas)


def split_events(run: SplitRun):
    """The splits' events one after the other, each split's run announced by
    `SplitStarted`; a split stopped before its end ends them."""
    from ..core.store.events import RunFinished, SplitStarted

    splits = list(run.evaluations)
    for index, split in enumerate(splits):
        if run.stopping:
            return
        yield SplitStarted(split, index, len(splits))
        for event in run.events_of(split):
            yield event
            if isinstance(event, RunFinished) and event.cancelled:
                return


def recorded_split_events(run_dir: Path, follow: bool = False):
    """A run over splits read back from its run directory (`ppltop open`), as it was
    scored: each split's recorded events after its `SplitStarted`."""
    from ..core.store.events import SplitStarted
    from ..core.store.replay import RunFollower

    splits = read_splits(run_dir)
    for index, split in enumerate(splits):
        if not (Path(run_dir) / split / MANIFEST).is_file():
            return
        yield SplitStarted(split, index, len(splits))
        yield from RunFollower(Path(run_dir) / split, follow=follow).events()


def read_back_splits(run_dir: Path, follow: bool):
    """A run over splits read back (`ppltop open RUN_DIR`): every split recorded, in order,
    as it was shown (`ppltop open RUN_DIR/valid` opens one split as a run of its own)."""
    from ..core.store.replay import RunFollower
    from .run_set_parts import OpenedRunSet

    run_dir = Path(run_dir)
    splits = read_splits(run_dir)
    present = [s for s in splits if (run_dir / s / MANIFEST).is_file()]
    if not present:
        raise InputError(f"{run_dir}: a run over splits with no split started yet; try "
                         "again once one is")
    first = RunFollower(run_dir / present[0], follow=False)
    config = replace(first.config, split=present[0], splits=tuple(splits))

    def printed(request) -> int:
        finished = {}
        for split in present:  # every split recorded, even after one that was stopped
            follower = RunFollower(run_dir / split, follow=False)
            _, done = _print_split(split, follower.config, None, follower.events,
                                   follower.stop)
            if done is not None:
                finished[split] = done
        _print_across(config, request, None, finished)
        return 0

    return OpenedRunSet(config, first.manifest, lambda: recorded_split_events(run_dir, follow),
                        printed=printed)


def read_splits(run_dir: Path) -> list[str]:
    """The splits of a run over splits, in scoring order (its `SplitsRecord`)."""
    from ..core.store.run_dir import read_run_set

    record = read_run_set(run_dir)
    if not isinstance(record, SplitsRecord):
        raise InputError(f"{run_dir}: not a run over splits (no {SPLITS_FILE})")
    return list(record.splits)


def _start(run_dir: Path, config, overwrite: bool) -> None:
    from ..core.store.run_dir import start_run_set

    start_run_set(run_dir, SplitsRecord(config.all_splits, config.reference), overwrite)

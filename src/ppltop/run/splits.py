"""`--split valid,test`: several splits scored one after the other in one run set
(`SplitRun`), with the model loaded once. Each split is an ordinary run in a sub-folder of
the run directory:

    RUN_DIR/splits.json      the splits, in order (marks the folder as a run over splits)
    RUN_DIR/<split>/         that split's run directory: `ppltop open`, `resume` work on it

Every split is prepared before anything is scored (bad input is one line, exit 2). The
splits' events are one stream, each split's run announced by `SplitStarted`: headless,
each split prints its figures as a run does, under `== split NAME ==`, then the labels
across the splits; under the dashboard the splits follow each other and the curve screen
shows them side by side. Stopping a split stops the run: the splits after it are not
started (each stays resumable on its own).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from ..core.errors import InputError
from ..core.store.records import MANIFEST, SplitsRecord
from .run_set_parts import ReadBack, RunSet, say_loading


class SplitRun(RunSet):
    """The evaluations of one run over several splits, scored in order."""

    def __init__(self, config, request, blas):
        super().__init__(config, request, blas, SplitsRecord(config.all_splits,
                                                             config.reference))
        self.evaluations: dict = {}
        self.writers: dict = {}

    def prepare(self) -> None:
        """Load the models once, prepare every split, then open their run directories."""
        from ..core.engine.evaluation import Evaluation
        from ..core.model.loader import ModelHandle
        from ..core.store.run_dir import start_run_set

        say_loading()
        handles = [ModelHandle.load(model) for model in self.config.all_models]
        for split in self.config.all_splits:
            evaluation = Evaluation(replace(self.config, split=split, splits=()),
                                    handles=handles)
            evaluation.prepare()
            self.evaluations[split] = evaluation
            self.parts[split] = evaluation.config
        start_run_set(self.run_dir, self.record, self.request.overwrite)
        for split, evaluation in self.evaluations.items():
            self.writers[split] = self.writer_of(split, evaluation)
        print(f"ppltop: run directory {self.run_dir} (one run per split: "
              f"{', '.join(self.evaluations)})", file=sys.stderr, flush=True)

    def events(self):
        """The splits' events one after the other, each split's run announced by
        `SplitStarted`; a split stopped before its end ends them."""
        from ..core.store.events import RunFinished, SplitStarted

        splits = list(self.evaluations)
        for index, split in enumerate(splits):
            if self.stopping:
                return
            yield SplitStarted(split, index, len(splits))
            for event in self.recorded(self.evaluations[split], self.writers[split]):
                yield event
                if isinstance(event, RunFinished) and event.cancelled:
                    return

    def left_line(self, outcome) -> str | None:
        left = [s for s in self.evaluations if s not in outcome.finished and s != outcome.part]
        if not left:
            return None
        return (f"ppltop: the splits after {outcome.part} were not scored ({', '.join(left)}); "
                f"score them with: ppltop resume {self.run_dir / left[0]}")

    def ended_dashboard(self, status: int) -> int:
        unfinished = [split for split, writer in self.writers.items() if not _finished(writer)]
        if unfinished:  # each split is a run of its own: continue the first one left
            print(f"ppltop: not scored to the end: {', '.join(unfinished)}; continue with: "
                  f"ppltop resume {self.run_dir / unfinished[0]}", file=sys.stderr)
        return status


def _finished(writer) -> bool:
    from ..core.store.run_liveness import state_of

    return state_of(writer.path).state == "finished"


def recorded_split_events(run_dir: Path, splits: list[str], follow: bool = False):
    """A run over splits read back from its run directory (`ppltop open`), as it was
    scored: each split's recorded events after its `SplitStarted`."""
    from ..core.store.events import SplitStarted
    from ..core.store.replay import RunFollower

    for index, split in enumerate(splits):
        if not (Path(run_dir) / split / MANIFEST).is_file():
            return
        yield SplitStarted(split, index, len(splits))
        yield from RunFollower(Path(run_dir) / split, follow=follow).events()


def read_back_splits(request, record: SplitsRecord) -> ReadBack:
    """A run over splits read back (`ppltop open RUN_DIR`): every split recorded, in order,
    as it was shown (`ppltop open RUN_DIR/valid` opens one split as a run of its own)."""
    from ..core.store.replay import RunFollower

    run_dir = Path(request.run_dir)
    splits = list(record.splits)
    present = [s for s in splits if (run_dir / s / MANIFEST).is_file()]
    if not present:
        raise InputError(f"{run_dir}: a run over splits with no split started yet; try "
                         "again once one is")
    first = RunFollower(run_dir / present[0], follow=False)
    config = replace(first.config, split=present[0], splits=tuple(splits))
    return ReadBack(request, config, first.manifest,
                    lambda: recorded_split_events(run_dir, splits, request.follow),
                    record=record)

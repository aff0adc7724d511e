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

from dataclasses import replace
from pathlib import Path

from ..core.errors import InputError
from ..core.store.records import MANIFEST, SplitsRecord
from .run_set_parts import PartsInOrder, ReadBack, recorded_parts, say_loading


class SplitRun(PartsInOrder):
    """The evaluations of one run over several splits, scored in order."""

    def __init__(self, config, request, blas, handles=()):
        super().__init__(config, request, blas, SplitsRecord(config.all_splits,
                                                             config.reference))
        self.handles = list(handles)
        """The models, where they are loaded already."""

    def prepare(self) -> None:
        """Open the models once (read as each split needs them), prepare every split, then
        open their run directories."""
        from ..core.engine.evaluation import Evaluation
        from ..core.model.loader import ModelHandle

        if not self.handles:
            say_loading()
            self.handles = [ModelHandle.load(model, lazy=True)
                            for model in self.config.all_models]
        for split in self.config.all_splits:
            evaluation = Evaluation(replace(self.config, split=split, splits=()),
                                    handles=self.handles)
            evaluation.prepare()
            self.evaluations[split] = evaluation
            self.parts[split] = evaluation.config
        self._one_at_a_time_for_all()
        self.open_parts("split")

    def _one_at_a_time_for_all(self) -> None:
        """When one split's models do not fit together, every split scores them one at a
        time: the splits share the models, and one holding them all would break the budget
        of the other."""
        from ..core.engine.evaluation import Evaluation

        alone = [e.scoring_plan.memory.one_at_a_time for e in self.evaluations.values()]
        if not any(alone) or all(alone):
            return
        for split, evaluation in list(self.evaluations.items()):
            if not evaluation.scoring_plan.memory.one_at_a_time:
                again = Evaluation(evaluation.config, handles=self.handles)
                again.one_at_a_time = True
                again.prepare()
                self.evaluations[split] = again

    def left_words(self, part: str) -> str:
        return f"the splits after {part}"


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
                    lambda: recorded_parts(run_dir, splits, "split", request.follow),
                    record=record)

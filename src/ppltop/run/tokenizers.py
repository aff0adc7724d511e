"""`--model A --model B` where the models' tokenizers read the data differently: a run set
(`TokenizerRun`) whose parts are the models of one tokenizer each, scored one after the
other, every model loaded once. Each part is an ordinary run (models of one tokenizer are
compared token by token in it, KL included); across the parts the models are compared per
example in bits per byte (`byte_compare`):

    RUN_DIR/tokenizers.json   the parts, in order, and the reference
    RUN_DIR/<first model>/    the run of that tokenizer's models: `ppltop open`, `resume`

Every part is prepared before anything is scored (bad input: one line, exit 2).
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import InputError
from ..core.store.records import MANIFEST, TokenizersRecord
from .run_set_parts import PartsInOrder, ReadBack, RunSet, recorded_parts

KIND = TokenizersRecord.PART_KIND


def tokenizer_run(config, request, blas) -> tuple[RunSet | None, list]:
    """The run set over several tokenizers when `config`'s models read the data in more
    than one way, else None; and the models, each opened once (lazily: the run that scores
    them, when they share one tokenization, reads their weights together or one at a
    time, as --max-memory allows)."""
    from ..core.engine.models import make_ready, tokenizer_groups, tokenizer_parts
    from ..core.model.loader import ModelHandle
    from .run_set_parts import say_loading

    say_loading()
    handles = [ModelHandle.load(model, lazy=True) for model in config.all_models]
    groups = tokenizer_groups(config, handles)
    if len(groups) == 1:
        return None, handles
    if len(config.all_splits) > 1:
        raise InputError(f"--split {','.join(config.all_splits)}: models of different "
                         "tokenizers are compared on one split at a time; give one --split")
    for handle in handles:  # every part's models are held together
        make_ready(handle, config)
    parts = tokenizer_parts(config, handles, groups)
    return TokenizerRun(config, request, blas, parts, {
        name: [handles[i] for i in members] for name, members in zip(parts, groups)}), handles


class TokenizerRun(PartsInOrder):
    """The runs of one comparison of models over several tokenizers, scored in order."""

    KIND = KIND

    def __init__(self, config, request, blas, parts: dict, handles: dict):
        super().__init__(config, request, blas, TokenizersRecord(
            tuple(parts), tuple(str(m) for m in config.all_models), config.reference))
        self.parts = parts
        self.handles = handles

    @property
    def across_reference(self) -> str | None:  # type: ignore[override]
        return self.record.reference

    def prepare(self) -> None:
        """Prepare every part, check --reference, then open their run directories."""
        from ..core.engine.evaluation import Evaluation

        for name, config in self.parts.items():
            evaluation = Evaluation(config, handles=self.handles[name])  # type: ignore[arg-type]
            evaluation.beside = [h for other, hs in self.handles.items() if other != name
                                 for h in hs]
            evaluation.prepare()
            self.evaluations[name] = evaluation
        labels = [label for e in self.evaluations.values() for label in e.plan.labels]
        wanted = self.config.reference
        if wanted is not None and wanted not in labels:
            raise InputError(f"--reference {wanted}: no such label; choose one of "
                             f"{', '.join(labels)}")
        self.open_parts("tokenizer")

    def left_words(self, part: str) -> str:
        return f"the models after {part}'s"


def read_back_tokenizers(request, record: TokenizersRecord) -> ReadBack:
    """A run over several tokenizers read back (`ppltop open RUN_DIR`): every part recorded,
    in order; the config is the first part's with every model of the run."""
    from dataclasses import replace

    from ..core.store.replay import RunFollower

    run_dir = Path(request.run_dir)
    present = [p for p in record.parts if (run_dir / p / MANIFEST).is_file()]
    if not present:
        raise InputError(f"{run_dir}: a run over several tokenizers with no part started "
                         "yet; try again once one is")
    first = RunFollower(run_dir / present[0], follow=False)
    models = tuple(Path(m) for m in record.models) or first.config.all_models
    config = replace(first.config, model=models[0], models=models, model_names=(),
                     reference=record.reference)
    return ReadBack(request, config, first.manifest,
                    lambda: recorded_parts(run_dir, list(record.parts), KIND, request.follow,
                                           record.reference),
                    record=record)

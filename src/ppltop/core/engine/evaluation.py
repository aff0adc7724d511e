"""One evaluation: load, plan once, then a generator of events over the batches.

Batch by batch, every label (base model, then each adapter) scores the same batch before
the next batch starts, so partial results always compare like with like. The pieces:
`plan.py` freezes what is scored, `scorer.py` scores a batch for every label,
`assembler.py` puts windows back together, `resume.py` says which batches a resumed run
reads back; this module only prepares them and runs the loop.

MLX streams are per thread: whoever iterates `Evaluation.events()` off the main thread must
do so inside `with mx.stream(mx.new_stream(device))` (see `worker.py`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import mlx.core as mx

from ..config import EvalConfig
from ..data.split import load_split
from ..data.token_text import TokenTexts
from ..figures.compare import compare_labels
from ..figures.summary import summarize
from ..model import memory, precision
from ..model.loader import ModelHandle
from ..store.events import (
    BatchScored,
    DocumentSource,
    Event,
    Notice,
    RunFinished,
    RunPlan,
    RunStarted,
)
from ..store.records import AdapterEntry, Manifest
from . import cpu_kernels
from .forward import SplitForward
from .models import check_same_tokens, fit_adapters, load_models, model_facts, vocab_size
from .notices import start_notices
from .plan import ScoringPlan, plan_memory, plan_scoring, read_adapters, scored_labels
from .resume import replayable
from .scorer import BatchScorer, Scorer
from .trunk import checked_trunk


class Evaluation:
    """One evaluation: a model, its adapters, one data split, and the scoring loop.

    `sharding`, when given, spreads each batch over the ranks of `mlx.launch`: it has a
    `size` and wraps the scorer (`wrap(scorer) -> Scorer`); the loop is the same.
    """

    def __init__(self, config: EvalConfig, handle: ModelHandle | None = None,
                 resume_from=None, sharding=None, handles: list[ModelHandle] | None = None):
        config.check_numbers()
        self.config = config
        self.handle = handle
        self.handles: list[ModelHandle] = list(handles or ([handle] if handle else []))
        """Every model (`config.all_models`), in order: those given (several splits load
        them once), then those `prepare` loads."""
        self.beside: list[ModelHandle] = []
        """Models held beside these (a run over several tokenizers loads every part's at
        once): their weights count in --max-memory."""
        self.resume_from = resume_from
        """A `run_dir.RunRecord` whose complete batches are read back, not scored."""
        self.sharding = sharding
        self.scoring_plan: ScoringPlan | None = None
        self.plan: RunPlan | None = None
        """What the events announce; set by `prepare`."""
        self.scorer: Scorer | None = None
        self.trunk_notes: list[str] = []
        """What the shared trunk shares, or why it shares nothing."""
        self.stop_requested = False
        self.cancelled = False
        """The loop stopped before the last batch."""

    # -- preparation -----------------------------------------------------------------
    def prepare(self) -> RunPlan:
        """Load models, adapters and data; plan the batches. Raises InputError."""
        cfg = self.config
        self.handles, self.precisions, precision_notes = load_models(cfg, self.handles)
        handles = self.handles
        self.handle = handle = handles[0]
        self.precision = self.precisions[0]
        adapters = read_adapters(cfg.adapters, cfg.checkpoints, cfg.checkpoint_choice)
        fits, pair_notes = fit_adapters(cfg, handles, adapters)  # fail now, not at batch 1
        split = load_split(cfg.data, cfg.split, handle.tokenizer, cfg.mask_prompt, cfg.features)
        vocab = vocab_size(handle)
        check_same_tokens(cfg, split, handles, [vocab_size(h) for h in handles])
        forwards = [SplitForward(each.model) for each in handles]
        self.trunk_notes = [*precision_notes, *pair_notes]
        if len(handles) == 1:  # a shared trunk shares one model's blocks, never two models'
            scored = scored_labels(cfg, adapters)
            forwards[0].trunk, refused = checked_trunk(handle, list(scored.values()),
                                                       forwards[0].body)
            shared = forwards[0].trunk.note(len(scored)) if forwards[0].trunk else None
            self.trunk_notes += [note for note in (refused, shared) if note]
        self.texts = TokenTexts(handle.tokenizer)
        self.scoring_plan = plan_scoring(
            cfg, split, adapters, lambda batches: self._memory(batches, forwards[0], vocab),
            fits=lambda index, adapter: fits[(index, adapter.label)],
            models=model_facts(cfg, handles, self.precisions))
        scorer = BatchScorer(self.scoring_plan, handles, forwards, self.texts, vocab)
        self.scorer = self.sharding.wrap(scorer) if self.sharding is not None else scorer
        self.plan = self.scoring_plan.run_plan
        return self.plan

    def precision_of(self, label: str) -> precision.Precision:
        """The precision of `label`'s model."""
        return self.precisions[self.scoring_plan.model_for(label)]

    def _memory(self, batches, forward: SplitForward, vocab: int):
        cfg = self.config
        weights = sum(handle.weights_bytes() for handle in [*self.handles, *self.beside])
        float32 = self.precision.compute_dtype == "float32"
        # ppltop's CPU attention (float32 only) never holds the whole score matrix
        block = cpu_kernels.QUERY_BLOCK if forward.kernels.active and float32 else None
        shape = memory.Shape.from_config(self.handle.config, 4 if float32 else 2, block)
        chunk_rows = max(1, (cfg.logits_budget_mb << 20) // (4 * vocab))
        return plan_memory(batches, cfg.max_memory or memory.default_budget(), weights, shape,
                           chunk_rows, not forward.split, kept_hidden=forward.trunk is not None,
                           models=len(self.handles) + len(self.beside))

    @property
    def split(self):
        return self.scoring_plan.split

    @property
    def batches(self):
        return self.scoring_plan.batches

    @property
    def labels(self) -> list[str]:
        return self.scoring_plan.labels

    @property
    def memory_note(self) -> str | None:
        return self.scoring_plan.memory.note

    @property
    def mlx_lm_ranks(self) -> int:
        """Processes `mlx_lm.lora --test` would be launched with, for its figure."""
        return self.sharding.size if self.sharding is not None else 1

    def manifest(self, blas=None) -> Manifest:
        """What the run directory records so that a run can be reopened and resumed."""
        from importlib.metadata import version

        from ..store.run_dir import fingerprint

        cfg, plan = self.config, self.scoring_plan
        # one entry per adapter, however many models it was scored with
        adapters = list({id(a): a for a in plan.adapters.values() if a is not None}.values())
        return Manifest(
            config=cfg.to_dict(),
            labels=list(plan.labels),
            data_file=str(plan.split.path),
            adapters=[AdapterEntry(a.label, str(a.path), fingerprint(a.path)) for a in adapters],
            model_fingerprint=_model_fingerprint(cfg.model),
            model_fingerprints=([_model_fingerprint(m) for m in cfg.all_models]
                                if len(cfg.all_models) > 1 else []),
            data_sha256=fingerprint(plan.split.path),
            n_batches=len(plan.batches),
            n_examples=len(plan.examples),
            precision=self.precision.to_dict(),
            ranks=self.mlx_lm_ranks,
            blas=blas.to_dict() if blas else None,
            device=str(mx.default_device()),
            ppltop=version("ppltop"), mlx=version("mlx"), mlx_lm=version("mlx-lm"),
        )

    def cancel(self) -> None:
        """Stop after the batch in flight (on every rank alike); the loop then yields
        partial figures."""
        self.stop_requested = True

    # -- the loop ----------------------------------------------------------------------
    def events(self) -> Iterator[Event]:
        """Prepare, then yield RunStarted, Notices, BatchScored per batch and label, RunFinished.

        Closing the generator (or `cancel()`) stops between batches; RunFinished then
        carries the partial figures.
        """
        plan = self.plan if self.plan is not None else self.prepare()
        frozen = self.scoring_plan
        split = frozen.split
        yield RunStarted(plan, DocumentSource(split.examples, self.texts,
                                              self.config.max_seq_length, str(split.path)))
        yield from start_notices(self.scoring_plan, self.precision, self.trunk_notes)
        labels = frozen.labels
        done = {label: {} for label in labels}
        tokens_done = dict.fromkeys(labels, 0)
        start = time.perf_counter()
        replay = replayable(self.resume_from, frozen.batches, labels)
        scorer = self.scorer
        n_batches = len(frozen.batches)
        try:
            for number, batch in enumerate(frozen.batches):
                if self.stop_requested and not scorer.stops_together:
                    self.cancelled = True
                    break
                if number in replay:
                    yield from _replayed(replay[number], labels, number, n_batches, done,
                                         tokens_done, plan.targets_per_label, start)
                    continue
                scored = scorer.score(number, batch, self.stop_requested)
                n_tok = sum(s.n_targets for s in batch)
                for label in labels:
                    finished, loss_sum = scored[label]
                    for result in finished:
                        done[label][result.example] = result
                        if not result.finite:
                            yield _non_finite(label, split, result.example)
                    tokens_done[label] += n_tok
                    yield BatchScored(label, number, n_batches, loss_sum, n_tok, finished,
                                      tokens_done[label], plan.targets_per_label,
                                      time.perf_counter() - start)
                if scorer.stop_agreed and number + 1 < n_batches:
                    self.cancelled = True  # every rank ends after this batch alike
                    break
        except GeneratorExit:
            self.cancelled = True
            raise
        finally:
            for handle in self.handles:
                handle.activate(None)
        yield self._finished(done, tokens_done, time.perf_counter() - start)

    def _finished(self, done: dict, tokens_done: dict[str, int], elapsed: float) -> RunFinished:
        """The run's end: every label's summary and the comparisons, over what was scored."""
        frozen, busy = self.scoring_plan, self.scorer.busy_s
        models = self.config.all_models
        summaries = [
            summarize(label, frozen.adapter_path(label), done[label], frozen.split,
                      frozen.examples, self.config, elapsed, complete=not self.cancelled,
                      tokens_per_s=tokens_done[label] / busy[label] if busy[label] else 0.0,
                      precision_note=self.precision_of(label).explanation(),
                      ranks=self.mlx_lm_ranks,
                      model=str(models[frozen.model_for(label)]) if len(models) > 1 else None,
                      peak_memory_bytes=self.scorer.peak_bytes.get(label) or None)
            for label in frozen.labels
        ]
        comparison = compare_labels(done, frozen.labels, frozen.reference)
        return RunFinished(summaries, self.cancelled, elapsed, comparison, done)


def _non_finite(label: str, split, example: int) -> Notice:
    return Notice("warning", f"[{label}] {split.path}:{split.examples[example].line}: "
                  "non-finite loss; this example is left out of the ppltop figure and "
                  "reported")


def _replayed(recorded_batch: dict, labels: list[str], number: int, n_batches: int,
              done: dict, tokens_done: dict[str, int], targets_per_label: int,
              start: float) -> Iterator[BatchScored]:
    """One batch `ppltop resume` read back from the run directory, label by label, folded
    into `done` and `tokens_done` as a scored one is."""
    for label in labels:  # in the plan's order, as a scored batch
        recorded = recorded_batch[label]
        for result in recorded.results:
            done[label][result.example] = result
        tokens_done[label] += recorded.n_tokens
        yield BatchScored(label, number, n_batches, recorded.loss_sum, recorded.n_tokens,
                          recorded.results, tokens_done[label], targets_per_label,
                          time.perf_counter() - start, replayed=True)


def _model_fingerprint(model: Path) -> str:
    """A model folder's fingerprint; a Hugging Face id stands for itself."""
    from ..store.run_dir import fingerprint

    return fingerprint(Path(model)) if Path(model).exists() else str(model)

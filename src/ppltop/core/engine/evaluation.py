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
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import mlx.core as mx

from ..config import EvalConfig
from ..data.split import load_split
from ..data.token_text import TokenTexts
from ..errors import InputError
from ..figures.compare import compare_labels, resolve_reference
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
from . import cpu_kernels, kept_reference, packing
from .forward import SplitForward
from .models import (
    check_same_tokens,
    fit_adapters,
    make_ready,
    model_facts,
    open_models,
    planned,
    vocab_size,
)
from .notices import start_notices
from .plan import (
    MemoryPlan,
    ScoringPlan,
    label_pairs,
    plan_memory,
    plan_scoring,
    read_adapters,
    scored_labels,
)
from .residency import Residency
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
        self.one_at_a_time = False
        """Score the models one at a time even where they fit together: a run set's other
        part (another split) needs it, and the parts share the models."""
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
        self.handles, self.precisions, precision_notes = open_models(cfg, self.handles)
        handles = self.handles
        self.handle = handle = handles[0]
        self.precision = self.precisions[0]
        adapters = read_adapters(cfg.adapters, cfg.checkpoints, cfg.checkpoint_choice)
        fits, pair_notes = fit_adapters(cfg, handles, adapters)  # fail now, not at batch 1
        split = load_split(cfg.data, cfg.split, handle.tokenizer, cfg.mask_prompt, cfg.features)
        vocab = vocab_size(handle)
        check_same_tokens(cfg, split, handles, [vocab_size(h) for h in handles])
        # the reference's model first: the others once the plan says together or one at a time
        first = _reference_model(cfg, adapters, fits)
        make_ready(handles[first], cfg)
        forwards: list[SplitForward | None] = [None] * len(handles)
        forwards[first] = SplitForward(handles[first].model)
        self.trunk_notes = [*precision_notes, *pair_notes]
        if len(handles) == 1:  # a shared trunk shares one model's blocks, never two models'
            scored = scored_labels(cfg, adapters)
            only = forwards[0]
            assert only is not None
            only.trunk, refused = checked_trunk(handle, list(scored.values()), only.body)
            shared = only.trunk.note(len(scored)) if only.trunk else None
            self.trunk_notes += [note for note in (refused, shared) if note]
        self.texts = TokenTexts(handle.tokenizer)
        self.scoring_plan = plan_scoring(
            cfg, split, adapters,
            lambda batches: memory_plan(cfg, batches, handles, self.beside,
                                        self.precisions[first].compute_dtype, forwards[first],
                                        vocab, self.one_at_a_time),
            fits=lambda index, adapter: fits[(index, adapter.label)],
            models=model_facts(cfg, handles))
        if self.scoring_plan.memory.one_at_a_time and self.sharding is not None:
            raise InputError(f"--max-memory {memory.human(self.scoring_plan.memory.budget)}: "
                             "the models do not fit together, and under mlx.launch they must; "
                             "raise --max-memory or run without mlx.launch")
        held = forwards[first]
        for index, other in enumerate(handles):
            if self.scoring_plan.memory.one_at_a_time:  # read at its pass, not held till then
                forwards[index] = None  # (another split's run may free the model meanwhile)
            elif forwards[index] is None:
                make_ready(other, cfg)
                forwards[index] = SplitForward(other.model)
        self.scoring_plan = replace(self.scoring_plan, run_plan=replace(
            self.scoring_plan.run_plan, packed=packing.packs_all([held, *forwards])))
        self.trunk_notes += packing.notes(self.scoring_plan.run_plan)
        scorer = BatchScorer(self.scoring_plan, Residency(cfg, handles, forwards), self.texts,
                             vocab)
        self.scorer = self.sharding.wrap(scorer) if self.sharding is not None else scorer
        self.plan = self.scoring_plan.run_plan
        return self.plan

    def precision_of(self, label: str) -> precision.Precision:
        """The precision of `label`'s model."""
        return self.precisions[self.scoring_plan.model_for(label)]

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
        return _manifest(self, blas)

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
        loop = _Loop(frozen.labels, replayable(self.resume_from, frozen.batches, frozen.labels))
        try:
            for labels in frozen.passes():
                if not (yield from self._one_pass(labels, loop)):
                    break
        except GeneratorExit:
            self.cancelled = True
            raise
        finally:
            for handle in self.handles:
                handle.activate(None)
            if isinstance(self.scorer, BatchScorer):
                self.scorer.release()  # one at a time: the next part reads its models anew
        yield self._finished(loop.done, loop.tokens_done, time.perf_counter() - loop.start)

    def _one_pass(self, labels: list[str], loop: _Loop) -> Generator[Event, None, bool]:
        """Every batch with `labels` (all of them, or one model's when the models go one at
        a time); False when the run stops before the pass's end."""
        frozen, scorer, split = self.scoring_plan, self.scorer, self.split
        n_batches, per_label = len(frozen.batches), frozen.run_plan.targets_per_label
        for number, batch in enumerate(frozen.batches):
            if self.stop_requested and not scorer.stops_together:
                self.cancelled = True
                return False
            if number in loop.replay:
                yield from _replayed(loop.replay[number], labels, number, n_batches, loop.done,
                                     loop.tokens_done, per_label, loop.start)
                continue
            scored = scorer.score(number, batch, self.stop_requested, labels)
            n_tok = sum(s.n_targets for s in batch)
            for label in labels:
                finished, loss_sum = scored[label]
                for result in finished:
                    loop.done[label][result.example] = result
                    if not result.finite:
                        yield _non_finite(label, split, result.example)
                loop.tokens_done[label] += n_tok
                yield BatchScored(label, number, n_batches, loss_sum, n_tok, finished,
                                  loop.tokens_done[label], per_label,
                                  time.perf_counter() - loop.start,
                                  closes_batch=label == labels[-1])
            if scorer.stop_agreed and number + 1 < n_batches:
                self.cancelled = True  # every rank ends after this batch alike
                return False
        return True

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
        kept = getattr(self.scorer, "kept", None)  # KL against a kept top-k, one at a time
        for summary in summaries:
            summary.kl_note = kept.gaps.note(summary.label) if kept is not None else None
        comparison = compare_labels(done, frozen.labels, frozen.reference)
        return RunFinished(summaries, self.cancelled, elapsed, comparison, done)


def _reference_model(cfg: EvalConfig, adapters, fits) -> int:
    """The model of the reference label, scored first when the models go one at a time."""
    pairs = label_pairs(cfg, adapters, lambda index, adapter: fits[(index, adapter.label)])
    return pairs[resolve_reference(list(pairs), cfg.reference)][0] if pairs else 0


def memory_plan(cfg: EvalConfig, batches, handles: list[ModelHandle],
                beside_handles: list[ModelHandle], compute_dtype: str, forward: SplitForward,
                vocab: int, one_at_a_time: bool = False):
    """The memory plan: every model's weights together, or, when they do not fit (or
    `one_at_a_time` says so), the largest alone and the reference's kept top-k (the models
    one at a time)."""
    sizes = [planned(handle, cfg).converted_bytes for handle in handles]
    beside = sum(handle.weights_bytes() for handle in beside_handles)
    float32 = compute_dtype == "float32"
    # ppltop's CPU attention (float32 only) never holds the whole score matrix
    block = cpu_kernels.QUERY_BLOCK if forward.kernels.active and float32 else None
    largest = handles[sizes.index(max(sizes))]  # its activations too, as an estimate
    shape = memory.Shape.from_config(largest.config, 4 if float32 else 2, block)
    chunk_rows = max(1, (cfg.logits_budget_mb << 20) // (4 * vocab))
    budget = cfg.max_memory or memory.default_budget()

    def plan(weights: int, models: int, one_at_a_time: bool = False):
        return plan_memory(batches, budget, weights + beside, shape, chunk_rows,
                           not forward.split, kept_hidden=forward.trunk is not None,
                           models=models + len(beside_handles), one_at_a_time=one_at_a_time)
    try:
        if len(sizes) == 1 or not one_at_a_time:
            return plan(sum(sizes), len(sizes))
    except InputError:
        if len(sizes) == 1:
            raise
    targets = sum(s.n_targets + 1 for batch in batches for s in batch)
    k, alone = _largest_top_k(cfg.compares_distributions, targets, vocab,
                              lambda kept: plan(max(sizes) + kept, 1, one_at_a_time=True))
    why = ("as in the run set's other part, where they do not fit in --max-memory "
           f"{memory.human(budget)} together" if one_at_a_time else
           f"the {len(sizes)} models do not fit in --max-memory {memory.human(budget)} "
           f"together (their weights {memory.human(sum(sizes))} and one sequence)")
    said = (f"{why}: they are scored one at a time, each read once, the reference's model "
            "first"
            + (f", its top-{k} log-probabilities kept for the KL "
               f"({memory.human(kept_reference.bytes_per_target(k) * targets)})" if k else ""))
    return replace(alone, note="; ".join(n for n in (said, alone.note) if n), top_k=k)


def _largest_top_k(kl: bool, targets: int, vocab: int, plan_with) -> tuple[int, MemoryPlan]:
    """The largest top-k the budget holds beside one model without more batches in
    micro-batches than the smallest k needs, and the plan with it (k 0: no KL, none kept;
    k = the vocabulary: the KL is exact). `plan_with(kept_bytes)` plans with those bytes
    kept, raising InputError if none fit."""
    if not kl:
        return 0, plan_with(0)
    *larger, least_k = sorted({min(k, vocab) for k in kept_reference.TOP_K_CHOICES},
                              reverse=True)
    least = plan_with(kept_reference.bytes_per_target(least_k) * targets)
    for k in larger:
        try:
            wider = plan_with(kept_reference.bytes_per_target(k) * targets)
        except InputError:
            continue
        if wider.split_batches <= least.split_batches:
            return k, wider
    return least_k, least


@dataclass
class _Loop:
    """What the scoring loop accumulates over its passes."""

    labels: list[str]
    replay: dict = field(default_factory=dict)
    """Batches `ppltop resume` reads back (`resume.replayable`)."""
    start: float = field(default_factory=time.perf_counter)
    done: dict = field(init=False)
    tokens_done: dict = field(init=False)

    def __post_init__(self) -> None:
        self.done = {label: {} for label in self.labels}
        self.tokens_done = dict.fromkeys(self.labels, 0)


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
                          time.perf_counter() - start, replayed=True,
                          closes_batch=label == labels[-1])


def _manifest(evaluation: Evaluation, blas) -> Manifest:
    from importlib.metadata import version

    from ..store.run_dir import fingerprint

    cfg, plan = evaluation.config, evaluation.scoring_plan
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
        precision=evaluation.precision.to_dict(),
        ranks=evaluation.mlx_lm_ranks,
        blas=blas.to_dict() if blas else None,
        device=str(mx.default_device()),
        ppltop=version("ppltop"), mlx=version("mlx"), mlx_lm=version("mlx-lm"),
    )


def _model_fingerprint(model: Path) -> str:
    """A model folder's fingerprint; a Hugging Face id stands for itself."""
    from ..store.run_dir import fingerprint

    return fingerprint(Path(model)) if Path(model).exists() else str(model)

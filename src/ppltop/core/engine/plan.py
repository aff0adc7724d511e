"""The frozen plan of one evaluation, made once before the first batch: the examples scored,
their segments and batches, the labels and their adapters, and the memory split.

Everything the scorer, the loop and the notices need is read from here; nothing in it
changes while the loop runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import mlx_lm
from ..checkpoint_files import checkpoint_label, choose_files
from ..config import EvalConfig
from ..data.batching import Segment, padding_share, plan_batches, segments_for
from ..data.split import Example, Split
from ..errors import InputError
from ..figures.compare import resolve_reference
from ..model import memory
from ..model.loader import Adapter, checkpoint_files, read_adapter
from ..store.events import ModelFacts, RunPlan


@dataclass(frozen=True)
class MemoryPlan:
    """How each batch stays under --max-memory: micro-batch rows and logits block rows."""

    budget: int
    weights_bytes: int
    shape: memory.Shape
    chunk_rows: int
    """Target rows per block of logits, within the --logits budget."""
    full_logits: bool
    """The model's head cannot be split from its body: logits of every position exist."""
    note: str | None
    """Said once at the start when some batches run in micro-batches."""
    kept_hidden: bool = False
    """The shared trunk keeps a batch's hidden states for the labels after the first."""
    models: int = 1
    """Models whose weights `weights_bytes` counts, resident together."""
    one_at_a_time: bool = False
    """The models do not fit together: each pass over the batches holds one
    (`residency.py`); `weights_bytes` counts the largest and the kept top-k."""
    top_k: int = 0
    """One at a time, the reference's top-k log-probabilities kept per target for the
    others' KL (0: none kept)."""
    split_batches: int = 0
    """Batches that run in micro-batches."""

    def resident_bytes(self, rows: int, width: int) -> int:
        """What stays in memory through a batch: the weights, and the shared trunk's
        hidden states of the batch when it keeps them."""
        kept = self.shape.hidden_bytes(rows, width) if self.kept_hidden else 0
        return self.weights_bytes + kept

    def split_for(self, rows: int, width: int, targets: int) -> memory.Split:
        return memory.plan_split(self.shape, rows, width, self.resident_bytes(rows, width),
                                 self.budget, self.chunk_rows, self.full_logits, targets,
                                 self.models, self.one_at_a_time)


@dataclass(frozen=True)
class ScoringPlan:
    """What one evaluation scores, in which batches, for which labels."""

    config: EvalConfig
    split: Split
    examples: list[Example]
    """The examples scored (all of them, or those `--test-batches` chooses)."""
    segments_per_example: dict[int, int]
    batches: list[list[Segment]]
    labels: list[str]
    adapters: dict[str, Adapter | None]
    """Each label's adapter; None for the base model."""
    reference: str
    empty_after_truncation: list[Example]
    """Examples whose prompt fills --max-seq-length: no target left to score."""
    memory: MemoryPlan
    run_plan: RunPlan
    models: dict[str, int] = dataclasses.field(default_factory=dict)
    """Each label's model, an index into `config.all_models` (absent: the first)."""

    def adapter_for(self, label: str) -> Adapter | None:
        return self.adapters[label]

    def passes(self) -> list[list[str]]:
        """The labels each pass over the batches scores: all of them in one pass, or, when
        the models go one at a time, one model's labels per pass, the reference's first
        (the others' KL needs its kept top-k)."""
        if not self.memory.one_at_a_time:
            return [list(self.labels)]
        first = self.model_for(self.reference)
        order = [first] + sorted({self.model_for(label) for label in self.labels} - {first})
        return [[label for label in self.labels if self.model_for(label) == model]
                for model in order]

    def model_for(self, label: str) -> int:
        return self.models.get(label, 0)

    def adapter_path(self, label: str) -> str | None:
        adapter = self.adapters[label]
        return str(adapter.path) if adapter is not None else None


def plan_scoring(config: EvalConfig, split: Split, adapters: list[Adapter],
                 memory_of: Callable[[list[list[Segment]]], MemoryPlan],
                 fits: Fits | None = None, models: Sequence[ModelFacts] = ()
                 ) -> ScoringPlan:
    """Plan the batches and labels; `memory_of(batches)` gives their MemoryPlan; `fits`
    says which adapter applies to which model, and `models` what each model is (with
    several models)."""
    examples = mlx_lm.chosen_examples(split.examples, config)
    segments, empty = [], []
    for example in examples:
        if max(1, example.offset) >= len(example.tokens):
            raise InputError(
                f"{split.path}:{example.line}: this example has no token to score "
                f"({len(example.tokens)} tokens, prompt {example.offset}); "
                "drop --mask-prompt or remove the record")
        own = segments_for(example, config.max_seq_length, config.long_sequences)
        if sum(s.n_targets for s in own) == 0:
            # still fed to the model: mlx-lm may count its phantom pad target
            empty.append(example)
        segments += own
    per_example: dict[int, int] = {}
    for s in segments:
        per_example[s.example] = per_example.get(s.example, 0) + 1
    batches = plan_batches(segments, config.batch_size, config.seed)
    pairs = label_pairs(config, adapters, fits)
    by_label = {label: adapter for label, (_, adapter) in pairs.items()}
    labels = list(by_label)
    if config.reference is not None and config.reference not in labels:
        raise InputError(f"--reference {config.reference}: no such label; "
                         f"choose one of {', '.join(labels)}")
    reference = resolve_reference(labels, config.reference)
    run_plan = RunPlan(
        labels=list(labels),
        adapter_paths=[None if a is None else str(a.path) for a in by_label.values()],
        n_examples=len(examples),
        n_batches=len(batches),
        targets_per_label=sum(s.n_targets for s in segments),
        split_path=str(split.path),
        data_format=split.format,
        padding_share=padding_share(batches),
        example_tokens=[len(e.tokens) for e in examples],
        reference=reference,
        model_paths=[str(config.all_models[model]) for model, _ in pairs.values()]
        if names_models(config) else [],
        models=list(models),
        mlx_lm_padding_share=mlx_lm.padding_share(
            [len(e.tokens) for e in split.examples], config.batch_size, config.test_batches,
            config.seed, config.max_seq_length),
    )
    return ScoringPlan(config, split, examples, per_example, batches, labels, by_label,
                       reference, empty, memory_of(batches), run_plan,
                       {label: model for label, (model, _) in pairs.items()})


Fits = Callable[[int, Adapter], bool]
"""Whether an adapter applies to the model of that index in `config.all_models`."""


def scored_labels(config: EvalConfig, adapters: list[Adapter]) -> dict[str, Adapter | None]:
    """Each label the run scores, in order, with its adapter (None: the base model)."""
    return {label: adapter for label, (_, adapter) in label_pairs(config, adapters).items()}


def label_pairs(config: EvalConfig, adapters: list[Adapter], fits: Fits | None = None
                ) -> dict[str, tuple[int, Adapter | None]]:
    """Each label the run scores, in order, with its model (index) and adapter. One model:
    `base` and the adapters' labels. Several: each model's folder name (made unique), then
    `<model>+<adapter>` for every adapter that fits it."""
    pairs: dict[str, tuple[int, Adapter | None]] = {}
    if not names_models(config):
        if not (config.no_base and adapters):
            pairs["base"] = (0, None)
        for adapter in adapters:
            pairs[adapter.label] = (0, adapter)
        return pairs
    for index, name in enumerate(model_names(config)):
        if not (config.no_base and adapters):
            pairs[name] = (index, None)
        for adapter in adapters:
            if fits is None or fits(index, adapter):
                pairs[f"{name}+{adapter.label}"] = (index, adapter)
    return pairs


def names_models(config: EvalConfig) -> bool:
    """Labels name the models (several, or a part of a run over several tokenizers), not
    `base`."""
    return len(config.all_models) > 1 or bool(config.model_names)


def model_names(config: EvalConfig) -> list[str]:
    """The models' labels in this run, in `config.all_models` order."""
    return list(config.model_names) or model_labels(config.all_models)


def model_labels(models: tuple[Path, ...]) -> list[str]:
    """The models' labels: their folders' names (a Hugging Face id's name), made unique."""
    labels, seen = [], dict[str, int]()
    for path in models:
        label = Path(path).name or str(path)
        seen[label] = seen.get(label, 0) + 1
        labels.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return labels


def plan_memory(batches: list[list[Segment]], budget: int, weights_bytes: int,
                shape: memory.Shape, chunk_rows: int, full_logits: bool,
                kept_hidden: bool = False, models: int = 1, one_at_a_time: bool = False
                ) -> MemoryPlan:
    """Check every batch against --max-memory now (arithmetic only), so none fails mid-run."""
    plan = MemoryPlan(budget, weights_bytes, shape, chunk_rows, full_logits, None, kept_hidden,
                      models, one_at_a_time)
    split_batches, smallest, worst = 0, None, 0
    for batch in batches:
        rows, width = len(batch), max(s.length for s in batch)
        targets = sum(s.n_targets for s in batch) + rows
        split = plan.split_for(rows, width, targets)
        if split.micro_rows < rows:
            split_batches += 1
            smallest = min(smallest or rows, split.micro_rows)
            worst = max(worst, plan.resident_bytes(rows, width)
                        + shape.logits_bytes(min(chunk_rows, targets))
                        + shape.body_bytes(rows, width, full_logits))
    note = None
    if split_batches:
        note = (f"{split_batches} of {len(batches)} batches would need up to about "
                f"{memory.human(worst)}, more than --max-memory {memory.human(budget)}: "
                f"they run in micro-batches (down to {smallest} rows), with the same figures")
    return dataclasses.replace(plan, note=note, split_batches=split_batches)


def read_adapters(paths: list[Path], checkpoints: bool = False,
                  choice: str = "all") -> list[Adapter]:
    """Read adapters; labels are folder names (or checkpoint steps), made unique;
    `choice` (--checkpoints every=N / last=K) picks among a folder's checkpoints."""
    wanted: list[tuple[Path, str, Path | None]] = []
    for path in paths:
        path = Path(path)
        if checkpoints and path.is_dir():
            files = choose_files(checkpoint_files(path), choice)
            if not files:
                raise InputError(f"--checkpoints: no *_adapters.safetensors in {path}")
            wanted += [(path, checkpoint_label(path, f), f) for f in files]
        else:
            wanted.append((path, path.name or str(path), None))
    adapters, seen = [], dict[str, int]()
    for path, label, weights in wanted:
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label}#{seen[label]}"
        adapters.append(read_adapter(path, label, weights))
    return adapters

"""The events the scoring loop emits; the headless printer and the dashboard consume the same
stream. Events are immutable (frozen): a step that adds to one (the breakdowns, a watch's
reference) passes on a copy made with `dataclasses.replace`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..data.token_marks import TokenMarks
from ..data.token_text import TokenTexts
from ..figures.results import ExampleResult
from ..model.memory import human


@dataclass(frozen=True)
class ModelFacts:
    """One model of a run over several (`--model` repeated), as the config pane lists it."""

    label: str
    path: str
    stored: str
    """The weights' form on disk: `float32`, `bfloat16`, `4-bit` (quantized)."""
    computed: str
    """The float dtype it computes in (a quantized model's may be its dequantized copy's)."""
    disk_bytes: int
    """The weight files' size in its folder (0 for a Hugging Face id not on disk here)."""
    memory_bytes: int
    """Its weights in memory while scoring, after any dequantizing or cast."""

    def describe(self) -> str:
        """`4-bit → float32 · 72.3 MiB on disk · 513.1 MiB in memory` (→: computed as)."""
        form = self.stored if self.stored == self.computed else \
            f"{self.stored} → {self.computed}"
        disk = f"{human(self.disk_bytes)} on disk" if self.disk_bytes else "not on disk"
        return f"{form} · {disk} · {human(self.memory_bytes)} in memory"


@dataclass(frozen=True)
class RunPlan:
    """What will be scored, known before the first batch."""

    labels: list[str]
    """One per scored model/adapter, in scoring order ("base" first unless --no-base)."""
    adapter_paths: list[str | None]
    n_examples: int
    n_batches: int
    targets_per_label: int
    """Target tokens each label scores."""
    split_path: str
    data_format: str
    padding_share: float
    """Padded positions / positions fed to the model, in ppltop's length-sorted batches."""
    example_tokens: list[int] = field(repr=False, default_factory=list)
    mlx_lm_padding_share: float = float("nan")
    """The same for the file-order batches `mlx_lm.lora --test` feeds its model."""
    reference: str = ""
    """The label the others are compared with (`compare.resolve_reference`), resolved once
    for every view."""
    model_paths: list[str] = field(default_factory=list)
    """Each label's model folder when the run compares several models (`--model` repeated);
    empty for one model."""
    models: list[ModelFacts] = field(default_factory=list)
    """Each model's form and size when the run compares several; empty for one."""
    packed: bool = False
    """The batches' rows run end to end (`engine.packing`): their padding is not computed."""

    @property
    def skips_padding(self) -> bool:
        """The batches have padding, and packing leaves it uncomputed."""
        return self.packed and self.padding_share > 0

    def padding_text(self) -> str:
        """'9.9%, mlx-lm 41%': both padding shares, the second when known; '9.9%, skipped
        by packing; mlx-lm 41%' where the rows run packed."""
        skipped = self.skips_padding
        ours = f"{self.padding_share:.1%}" + (", skipped by packing" if skipped else "")
        if self.mlx_lm_padding_share != self.mlx_lm_padding_share:  # NaN: an older run
            return ours
        return f"{ours}{'; ' if skipped else ', '}mlx-lm {self.mlx_lm_padding_share:.0%}"


@dataclass(frozen=True)
class DocumentSource:
    """What the token viewer needs besides results: the examples and their token texts."""

    examples: list[Any] = field(repr=False)
    """`data.Example` per record of the split, by index."""
    token_texts: TokenTexts = field(repr=False)
    """A `token_text.TokenTexts` for the run's tokenizer."""
    max_seq_length: int
    path: str
    marks: TokenMarks = field(init=False, repr=False)
    """Each example's roles, turns and template tokens (one reading for every view)."""

    def __post_init__(self) -> None:
        # computed once from the fields, as a frozen dataclass sets its own attributes
        object.__setattr__(self, "marks", TokenMarks(self.examples, self.token_texts))


@dataclass(frozen=True)
class RunStarted:
    plan: RunPlan
    source: DocumentSource | None = None
    groups: object = None
    """A `breakdowns.GroupInput` (set by `breakdown_events`) for the live breakdowns."""


@dataclass(frozen=True)
class Notice:
    """A warning or an event worth a log line."""

    level: str
    """`info` or `warning`."""
    message: str


@dataclass(frozen=True)
class BatchScored:
    """One batch scored by one label."""

    label: str
    batch: int
    """0-based batch number."""
    n_batches: int
    loss_sum: float
    n_tokens: int
    results: list[ExampleResult] = field(repr=False)
    """Examples completed by this batch (a windowed example completes with its last window)."""
    tokens_done: int
    """Targets this label has scored so far."""
    tokens_total: int
    elapsed_s: float
    """Since the first batch started, all labels together."""
    replayed: bool = False
    """Read back from the run directory by `ppltop resume`, not scored now."""
    closes_batch: bool = True
    """The last label of its batch in this pass over the batches: every label the pass
    scores has scored the batch (a pause or a progress line may come now). One pass holds
    every label, or, with the models one at a time, one model's."""

    @property
    def loss(self) -> float:
        return self.loss_sum / self.n_tokens if self.n_tokens else float("nan")


@dataclass(frozen=True)
class RunFinished:
    summaries: list[Any]  # list[RunSummary]; typed loosely to keep this module import-light
    cancelled: bool
    elapsed_s: float
    comparisons: list[Any] = field(default_factory=list)
    """`compare.Comparison` of every other label against the reference label."""
    results: dict[str, Any] = field(default_factory=dict, repr=False)
    """{label: {example: ExampleResult}}: everything the figures were computed from."""
    breakdowns: object = None
    """A `breakdowns.Breakdowns` of the run (set by `breakdown_events`), or None."""
    checkpoints: object = None
    """The `checkpoints.CheckpointCurve` of its checkpoint labels (set by
    `breakdown_events`, as the breakdowns are), or None: none, or not attached."""


@dataclass(frozen=True)
class Resumed:
    """The dashboard's pause ended after `paused_s` seconds (from the worker, which waited
    between batches; never recorded): the live rate and ETA leave that time out."""

    paused_s: float


@dataclass(frozen=True)
class LabelAdded:
    """One more label to score on the run's data, after the run started: a checkpoint that
    `--watch` found once the training wrote it. Never recorded: each checkpoint a watch
    scores is an ordinary run of its own."""

    label: str
    adapter_path: str | None


@dataclass(frozen=True)
class LabelFinished:
    """One label scored to its end while the run goes on (a watch's checkpoint): its
    `summary.RunSummary`, the figures its own run finished with."""

    summary: object


@dataclass(frozen=True)
class SplitStarted:
    """A run set of several parts goes on to the next: over splits (`--split valid,test`)
    the next split, over several tokenizers the models of the next one. The events that
    follow, from its `RunStarted` to its `RunFinished`, are that part's own run."""

    split: str
    """The part's name: the split, or the first model of the tokenizer."""
    index: int
    """0 for the first part."""
    count: int
    kind: str = "split"
    """`split`, or `tokenizer of` (a run over several tokenizers)."""
    reference: str | None = None
    """Over several tokenizers, `--reference`: the label every part's models are compared
    with in bits per byte (None: the first part's first label)."""

    @property
    def title(self) -> str:
        """The part in words: `split test`, `tokenizer of smollm2-135m-f32`."""
        return f"{self.kind} {self.split}"


Event = (RunStarted | Notice | BatchScored | RunFinished | Resumed | LabelAdded
         | LabelFinished | SplitStarted)

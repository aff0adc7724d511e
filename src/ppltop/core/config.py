"""The evaluation's configuration: what `ppltop` was asked to score, and how."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

SPLITS = ("test", "valid", "train")
LONG_SEQUENCES = ("truncate", "window")
DEQUANTIZE = ("auto", "on", "off")
DTYPES = ("auto", "model", "float32")


@dataclass(frozen=True)
class DataFeatures:
    """The record keys of each data format: mlx-lm's `text_feature`, `chat_feature`,
    `prompt_feature` and `completion_feature` config keys, with its defaults."""

    text: str = "text"
    chat: str = "messages"
    prompt: str = "prompt"
    completion: str = "completion"

    def as_mlx_lm(self) -> dict[str, str]:
        """As mlx-lm's `create_dataset` reads them from its config."""
        return {f"{name}_feature": key for name, key in asdict(self).items()}


@dataclass(frozen=True)
class EvalConfig:
    """What to score, frozen once the command line (or a manifest) gave it; flags mirror
    `mlx_lm.lora --test` so a user can paste their command."""

    model: Path
    """Model folder (or a Hugging Face repo id already in the local cache); the first of
    `models` when several are compared."""
    data: Path
    """A folder with train/valid/test.jsonl, or one .jsonl file."""
    models: tuple[Path, ...] = ()
    """Several models compared on the same tokens (`--model` repeated), `model` the first;
    empty: only `model`."""
    model_names: tuple[str, ...] = ()
    """The models' labels where a run over several tokenizers gave them (each part scores
    the models of one tokenizer, named as in the whole run, even one alone); empty: the
    folders' names, and `base` for one model."""
    adapters: list[Path] = field(default_factory=list)
    """Adapter folders, each scored on the same tokens as the base model."""
    checkpoints: bool = False
    """Score every `*_adapters.safetensors` checkpoint in each adapter folder."""
    checkpoint_choice: str = "all"
    """With `checkpoints`: `all`, `every=N` or `last=K` (see `checkpoints.choose_files`)."""
    split: str = "test"
    """One of SPLITS: the `<split>.jsonl` of a --data folder."""
    splits: tuple[str, ...] = ()
    """Several splits scored one after the other in one run (`--split valid,test`), `split`
    the first of them; each split's evaluation has its own `split` (empty: only `split`)."""
    batch_size: int = 4
    max_seq_length: int = 2048
    test_batches: int = -1
    """-1: every batch; N: the N batches `mlx_lm.lora --test-batches N` picks."""
    mask_prompt: bool = False
    features: DataFeatures = field(default_factory=DataFeatures)
    """Record keys of the data (mlx-lm's `*_feature` config keys)."""
    seed: int = 0
    """As `mlx_lm.lora --seed` (default 0): the batch order and --test-batches choice."""
    no_base: bool = False
    """Skip the base model when adapters are given."""
    reference: str | None = None
    """Label the others are compared with; None: the base model, or the first adapter."""
    kl: bool = False
    """Per-token KL divergence of each label's prediction from the reference's."""
    group_by: tuple[str, ...] = ()
    """Record keys whose values group the examples in the breakdowns (`--group-by`)."""
    long_sequences: str = "truncate"
    """`truncate` (as mlx-lm) or `window`: overlapping windows, stride half the window."""
    per_token: bool = True
    """Keep per-token statistics (entropy, rank, top-5); False is the loss-only path."""
    stats_backend: str | None = None
    """`numpy` or `mlx` for the vocabulary-wide statistics; None picks by device."""
    dequantize: str = "auto"
    """`auto` (on the CPU backend, if it fits in memory), `on` or `off`: see precision.py."""
    dtype: str = "auto"
    """`auto` (float32 on the CPU backend, if it fits), `model` (as stored) or `float32`."""
    max_memory: int | None = None
    """Bytes a batch may take at its peak, weights included; None: a safe share of the
    machine's memory (see memory.py). Batches that would exceed it run in micro-batches."""
    mlx_lm_exact: bool = field(
        default_factory=lambda: os.environ.get("PPLTOP_MLX_LM_EXACT", "1") != "0")
    """Compute mlx-lm's figure with MLX's cross-entropy, as mlx-lm does: its own op, or for
    float32 logits on the CPU its float32 sum replayed in its order (`mlx_lm.ce_from_exps`,
    within a few float32 steps); False (`PPLTOP_MLX_LM_EXACT=0`, for benchmarks) takes it
    from ppltop's host log-probs, ~1e-4 nats off at a 50k vocabulary."""
    logits_budget_mb: int = 256
    """Largest block of float32 logits materialized at once (the output projection is chunked)."""

    def __post_init__(self) -> None:
        if isinstance(self.features, dict):  # read back from a manifest
            object.__setattr__(self, "features", DataFeatures(**self.features))
        # lists when read back from a manifest
        object.__setattr__(self, "group_by", tuple(self.group_by))
        object.__setattr__(self, "splits", tuple(self.splits))
        object.__setattr__(self, "model_names", tuple(self.model_names))
        object.__setattr__(self, "models", tuple(Path(m) for m in self.models))

    @property
    def all_splits(self) -> tuple[str, ...]:
        """The splits this run scores, in order."""
        return self.splits or (self.split,)

    @property
    def all_models(self) -> tuple[Path, ...]:
        """The models this run scores, in order (the first is the default reference)."""
        return self.models or (Path(self.model),)

    @property
    def compares_distributions(self) -> bool:
        """Per-token KL and same-top figures are computed: asked with --kl, and always when
        several models are compared (the figures llama.cpp's users compare models by)."""
        return self.kl or len(self.all_models) > 1

    def check_numbers(self) -> None:
        """Refuse values no evaluation can run with, naming the flag (a config built in
        code or read from a manifest: the command line refuses them as it parses)."""
        from .errors import InputError

        if self.batch_size < 1:
            raise InputError(f"--batch-size {self.batch_size}: must be at least 1")
        if self.max_seq_length < 2:
            raise InputError(f"--max-seq-length {self.max_seq_length}: must be at least 2")
        if self.test_batches == 0 or self.test_batches < -1:
            raise InputError(f"--test-batches {self.test_batches}: use -1 for all or a "
                             "positive count")
        if self.long_sequences not in LONG_SEQUENCES:
            raise InputError(f"--long-sequences {self.long_sequences}: use "
                             f"{' or '.join(LONG_SEQUENCES)}")
        if self.split not in SPLITS:
            raise InputError(f"--split {self.split}: use {', '.join(SPLITS[:-1])} or "
                             f"{SPLITS[-1]}")
        if self.logits_budget_mb < 1:
            raise InputError(f"logits budget {self.logits_budget_mb} MB: must be at least 1")

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("model", "data"):
            out[key] = str(out[key])
        out["adapters"] = [str(a) for a in self.adapters]
        out["models"] = [str(m) for m in self.models]
        return out

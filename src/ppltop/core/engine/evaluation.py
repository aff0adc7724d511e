"""The scoring loop: a generator of events over batches, for every model/adapter.

Batch by batch, every label (base model, then each adapter) scores the same batch before
the next batch starts, so partial results always compare like with like. For each batch
the model body runs once per label; the output projection and the vocabulary-wide
statistics run on the hidden states of the target positions only, in chunks, so a 262k
vocabulary never materializes a batch x length x vocab logits tensor.

MLX streams are per thread: whoever iterates `Evaluation.events()` off the main thread must
do so inside `with mx.stream(mx.new_stream(device))` (see `worker.py`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from .. import mlx_lm
from ..model import memory, precision
from . import token_stats
from ..data.batching import Segment, padding_share, plan_batches, segments_for, truncated_targets
from ..figures.compare import compare_labels, resolve_reference
from ..config import EvalConfig
from ..data.split import Split, load_split
from ..errors import InputError
from ..store.events import BatchScored, DocumentSource, Event, Notice, RunFinished, RunPlan, RunStarted
from ..model.loader import Adapter, ModelHandle, checkpoint_files, read_adapter
from ..figures.results import ExampleResult, compact
from ..figures.summary import summarize
from ..data.token_text import TokenTexts


class SplitForward:
    """The model split into body (tokens -> hidden states) and head (hidden -> logits).

    Checked once against the model's own forward pass; when a model does more after its
    body than one projection (soft-capping, scaling), the full forward pass is used.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.split = False
        inner = getattr(model, "model", None)
        if inner is None or not callable(inner):
            return
        probe = mx.array(np.arange(1, 9, dtype=np.int32)[None] % 7 + 1)
        try:
            want = model(probe)
            got = self._head(inner(probe))
            self.split = bool(mx.allclose(want, got, rtol=1e-4, atol=1e-4).item())
        except Exception:
            self.split = False

    def _head(self, hidden: mx.array) -> mx.array:
        lm_head = getattr(self.model, "lm_head", None)
        if lm_head is not None and not getattr(getattr(self.model, "args", None),
                                               "tie_word_embeddings", False):
            return lm_head(hidden)
        return self.model.model.embed_tokens.as_linear(hidden)

    def rows(self, inputs: mx.array, rows: np.ndarray, cols: np.ndarray,
             micro_rows: int | None = None):
        """Run the body once (over `micro_rows` batch rows at a time); return
        `project(a, b)`, the logits of selected target rows a:b. `rows` is non-decreasing."""
        body = self.model.model if self.split else self.model
        n_rows = inputs.shape[0]
        step = min(micro_rows or n_rows, n_rows)
        parts = []
        for start in range(0, n_rows, step):
            sel = slice(*np.searchsorted(rows, [start, start + step]))
            out = body(inputs[start:start + step])
            part = out[mx.array(rows[sel] - start), mx.array(cols[sel])]
            mx.eval(part)
            parts.append(part)
            del out
        picked = parts[0] if len(parts) == 1 else mx.concatenate(parts)
        if self.split:
            return lambda a, b: self._head(picked[a:b])
        return lambda a, b: picked[a:b]


@dataclass
class _BatchRows:
    inputs: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    targets: np.ndarray
    owner: np.ndarray
    """Per target row: the batch row it belongs to, or -1 - row for a phantom target."""


@dataclass
class _Pending:
    """Pieces of an example scored so far by one label (windows may span batches)."""

    parts: list = field(default_factory=list)
    mlx_lm: tuple = (None, float("nan"))
    """mlx-lm's cross-entropies of the first segment's targets, and of its phantom target."""


class Evaluation:
    """One evaluation: a model, its adapters, one data split, and the scoring loop."""

    def __init__(self, config: EvalConfig, handle: ModelHandle | None = None,
                 resume_from=None):
        self.config = config
        self.handle = handle
        self.resume_from = resume_from
        """A `run_store.RunRecord` whose complete batches are read back, not scored."""
        self.adapters: list[Adapter] = []
        self.split: Split | None = None
        self.batches: list[list[Segment]] = []
        self.labels: list[str] = []
        self.cancelled = False
        self.plan: RunPlan | None = None
        _check_numbers(config)

    # -- preparation -----------------------------------------------------------------
    def prepare(self) -> RunPlan:
        """Load model, adapters and data; plan the batches. Raises InputError."""
        cfg = self.config
        if self.handle is None:
            self.handle = ModelHandle.load(cfg.model)
        self.handle.activate(None)  # convert the base layers, before any adapter wraps them
        self.precision = precision.apply(self.handle.model, cfg.dequantize, cfg.dtype)
        self.adapters = _read_adapters(cfg.adapters, cfg.checkpoints)
        for adapter in self.adapters:  # fail now, not at batch 1
            self.handle.activate(adapter)
        self.handle.activate(None)
        self.split = load_split(cfg.data, cfg.split, self.handle.tokenizer, cfg.mask_prompt,
                                cfg.features)
        examples = mlx_lm.chosen_examples(self.split.examples, cfg)
        self.scored_examples = examples
        segments, self.empty_after_truncation = [], []
        for example in examples:
            if max(1, example.offset) >= len(example.tokens):
                raise InputError(
                    f"{self.split.path}:{example.line}: this example has no token to score "
                    f"({len(example.tokens)} tokens, prompt {example.offset}); "
                    "drop --mask-prompt or remove the record")
            own = segments_for(example, cfg.max_seq_length, cfg.long_sequences)
            if sum(s.n_targets for s in own) == 0:
                # still fed to the model: mlx-lm may count its phantom pad target
                self.empty_after_truncation.append(example)
            segments += own
        self.segments_per_example = {}
        for s in segments:
            self.segments_per_example[s.example] = self.segments_per_example.get(s.example, 0) + 1
        self.batches = plan_batches(segments, cfg.batch_size, cfg.seed)
        self.labels, paths = [], []
        if not (cfg.no_base and self.adapters):
            self.labels.append("base")
            paths.append(None)
        for adapter in self.adapters:
            self.labels.append(adapter.label)
            paths.append(str(adapter.path))
        if cfg.reference is not None and cfg.reference not in self.labels:
            raise InputError(f"--reference {cfg.reference}: no such label; "
                             f"choose one of {', '.join(self.labels)}")
        self.forward = SplitForward(self.handle.model)
        self.texts = TokenTexts(self.handle.tokenizer)
        self._plan_memory()
        self.plan = RunPlan(
            labels=list(self.labels),
            adapter_paths=paths,
            n_examples=len(examples),
            n_batches=len(self.batches),
            targets_per_label=sum(s.n_targets for s in segments),
            split_path=str(self.split.path),
            data_format=self.split.format,
            padding_share=padding_share(self.batches),
            example_tokens=[len(e.tokens) for e in examples],
            reference=resolve_reference(self.labels, cfg.reference),
            mlx_lm_padding_share=mlx_lm.padding_share(
                [len(e.tokens) for e in self.split.examples], cfg.batch_size, cfg.test_batches,
                cfg.seed, cfg.max_seq_length),
        )
        return self.plan

    def _plan_memory(self) -> None:
        """Check the largest batch against --max-memory now, before anything is written."""
        from mlx.utils import tree_flatten

        cfg = self.config
        self.budget = cfg.max_memory or memory.default_budget()
        self.weights_bytes = sum(p.nbytes for _, p in tree_flatten(self.handle.model.parameters()))
        self.shape = memory.Shape.from_config(
            self.handle.config, 4 if self.precision.compute_dtype == "float32" else 2)
        self.memory_note = None
        split_batches, smallest, worst = 0, None, 0
        for batch in self.batches:  # arithmetic only: every batch, so none fails mid-run
            rows, width = len(batch), max(s.length for s in batch)
            targets = sum(s.n_targets for s in batch) + rows
            split = memory.plan_split(self.shape, rows, width, self.weights_bytes, self.budget,
                                      self._chunk_rows(), not self.forward.split, targets)
            if split.micro_rows < rows:
                split_batches += 1
                smallest = min(smallest or rows, split.micro_rows)
                chunk = min(self._chunk_rows(), targets)
                worst = max(worst, self.weights_bytes + self.shape.logits_bytes(chunk)
                            + self.shape.body_bytes(rows, width, not self.forward.split))
        if split_batches:
            self.memory_note = (
                f"{split_batches} of {len(self.batches)} batches would need up to about "
                f"{memory.human(worst)}, more than --max-memory {memory.human(self.budget)}: "
                f"they run in micro-batches (down to {smallest} rows), with the same figures")

    def _replayable(self) -> dict:
        """Batches of the run being resumed that every label completed, and whose examples
        are all complete (a window of an unfinished example is scored again)."""
        record = self.resume_from
        if record is None:
            return {}
        by_batch: dict[int, dict[str, dict]] = {}
        for event in record.events:
            if event["type"] == "batch":
                by_batch.setdefault(event["batch"], {})[event["label"]] = event
        replay = {}
        for number in record.batches_done:
            if number >= len(self.batches):
                continue
            examples = {s.example for s in self.batches[number]}
            if all(i in record.results.get(label, {}) for label in self.labels for i in examples):
                replay[number] = by_batch[number]
        return replay

    def manifest(self, blas=None) -> dict:
        """What the run directory records so that a run can be reopened and resumed."""
        from importlib.metadata import version

        from ..store.run_dir import fingerprint

        cfg = self.config
        return {
            "format": 2,
            "ppltop": version("ppltop"),
            "mlx": version("mlx"),
            "mlx_lm": version("mlx-lm"),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "config": cfg.to_dict(),
            "labels": list(self.labels),
            "adapters": [{"label": a.label, "path": str(a.path),
                          "fingerprint": fingerprint(a.path)} for a in self.adapters],
            "model_fingerprint": fingerprint(Path(cfg.model)) if Path(cfg.model).exists()
            else str(cfg.model),
            "data_file": str(self.split.path),
            "data_sha256": fingerprint(self.split.path),
            "blas": blas.to_dict() if blas else None,
            "device": str(mx.default_device()),
            "precision": self.precision.to_dict(),
            "n_batches": len(self.batches),
            "n_examples": len(self.scored_examples),
        }

    def _score_all(self, batch, pending: dict, busy_s: dict) -> dict:
        """Every label on one batch: {label: (completed examples, loss sum)}."""
        if self.config.kl and len(self.labels) > 1:
            t0 = time.perf_counter()
            scored = self._score_batch_kl(batch, pending)
            share = (time.perf_counter() - t0) / len(self.labels)
            for label in self.labels:
                busy_s[label] += share
            return scored
        scored = {}
        for label in self.labels:
            t0 = time.perf_counter()
            self.handle.activate(self.adapter_for(label))
            scored[label] = self._score_batch(batch, pending[label])
            busy_s[label] += time.perf_counter() - t0
        return scored

    def cancel(self) -> None:
        """Stop after the batch in flight; the loop then yields partial figures."""
        self.cancelled = True

    def adapter_for(self, label: str) -> Adapter | None:
        for adapter in self.adapters:
            if adapter.label == label:
                return adapter
        return None

    # -- the loop ----------------------------------------------------------------------
    def events(self) -> Iterator[Event]:
        """Prepare, then yield RunStarted, Notices, BatchScored per batch and label, RunFinished.

        Closing the generator (or setting `cancelled`) stops between batches; RunFinished
        then carries the partial figures.
        """
        plan = self.plan if self.plan is not None else self.prepare()
        source = DocumentSource(self.split.examples, self.texts,
                                self.config.max_seq_length, str(self.split.path))
        yield RunStarted(plan, source)
        for note in self.precision.notes:
            yield Notice("info", note)
        if self.memory_note:
            yield Notice("info", self.memory_note)
        for warning in self.split.warnings:
            yield Notice("warning", warning)
        cfg = self.config
        if len(self.split.examples) < cfg.batch_size:
            yield Notice("warning", f"{len(self.split.examples)} examples but --batch-size "
                         f"{cfg.batch_size}: mlx-lm would refuse; ppltop scores them in one "
                         "smaller batch")
        if self.empty_after_truncation:
            lines = ", ".join(str(e.line) for e in self.empty_after_truncation[:5])
            yield Notice("warning", f"{len(self.empty_after_truncation)} examples have no token "
                         f"left to score within --max-seq-length {cfg.max_seq_length} (their "
                         f"prompt fills it; lines {lines}): they count in neither figure")
        n_trunc = sum(1 for e in self.scored_examples if len(e.tokens) > cfg.max_seq_length)
        if n_trunc:
            how = ("scored whole in overlapping windows" if cfg.long_sequences == "window"
                   else "truncated as mlx-lm does")
            yield Notice("warning", f"{n_trunc} examples are longer than --max-seq-length "
                         f"{cfg.max_seq_length}: {how}")
        pending = {label: {} for label in self.labels}
        done = {label: {} for label in self.labels}
        tokens_done = dict.fromkeys(self.labels, 0)
        busy_s = dict.fromkeys(self.labels, 0.0)
        start = time.perf_counter()
        replay = self._replayable()
        try:
            for number, batch in enumerate(self.batches):
                if self.cancelled:
                    break
                if number in replay:
                    for label in self.labels:
                        recorded = replay[number][label]
                        finished = [self.resume_from.results[label][i]
                                    for i in recorded["examples"]]
                        for result in finished:
                            done[label][result.example] = result
                        tokens_done[label] += recorded["n_tokens"]
                        yield BatchScored(label, number, len(self.batches), recorded["loss_sum"],
                                          recorded["n_tokens"], finished, tokens_done[label],
                                          plan.targets_per_label, time.perf_counter() - start,
                                          replayed=True)
                    continue
                scored = self._score_all(batch, pending, busy_s)
                for label in self.labels:
                    finished, loss_sum = scored[label]
                    for result in finished:
                        done[label][result.example] = result
                        if not result.finite:
                            yield Notice("warning", f"[{label}] {self.split.path}:"
                                         f"{self.split.examples[result.example].line}: "
                                         "non-finite loss; this example is left out of the "
                                         "ppltop figure and reported")
                    n_tok = sum(s.n_targets for s in batch)
                    tokens_done[label] += n_tok
                    yield BatchScored(label, number, len(self.batches), loss_sum, n_tok,
                                      finished, tokens_done[label], plan.targets_per_label,
                                      time.perf_counter() - start)
        except GeneratorExit:
            self.cancelled = True
            raise
        finally:
            self.handle.activate(None)
        elapsed = time.perf_counter() - start
        summaries = [
            summarize(label, _path_of(self.adapter_for(label)), done[label], self.split,
                      self.scored_examples, cfg, elapsed,
                      complete=not self.cancelled,
                      tokens_per_s=tokens_done[label] / busy_s[label] if busy_s[label] else 0.0,
                      precision_note=self.precision.explanation(),
                      ranks=self.mlx_lm_ranks)
            for label in self.labels
        ]
        yield RunFinished(summaries, self.cancelled, elapsed, self._compare(done), done)

    @property
    def mlx_lm_ranks(self) -> int:
        """Processes `mlx_lm.lora --test` would be launched with, for its figure."""
        return 1

    def reference_label(self) -> str:
        return resolve_reference(self.labels, self.config.reference)

    def _compare(self, done: dict) -> list:
        return compare_labels(done, self.labels, self.reference_label())

    def _batch_rows(self, batch: list[Segment]) -> _BatchRows:
        """Inputs of a batch and the (row, column) of every target to score, the same for
        every label. Each first segment also gets mlx-lm's phantom target: pad id 0 after
        its last token (owner -1 - row)."""
        examples = self.split.examples
        width = max(s.length for s in batch)
        inputs = np.zeros((len(batch), width), dtype=np.int32)
        rows, cols, targets, owner = [], [], [], []
        for r, seg in enumerate(batch):
            tokens = examples[seg.example].tokens
            inputs[r, :seg.length] = tokens[seg.start:seg.end]
            positions = np.arange(seg.first_target, seg.end)
            rows.append(np.full(len(positions), r))
            cols.append(positions - 1 - seg.start)
            targets.append(tokens[positions])
            owner.append(np.full(len(positions), r))
            if seg.window == 0:
                rows.append(np.array([r]))
                cols.append(np.array([seg.length - 1]))
                targets.append(np.array([0]))
                owner.append(np.array([-1 - r]))
        return _BatchRows(inputs, np.concatenate(rows), np.concatenate(cols),
                          np.concatenate(targets).astype(np.int32), np.concatenate(owner))

    def _memory_split(self, rows: _BatchRows) -> memory.Split:
        """Micro-batch rows and logits block rows that keep this batch under --max-memory."""
        return memory.plan_split(self.shape, *rows.inputs.shape, self.weights_bytes,
                                 self.budget, self._chunk_rows(),
                                 full_logits=not self.forward.split, targets=len(rows.targets))

    def _score_batch(self, batch: list[Segment], pending: dict) -> tuple[list, float]:
        """Score a batch with the active label: (examples completed, loss sum of the batch)."""
        rows = self._batch_rows(batch)
        split = self._memory_split(rows)
        project = self.forward.rows(mx.array(rows.inputs), rows.rows, rows.cols,
                                    split.micro_rows)
        blocks, native_ce = self._stats_in_chunks(project, rows.targets, split.chunk_rows)
        return self._collect(batch, rows, blocks, native_ce, None, pending)

    def _score_batch_kl(self, batch: list[Segment], pending: dict) -> dict:
        """Score a batch with every label at once, chunk by chunk, so each chunk's logits of
        the reference and of each other label meet once: KL(reference || label) per token
        without keeping any full distribution. Returns {label: (completed, loss sum)}."""
        rows = self._batch_rows(batch)
        inputs = mx.array(rows.inputs)
        ref = self.reference_label()
        split = self._memory_split(rows)
        projects = {}
        for label in self.labels:
            self.handle.activate(self.adapter_for(label))
            projects[label] = self.forward.rows(inputs, rows.rows, rows.cols, split.micro_rows)
        n = len(rows.targets)
        chunk = max(1, split.chunk_rows // 2)  # two labels' blocks are alive at once
        blocks = {label: [] for label in self.labels}
        natives = {label: [] for label in self.labels}
        kls = {label: [] for label in self.labels if label != ref}
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            self.handle.activate(self.adapter_for(ref))
            ref_logits = projects[ref](a, b)
            ref_logp = token_stats.log_softmax_numpy(ref_logits)
            for label in self.labels:
                if label != ref:
                    self.handle.activate(self.adapter_for(label))
                logits = ref_logits if label == ref else projects[label](a, b)
                self._chunk_stats(logits, rows.targets[a:b], blocks[label], natives[label])
                if label != ref:
                    kls[label].append(token_stats.kl_numpy(ref_logp, logits))
        out = {}
        for label in self.labels:
            native = np.concatenate(natives[label]) if natives[label] else None
            kl = np.concatenate(kls[label]) if label in kls else None
            out[label] = self._collect(batch, rows, token_stats.concat(blocks[label]), native,
                                       kl, pending[label])
        return out

    def _collect(self, batch, rows: _BatchRows, blocks, native_ce, kl, pending: dict
                 ) -> tuple[list, float]:
        """File each segment's targets under its example; return completed examples."""
        finished, loss_sum = [], 0.0
        for r, seg in enumerate(batch):
            sel = np.nonzero(rows.owner == r)[0]
            part = _take(blocks, sel)
            loss_sum += float(-part.logprob.astype(np.float64).sum())
            state = pending.setdefault(seg.example, _Pending())
            state.parts.append((seg.first_target, part, rows.targets[sel],
                                None if kl is None else kl[sel]))
            if seg.window == 0:
                phantom = np.nonzero(rows.owner == -1 - r)[0][0]
                ce = native_ce if native_ce is not None else -blocks.logprob
                state.mlx_lm = (ce[sel].astype(np.float32), float(ce[phantom]))
            if len(state.parts) == self.segments_per_example[seg.example]:
                finished.append(self._assemble(seg.example, pending.pop(seg.example)))
        return finished, loss_sum

    def _chunk_rows(self) -> int:
        """Target rows per block of logits, within --logits budget."""
        return max(1, (self.config.logits_budget_mb << 20) // (4 * self._vocab_size()))

    def _chunk_stats(self, logits, targets: np.ndarray, blocks: list, natives: list) -> None:
        if self.config.per_token:
            blocks.append(token_stats.compute(logits, targets, self.config.stats_backend))
        else:
            blocks.append(token_stats.loss_only(logits, targets, self.config.stats_backend))
        if self.config.mlx_lm_exact or logits.dtype != mx.float32:
            natives.append(mlx_lm.token_ce(logits, targets))

    def _stats_in_chunks(self, project, targets: np.ndarray, chunk: int):
        n = len(targets)
        blocks, natives = [], []
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            self._chunk_stats(project(a, b), targets[a:b], blocks, natives)
        merged = token_stats.concat(blocks)
        return merged, (np.concatenate(natives) if natives else None)

    def _vocab_size(self) -> int:
        if not hasattr(self, "_vocab"):
            args = getattr(self.handle.model, "args", None)
            self._vocab = int(getattr(args, "vocab_size", 0) or
                              self.handle.config.get("vocab_size", 0) or 262144)
        return self._vocab

    def _assemble(self, index: int, state: _Pending) -> ExampleResult:
        example = self.split.examples[index]
        state.parts.sort(key=lambda p: p[0])
        first = state.parts[0][0]
        # windows score disjoint, adjacent ranges: the targets are contiguous from `first`
        assert all(a[0] + len(a[2]) == b[0] for a, b in zip(state.parts, state.parts[1:]))
        block = token_stats.concat([p for _, p, _, _ in state.parts])
        tgt = np.concatenate([t for _, _, t, _ in state.parts]).astype(np.int32)
        kl = (None if state.parts[0][3] is None
              else np.concatenate([k for _, _, _, k in state.parts]).astype(np.float32))
        truncated = (0 if self.config.long_sequences == "window"
                     else truncated_targets(example, self.config.max_seq_length))
        return ExampleResult(
            example=index,
            first=int(first),
            **compact(block, tgt, self._vocab_size()),
            n_bytes=self.texts.content_bytes(tgt),
            truncated=truncated,
            mlx_lm=mlx_lm.MlxLmPart.of(state.mlx_lm[0], block.logprob, state.mlx_lm[1]),
            kl=kl,
        )


def _path_of(adapter: Adapter | None) -> str | None:
    return str(adapter.path) if adapter is not None else None


def _take(block: token_stats.StatsBlock, sel: np.ndarray) -> token_stats.StatsBlock:
    return token_stats.StatsBlock(block.logprob[sel], block.entropy[sel], block.rank[sel],
                                  block.top_ids[sel], block.top_logprobs[sel])


def _read_adapters(paths: list[Path], checkpoints: bool = False) -> list[Adapter]:
    """Read adapters; labels are folder names (or checkpoint steps), made unique."""
    wanted: list[tuple[Path, str, Path | None]] = []
    for path in paths:
        path = Path(path)
        if checkpoints and path.is_dir():
            files = checkpoint_files(path)
            if not files:
                raise InputError(f"--checkpoints: no *_adapters.safetensors in {path}")
            for f in files:
                step = f.name.split("_", 1)[0] if f.name != "adapters.safetensors" else "final"
                wanted.append((path, f"{path.name}@{step.lstrip('0') or '0'}", f))
        else:
            wanted.append((path, path.name or str(path), None))
    adapters, seen = [], {}
    for path, label, weights in wanted:
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label}#{seen[label]}"
        adapters.append(read_adapter(path, label, weights))
    return adapters


def _check_numbers(cfg: EvalConfig) -> None:
    if cfg.batch_size < 1:
        raise InputError(f"--batch-size {cfg.batch_size}: must be at least 1")
    if cfg.max_seq_length < 2:
        raise InputError(f"--max-seq-length {cfg.max_seq_length}: must be at least 2")
    if cfg.test_batches == 0 or cfg.test_batches < -1:
        raise InputError(f"--test-batches {cfg.test_batches}: use -1 for all or a positive count")
    if cfg.long_sequences not in ("truncate", "window"):
        raise InputError(f"--long-sequences {cfg.long_sequences}: use truncate or window")
    if cfg.split not in ("test", "valid", "train"):
        raise InputError(f"--split {cfg.split}: use test, valid or train")
    if cfg.logits_budget_mb < 1:
        raise InputError(f"logits budget {cfg.logits_budget_mb} MB: must be at least 1")

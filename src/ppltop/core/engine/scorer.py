"""Score one batch for every label: per-token statistics, mlx-lm's cross-entropy, KL.

For each label the model body runs once over the batch; the output projection and the
vocabulary-wide statistics run on the hidden states of the target positions only, in
blocks of rows, so a 262k vocabulary never materializes a batch x length x vocab tensor.
With `--kl` every label scores the batch together, block by block, so each block of the
reference's logits meets each other label's once. When the models are scored one at a time
(`residency.py`), the reference's top-k log-probabilities are kept instead, and a later
model's KL is computed against them with its bounds (`kept_reference.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import mlx.core as mx
import numpy as np

from .. import mlx_lm
from ..data.batching import Segment
from ..data.token_text import TokenTexts
from ..model import memory
from . import kept_reference, token_stats
from .assembler import ExampleAssembler
from .forward import SplitForward
from .plan import ScoringPlan
from .residency import Residency

Scored = dict[str, tuple[list, float]]
"""Per label: the examples a batch completed, and the batch's summed target loss."""


class Scorer(Protocol):
    """What the loop needs of a scorer: `BatchScorer`, or one that wraps it (ranks)."""

    busy_s: dict[str, float]
    peak_bytes: dict[str, int]
    stops_together: bool
    """A stop request is agreed inside `score` with other processes, and takes effect after
    the batch every one of them agreed on (`stop_agreed`)."""
    stop_agreed: bool

    def score(self, number: int, batch: list[Segment], stop_requested: bool = False,
              labels: list[str] | None = None) -> Scored: ...


@dataclass
class BatchRows:
    """A batch's inputs and the (row, column) of every target to score, the same for every
    label. Each first segment also gets mlx-lm's phantom target: pad id 0 after its last
    token."""

    inputs: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    targets: np.ndarray
    owner: np.ndarray
    """Per target row: the batch row it belongs to, or -1 - row for a phantom target."""
    lengths: np.ndarray
    """Per batch row: its tokens before the padding."""

    @classmethod
    def of(cls, batch: list[Segment], examples) -> BatchRows:
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
        return cls(inputs, np.concatenate(rows), np.concatenate(cols),
                   np.concatenate(targets).astype(np.int32), np.concatenate(owner),
                   np.array([s.length for s in batch]))


class BatchScorer:
    """Scores batches of one plan, label after label (or all at once, with KL); each label
    computes with its model (`plan.model_for`), its adapter activated in place."""

    stops_together = False
    stop_agreed = False

    def __init__(self, plan: ScoringPlan, residency: Residency, texts: TokenTexts,
                 vocab_size: int):
        self.plan = plan
        self.residency = residency
        self.kept = kept_reference.KeptReference(plan.reference, plan.memory.top_k)
        self._number = -1
        self.assemblers = {label: ExampleAssembler(plan, texts, vocab_size)
                           for label in plan.labels}
        self.busy_s = dict.fromkeys(plan.labels, 0.0)
        """Seconds each label spent scoring, for its tokens/s."""
        self.peak_bytes = dict.fromkeys(plan.labels, 0)
        """MLX's peak allocation while each label's model body ran, its weights included
        and the other models' weights (resident meanwhile) left out."""

    @property
    def forward(self) -> SplitForward | None:
        """The first model's forward pass (None while another is in memory alone)."""
        return self.residency.forwards[0]

    def _activate(self, label: str) -> SplitForward:
        """Make `label`'s model compute with its adapter; its forward pass."""
        model = self.plan.model_for(label)
        forward = self.residency.forward_for(model)
        self.residency.handles[model].activate(self.plan.adapter_for(label))
        return forward

    def _note_peak(self, label: str) -> None:
        own = mx.get_peak_memory() - self.residency.others_bytes(self.plan.model_for(label))
        self.peak_bytes[label] = max(self.peak_bytes[label], own)
        memory.reset_peak()

    def _clock(self, label: str, since: float) -> float:
        """Add the time since `since` to `label`'s; now."""
        now = time.perf_counter()
        self.busy_s[label] += now - since
        return now

    def score(self, number: int, batch: list[Segment], stop_requested: bool = False,
              labels: list[str] | None = None) -> Scored:
        """Every label (or those of `labels`: one model's, one at a time) on batch `number`
        (its position in the plan); a stop request is the loop's to act on, before the
        next batch."""
        labels = labels or self.plan.labels
        self._number = number
        # one at a time, the next model is read now, before any label's peak is measured
        self.residency.forward_for(self.plan.model_for(labels[0]))
        for forward in self.residency.forwards:
            if forward is not None:
                forward.new_batch()
        if (self.plan.config.compares_distributions and len(labels) > 1
                and self.plan.reference in labels):
            return self._score_with_kl(batch, labels)
        scored = {}
        for label in labels:
            t0 = time.perf_counter()
            memory.reset_peak()
            scored[label] = self.score_label(label, batch)
            self._note_peak(label)
            self.busy_s[label] += time.perf_counter() - t0
        return scored

    def score_label(self, label: str, batch: list[Segment]) -> tuple[list, float]:
        """Score a batch with `label`: (examples completed, loss sum)."""
        forward = self._activate(label)
        rows = BatchRows.of(batch, self.plan.split.examples)
        split = self._memory_split(rows)
        project = forward.rows(mx.array(rows.inputs), rows.rows, rows.cols, split.micro_rows,
                               rows.lengths)
        blocks, natives, kls, kept = [], [], [], []
        needed = self._needs_mlx_lm_ce(batch, rows)
        n = len(rows.targets)
        against = self.kept.rows_for(self._number, label)
        for a in range(0, n, split.chunk_rows):
            b = min(n, a + split.chunk_rows)
            logits = project(a, b)
            self._block_stats(logits, rows.targets[a:b], blocks, natives, needed[a:b])
            if against is not None:
                kls.append(self.kept.kl(label, against, a, b, logits, rows.owner[a:b] >= 0))
            elif self.kept.keeps(label):
                kept.append(kept_reference.keep(logits, self.kept.k))
        self.kept.store(self._number, kept)
        native = np.concatenate(natives) if natives else None
        kl = np.concatenate(kls) if kls else None
        return self._collect(label, batch, rows, token_stats.concat(blocks), native, kl)

    def _score_with_kl(self, batch: list[Segment], labels: list[str]) -> Scored:
        """KL(reference || label) per token without keeping any full distribution."""
        plan = self.plan
        rows = BatchRows.of(batch, plan.split.examples)
        inputs = mx.array(rows.inputs)
        ref = plan.reference
        split = self._memory_split(rows)
        projects = {}
        t = time.perf_counter()  # each label's own time, for its tokens/s
        for label in labels:  # the reference's log-probs wait, a block at a time
            memory.reset_peak()
            projects[label] = self._activate(label).rows(inputs, rows.rows, rows.cols,
                                                         split.micro_rows, rows.lengths)
            self._note_peak(label)
            t = self._clock(label, t)
        n = len(rows.targets)
        chunk = max(1, split.chunk_rows // 2)  # two labels' blocks are alive at once
        blocks = {label: [] for label in labels}
        natives = {label: [] for label in labels}
        kls = {label: [] for label in labels if label != ref}
        kept = []
        needed = self._needs_mlx_lm_ce(batch, rows)
        for a in range(0, n, chunk):
            b = min(n, a + chunk)
            self._activate(ref)
            ref_logits = projects[ref](a, b)
            ref_logp = token_stats.log_softmax_numpy(ref_logits)
            if self.kept.keeps(ref):
                kept.append(kept_reference.keep_of(ref_logp, self.kept.k))
            t = self._clock(ref, t)
            for label in labels:
                if label != ref:
                    self._activate(label)
                logits = ref_logits if label == ref else projects[label](a, b)
                self._block_stats(logits, rows.targets[a:b], blocks[label], natives[label],
                                  needed[a:b])
                if label != ref:
                    kls[label].append(token_stats.kl_numpy(ref_logp, logits))
                t = self._clock(label, t)
        self.kept.store(self._number, kept)
        out = {}
        for label in labels:
            native = np.concatenate(natives[label]) if natives[label] else None
            kl = np.concatenate(kls[label]) if label in kls else None
            out[label] = self._collect(label, batch, rows, token_stats.concat(blocks[label]),
                                       native, kl)
        return out

    def release(self) -> None:
        """The run's end: free the model held one at a time and the reference's top-k."""
        self.residency.release()
        self.kept.batches.clear()

    def _memory_split(self, rows: BatchRows):
        return self.plan.memory.split_for(*rows.inputs.shape, targets=len(rows.targets))

    @staticmethod
    def _needs_mlx_lm_ce(batch: list[Segment], rows: BatchRows) -> np.ndarray:
        """Target rows mlx-lm's figure reads: a first segment's targets and its phantom
        (mlx-lm truncates, so a window after the first is never in its figure)."""
        first = np.array([seg.window == 0 for seg in batch])
        return (rows.owner < 0) | first[np.maximum(rows.owner, 0)]

    def _block_stats(self, logits, targets: np.ndarray, blocks: list, natives: list,
                     needed: np.ndarray) -> None:
        config = self.plan.config
        native = config.mlx_lm_exact or logits.dtype != mx.float32
        stats = token_stats.compute if config.per_token else token_stats.loss_only
        block = stats(logits, targets, config.stats_backend, mlx_lm_ce=native)
        blocks.append(block)
        if not native:
            return
        if block.mlx_lm_ce is not None:  # replayed on the host, from the statistics' exps
            natives.append(block.mlx_lm_ce)
            return
        if needed.all():
            natives.append(mlx_lm.token_ce(logits, targets))
            return
        ce = np.full(len(targets), np.nan, np.float32)  # never read: see _needs_mlx_lm_ce
        if needed.any():
            where = np.nonzero(needed)[0]
            ce[where] = mlx_lm.token_ce(logits[mx.array(where)], targets[where])
        natives.append(ce)

    def _collect(self, label: str, batch: list[Segment], rows: BatchRows, blocks, native_ce,
                 kl) -> tuple[list, float]:
        """File each segment's targets under its example; return completed examples."""
        assembler = self.assemblers[label]
        finished, loss_sum = [], 0.0
        for r, seg in enumerate(batch):
            sel = np.nonzero(rows.owner == r)[0]
            part = _take(blocks, sel)
            loss_sum += float(-part.logprob.astype(np.float64).sum())
            first_ce = None
            if seg.window == 0:
                phantom = np.nonzero(rows.owner == -1 - r)[0][0]
                ce = native_ce if native_ce is not None else -blocks.logprob
                first_ce = (ce[sel].astype(np.float32), float(ce[phantom]))
            result = assembler.file(seg.example, seg.first_target, part, rows.targets[sel],
                                    None if kl is None else kl[sel], first_ce)
            if result is not None:
                finished.append(result)
        return finished, loss_sum


def _take(block: token_stats.StatsBlock, sel: np.ndarray) -> token_stats.StatsBlock:
    return token_stats.StatsBlock(block.logprob[sel], block.entropy[sel], block.rank[sel],
                                  block.top_ids[sel], block.top_logprobs[sel])

"""Every rule of `mlx_lm.lora --test`'s figure in one place, so a change in mlx-lm touches
one file.

What mlx-lm 0.32 does (`mlx_lm.tuner.trainer.iterate_batches`, `default_loss`, `evaluate`):
- batches are consecutive records in file order: its length sort is a no-op
  (`CacheDataset.itemlen` counts the raw record's keys), and the last `n % batch_size`
  records are never scored; `--test-batches N` scores the first N batches of a permutation
  drawn from numpy's global generator seeded with `--seed`;
- under `mlx.launch` with n ranks, rank r takes rows r::n of every batch;
- a rank's batch is padded to `1 + 32 * ceil(longest / 32)` tokens, capped at
  `--max-seq-length`, and longer rows are truncated to it;
- the loss mask `offset <= step <= length` includes one phantom target per row shorter
  than its padded width: the prediction of pad id 0 after the last token;
- per batch: `nn.losses.cross_entropy` on the logits in the model's dtype, times the mask,
  cast to float32 and summed over the padded [rows, width - 1] grid, divided by the mask's
  count; `evaluate` adds `loss * count` to a float32 total, `all_sum`s over the ranks, and
  divides once more. `mlx_lm.lora` prints `Test loss {loss:.3f}, Test ppl {exp(loss):.3f}.`
  for test.jsonl; for valid.jsonl its training log names the split `Val` (`Val loss`,
  `val_loss`, `--val-batches`), so the same figure of the valid split reads `Val loss …`.

`figure` replays exactly that arithmetic, with MLX's own operations in the same shapes and
order, on per-token cross-entropies kept per example (`MlxLmPart`, from `token_ce`; for
float32 logits on the CPU, replayed from ppltop's own exponentials by `ce_from_exps`, within
a few float32 steps of it).
MLX is imported inside the functions: ppltop loads its BLAS before MLX.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import threading
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from .figures.stats import safe_exp

SPLIT_WORDS = {"test": "Test", "valid": "Val", "train": "Train"}
"""The word mlx-lm's lines name each split by: `Test loss` (`--test`), `Val loss` (its
training log's evaluations of valid.jsonl), `Train loss` (its training log)."""



def split_word(split: str) -> str:
    """mlx-lm's word for a split's figures (`Val` for valid), `Test` when unknown."""
    return SPLIT_WORDS.get(split, "Test")


PAD_TO = 32
"""mlx-lm pads each batch to one plus a multiple of this many tokens."""


@dataclass
class MlxLmPart:
    """What mlx-lm would count of one example, scored once by ppltop.

    Its cross-entropies differ from ppltop's log-probs by a few hundred float32 steps
    (MLX's logsumexp against the host's), so they are kept as that distance, exactly, in
    int16 (2 bytes per token); an example where some distance does not fit keeps float32.
    """

    delta: np.ndarray
    """int16 [n]: float32 steps from -logprob to mlx-lm's cross-entropy of each real target
    it scores (the first segment, truncated); or float32 [n]: the cross-entropies."""
    phantom: float
    """Cross-entropy of predicting pad id 0 after the example's last (kept) token."""

    @classmethod
    def of(cls, ce: np.ndarray, logprob: np.ndarray, phantom: float) -> MlxLmPart:
        """Keep `ce` (float32, from `token_ce`) against the example's first log-probs."""
        ce = np.asarray(ce, np.float32)
        steps = _ordered(ce) - _ordered(-logprob[:len(ce)].astype(np.float32))
        if np.isfinite(ce).all() and (np.abs(steps) <= np.iinfo(np.int16).max).all():
            return cls(steps.astype(np.int16), float(phantom))
        return cls(ce, float(phantom))

    def __len__(self) -> int:
        return len(self.delta)

    def ce(self, logprob: np.ndarray) -> np.ndarray:
        """float32 [n]: mlx-lm's cross-entropies, bit for bit."""
        if self.delta.dtype == np.float32:
            return self.delta
        base = _ordered(-logprob[:len(self.delta)].astype(np.float32))
        return _unordered(base + self.delta.astype(np.int64))


def _ordered(x: np.ndarray) -> np.ndarray:
    """float32 -> int64, monotone and exact: neighbouring floats are neighbouring ints."""
    bits = x.view(np.int32).astype(np.int64)
    return np.where(bits >= 0, bits, -(bits & 0x7FFFFFFF))


def _unordered(ordered: np.ndarray) -> np.ndarray:
    bits = np.where(ordered >= 0, ordered, (-ordered) | 0x80000000)
    return bits.astype(np.uint32).view(np.float32)


@dataclass
class MlxLmFigure:
    loss: float
    ppl: float
    tokens: int
    """Targets mlx-lm divides by, phantom pad targets included."""
    examples: int
    dropped_examples: int
    """Records never scored: the last n % batch_size (or outside --test-batches)."""
    dropped_tokens: int
    """Real targets of the dropped records."""
    pad_targets: int
    pad_loss_mean: float
    """Mean loss of the phantom pad targets."""
    refused: str | None = None
    """Why mlx-lm would not produce a figure at all, if it would not."""
    ranks: int = 1
    """Processes of `mlx.launch` the figure is computed for."""
    batches: int = 0
    """mlx-lm batches the figure covers: the complete ones (all of them once the run is)."""
    of_batches: int = 0
    """mlx-lm batches of the whole run."""
    not_yet: str | None = None
    """A stopped run with no complete mlx-lm batch: there is no figure yet (`NOT_YET`)."""
    split: str = "test"
    """The split scored: its line says so in mlx-lm's word (`SPLIT_WORDS`)."""

    @property
    def missing(self) -> str | None:
        """Why there is no figure to show (mlx-lm refuses, or not yet), else None."""
        return self.refused or self.not_yet

    @property
    def partial(self) -> bool:
        """The figure covers some of mlx-lm's batches only (a stopped run)."""
        return self.missing is None and self.batches < self.of_batches

    @property
    def line(self) -> str:
        """The line `mlx_lm.lora --test` prints, character for character (for test; the
        other splits with mlx-lm's word for them, the digits the same)."""
        word = split_word(self.split)
        return f"{word} loss {self.loss:.3f}, {word} ppl {self.ppl:.3f}."


NOT_YET = "not yet (no complete mlx-lm batch among the {scored} examples scored)"
"""The words of every view for a stopped run's mlx-lm figure before one of mlx-lm's
file-order batches is complete (ppltop's batches are length-sorted: early on they rarely
complete one)."""


def present(figure: MlxLmFigure | None) -> MlxLmFigure | None:
    """`figure` if it has numbers to show, else None (none, refused or not yet)."""
    return figure if figure is not None and figure.missing is None else None


def words(figure: MlxLmFigure | None) -> str:
    """mlx-lm's figure as the views say it: the line `mlx_lm.lora --test` prints (a stopped
    run's over the mlx-lm batches complete, said so), or why there is none (`not yet
    (...)`, mlx-lm's refusal)."""
    if figure is None:
        return "no mlx-lm figure"
    if figure.missing:
        return figure.missing
    return figure.line + (f" (partial: {figure.batches} of {figure.of_batches} mlx-lm "
                          "batches)" if figure.partial else "")


def batches(n_examples: int, batch_size: int, test_batches: int,
            seed: int | None) -> list[list[int]]:
    """The example indices of each batch `mlx_lm.lora --test` scores (see module doc)."""
    out = [list(range(i, i + batch_size))
           for i in range(0, n_examples - batch_size + 1, batch_size)]
    if test_batches == -1 or test_batches >= len(out):
        return out
    state = np.random.get_state()
    try:
        np.random.seed(0 if seed is None else seed)
        chosen = np.random.permutation(len(out))[:test_batches]
    finally:
        np.random.set_state(state)
    return [out[i] for i in chosen]


def chosen_examples(examples: list[Any], cfg: Any) -> list[Any]:
    """The examples ppltop scores: all of them, or with `--test-batches N` those of the N
    batches mlx-lm would score."""
    if cfg.test_batches == -1:
        return list(examples)
    keep = {i for b in batches(len(examples), cfg.batch_size, cfg.test_batches, cfg.seed)
            for i in b}
    return [e for e in examples if e.index in keep]


def padded_width(longest: int, max_seq_length: int) -> int:
    """Tokens per row of an mlx-lm batch whose longest record has `longest` tokens."""
    return min(1 + PAD_TO * ((longest + PAD_TO - 1) // PAD_TO), max_seq_length)


def padding_share(lengths: list[int], batch_size: int, test_batches: int,
                  seed: int | None, max_seq_length: int) -> float:
    """Padded share of the positions mlx-lm feeds its model; `lengths` in file order."""
    real = fed = 0
    for batch in batches(len(lengths), batch_size, test_batches, seed):
        width = padded_width(max(lengths[i] for i in batch), max_seq_length) - 1
        real += sum(min(lengths[i], max_seq_length) - 1 for i in batch)
        fed += width * len(batch)
    return 1.0 - real / fed if fed else 0.0


CPU_SUM_IN_ORDER = not (sys.platform == "darwin" and platform.machine() == "arm64")
"""MLX's CPU `logsumexp` adds a row's exponentials one at a time, in vocabulary order: its
SIMD width is 1 everywhere but on Apple silicon (Accelerate's vectors there)."""


def replays_cpu_ce(logits: Any) -> bool:
    """Whether `ce_from_exps` gives `token_ce` of these logits (within a few float32 steps):
    float32 logits on MLX's CPU device, where MLX sums in order (`CPU_SUM_IN_ORDER`). Half
    precision (MLX reduces in it) and a GPU (its fused kernel) keep MLX's own."""
    import mlx.core as mx

    return (CPU_SUM_IN_ORDER and logits.dtype == mx.float32
            and mx.default_device() == mx.cpu)


def ce_from_exps(exps: np.ndarray, shifted_targets: np.ndarray, scratch: np.ndarray
                 ) -> np.ndarray:
    """`token_ce` on MLX's CPU backend for float32 logits, replayed: `exps` [n, V] are the
    exponentials of the logits minus each row's maximum (float32, that subtraction is
    MLX's too), `shifted_targets` [n] the targets' shifted logits, `scratch` float32 [V].

    MLX's `cross_entropy` there is `logsumexp(shifted) - shifted[target]`, its logsumexp a
    float32 sum in vocabulary order then the float32 log (`CPU_SUM_IN_ORDER`). That order
    is what matters: ppltop's pairwise sum is more accurate, and on the real model's figure
    4e-5 relative off MLX's (a running float32 sum drops the tail's smallest terms); in
    order, with numpy's exp for MLX's polynomial one, the values are MLX's within a few
    float32 steps (tests/engine/test_mlx_lm_cpu_ce.py bounds it), in a fraction of its time."""
    # row by row into one row of scratch, which stays in the cache (faster than 2-D)
    in_order = np.array([np.add.accumulate(row, out=scratch)[-1] for row in exps],
                        np.float32)
    # the log in float64, rounded once: it matches libm's logf, which MLX calls, more
    # often than numpy's float32 log does
    lse = np.log(in_order.astype(np.float64)).astype(np.float32)
    ce: np.ndarray = lse - shifted_targets
    return ce


def token_ce(logits: Any, targets: np.ndarray) -> np.ndarray:
    """mlx-lm's per-token loss: `nn.losses.cross_entropy` in the logits' own dtype (MLX's
    logsumexp, not ppltop's more accurate host log-softmax), as float32."""
    import mlx.core as mx
    import mlx.nn as nn

    t = mx.array(targets.astype(np.int32))
    streams = _cpu_streams() if mx.default_device() == mx.cpu else []
    if len(streams) < 2 or len(targets) < 2 * len(streams):
        return np.array(nn.losses.cross_entropy(logits, t).astype(mx.float32))
    # MLX's CPU cross-entropy runs on one core; each row's is independent of the others, so
    # the rows split across one stream per core (each stream its own thread) give the same
    # values, bit for bit, in half the time on two cores
    bounds = np.linspace(0, len(targets), len(streams) + 1).astype(int)
    parts = []
    for stream, a, b in zip(streams, bounds, bounds[1:]):
        with mx.stream(stream):
            parts.append(nn.losses.cross_entropy(logits[int(a):int(b)], t[int(a):int(b)])
                         .astype(mx.float32))
    mx.eval(*parts)
    return np.concatenate([np.array(part) for part in parts])


_STREAMS = threading.local()


def _cpu_streams() -> list[Any]:
    """One MLX CPU stream per core, made once per thread: MLX's streams belong to the thread
    that made them (another thread's raise "no Stream in current thread"), and a run may
    score in a new thread (the dashboard's worker, each checkpoint of a watch)."""
    import mlx.core as mx

    if not hasattr(_STREAMS, "cpu"):
        _STREAMS.cpu = [mx.new_stream(mx.cpu) for _ in range(min(4, os.cpu_count() or 1))]
    streams: list[Any] = _STREAMS.cpu
    return streams


def _rank_batch(rows: list[int], examples: list[Any], results: dict[int, Any],
                max_seq_length: int) -> tuple[np.ndarray, int, list[float]]:
    """One rank's batch as mlx-lm sees it: the masked float32 cross-entropy grid
    [rows, width - 1] and the number of targets, phantoms counted separately."""
    width = padded_width(max(len(examples[i].tokens) for i in rows), max_seq_length)
    grid = np.zeros((len(rows), width - 1), np.float32)
    phantoms = []
    for j, i in enumerate(rows):
        length = min(len(examples[i].tokens), max_seq_length)
        first = max(1, examples[i].offset)
        part = results[i].mlx_lm
        grid[j, first - 1:first - 1 + len(part)] = part.ce(results[i].logprob)
        if examples[i].offset <= length <= width - 1:
            grid[j, length - 1] = part.phantom
            phantoms.append(part.phantom)
    count = sum(len(results[i].mlx_lm) for i in rows) + len(phantoms)
    return grid, count, phantoms


def figure(examples: list[Any], results: dict[int, Any], cfg: Any, ranks: int = 1
           ) -> MlxLmFigure:
    """`mlx_lm.lora --test`'s figure from per-example parts (see the module docstring).
    A stopped run counts its complete mlx-lm batches only; with none, there is no figure
    yet (`not_yet`)."""
    import mlx.core as mx

    n = len(examples)
    if n < cfg.batch_size:
        return MlxLmFigure(math.nan, math.nan, 0, 0, n, 0, 0, math.nan, ranks=ranks,
                           split=getattr(cfg, "split", "test"),
                           refused=f"mlx-lm stops with a ValueError: {n} examples is fewer "
                           f"than --batch-size {cfg.batch_size}")
    chosen = batches(n, cfg.batch_size, cfg.test_batches, cfg.seed)
    whole = [b for b in chosen if all(i in results for i in b)]
    totals, counts, phantoms = [], [], []
    for rank in range(ranks):
        all_losses, ntokens = mx.array(0.0), mx.array(0)
        for batch in whole:
            grid, count, pads = _rank_batch(batch[rank::ranks], examples, results,
                                            cfg.max_seq_length)
            toks = mx.array(count, dtype=mx.int32)
            all_losses = all_losses + (mx.array(grid).sum() / toks) * toks
            ntokens = ntokens + toks
            phantoms += pads
        totals.append(all_losses)
        counts.append(ntokens)
    # all_sum over the ranks, in rank order
    total, ntokens = totals[0], counts[0]
    for t, c in zip(totals[1:], counts[1:]):
        total, ntokens = total + t, ntokens + c
    # MLX says .item() may be any Python number: these are a float32 and an int32 scalar
    loss = cast(float, (total / ntokens).item()) if ntokens.item() else math.nan
    n_targets = cast(int, ntokens.item())
    in_batches = {i for b in chosen for i in b}
    dropped = [e for e in examples if e.index not in in_batches]
    dropped_tokens = sum(len(results[e.index].mlx_lm) for e in dropped
                         if e.index in results)
    return MlxLmFigure(loss, safe_exp(loss), int(n_targets), sum(len(b) for b in whole),
                       len(dropped), dropped_tokens, len(phantoms),
                       float(np.mean(phantoms)) if phantoms else math.nan, ranks=ranks,
                       batches=len(whole), of_batches=len(chosen),
                       not_yet=None if whole else NOT_YET.format(scored=len(results)),
                       split=getattr(cfg, "split", "test"))

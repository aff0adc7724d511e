"""What is scored, in which rows and batches.

An example becomes one or more *segments*: a slice of its tokens fed to the model, and
the target positions in it that count. By default a long example is truncated to
`max_seq_length` as in mlx-lm; with `long_sequences="window"` it is covered by windows of
that length with a stride of half a window, each scoring only the targets that earlier
windows did not (the Hugging Face perplexity guide's sliding window).

Batches for the headline figure group segments of similar length (less padding); the
batch order is then shuffled with the seed, so running figures are not biased by length.
Per-token results do not depend on batch composition, so mlx-lm's figure, which batches
consecutive records in file order, is replayed from them (see `mlx_lm.py`).
Batches can be sharded across processes: rank r of n takes rows r::n of every batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .split import Example


@dataclass(frozen=True)
class Segment:
    """Tokens [start, end) of an example; targets at positions [first_target, end) count."""

    example: int
    """Index of the example in the split."""
    start: int
    end: int
    first_target: int
    window: int
    """0 for the first (or only) segment of an example."""

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def n_targets(self) -> int:
        return max(0, self.end - self.first_target)


def segments_for(example: Example, max_seq_length: int, long_sequences: str) -> list[Segment]:
    """Segments covering `example`. The first one is what mlx-lm scores (truncated)."""
    n = len(example.tokens)
    first = max(1, example.offset)
    end = min(n, max_seq_length)
    segments = [Segment(example.index, 0, end, min(max(first, 1), end), 0)]
    if long_sequences == "window" and n > max_seq_length:
        stride = max(1, max_seq_length // 2)
        start, scored_to, window = 0, end, 0
        while scored_to < n:
            start += stride
            window += 1
            stop = min(start + max_seq_length, n)
            segments.append(Segment(example.index, start, stop,
                                    max(scored_to, first, start + 1), window))
            scored_to = stop
    return segments


def truncated_targets(example: Example, max_seq_length: int) -> int:
    """Targets beyond `max_seq_length` that truncation leaves unscored."""
    n = len(example.tokens)
    if n <= max_seq_length:
        return 0
    return max(0, n - max(max_seq_length, max(1, example.offset)))


def plan_batches(segments: list[Segment], batch_size: int, seed: int | None) -> list[list[Segment]]:
    """Group segments of similar length into batches, in a seeded random batch order."""
    ordered = sorted(segments, key=lambda s: (s.length, s.example, s.window))
    batches = [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]
    order = np.random.default_rng(seed if seed is not None else 0).permutation(len(batches))
    return [batches[i] for i in order]


def shard(batch: list[Segment], rank: int, size: int) -> list[Segment]:
    """This rank's rows of a batch (mlx-lm's `[rank::size]` rule)."""
    return batch[rank::size]


def padding_share(batches: list[list[Segment]]) -> float:
    """Padded positions / all positions fed to the model."""
    real = sum(s.length for b in batches for s in b)
    fed = sum(max(s.length for s in b) * len(b) for b in batches if b)
    return 1.0 - real / fed if fed else 0.0

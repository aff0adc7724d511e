"""Peak memory of a batch, estimated from the model's config before scoring, and the split
of batches into micro-batches that keeps it under `--max-memory`.

The estimate is deliberately generous: a transformer layer's activations for b rows of L
tokens are about b*L*(8*hidden + 3*intermediate) floats, plus attention scores
b*heads*L*L (MLX's CPU attention is an unfused fallback that materializes them; three
times with the softmax and the causal mask; ppltop's own CPU attention holds only one block
of queries' scores per core), and the vocabulary-wide statistics hold a few copies of one
block of logits (rows x vocabulary floats). Splitting a batch by rows changes no figure: every row
is computed on its own, at the same padded width.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

from ..errors import InputError

DEFAULT_SHARE = 0.7
"""Default --max-memory: this share of the RAM (or of the GPU's recommended working set)."""
LOGITS_COPIES = 4
"""Copies of a logits block alive at once in the statistics (logits, exp, log-probs, sort)."""
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str, flag: str = "--max-memory") -> int:
    """'8G', '512M', '1.5g', '1000000' -> bytes; anything else is an InputError."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", str(text))
    if not m:
        raise InputError(f"{flag} {text}: give a size such as 8G, 512M or a number of bytes")
    value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value < 1 << 20:
        raise InputError(f"{flag} {text}: too small to score anything; give at least 1M")
    return value


def default_budget() -> int:
    """A safe share of this machine's memory for MLX."""
    try:
        import mlx.core as mx

        if mx.default_device() != mx.cpu and hasattr(mx, "metal") and mx.metal.is_available():
            info = mx.metal.device_info()
            return int(DEFAULT_SHARE * int(info["max_recommended_working_set_size"]))
    except Exception:  # no Metal, or an older MLX: fall back to the RAM
        pass
    return int(DEFAULT_SHARE * physical_memory()) or 8 << 30


def physical_memory() -> int:
    """Bytes of RAM, or 0 where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


@dataclass(frozen=True)
class Shape:
    """The sizes of a model that decide its activation memory."""

    hidden: int
    intermediate: int
    heads: int
    layers: int
    vocab: int
    dtype_bytes: int = 4
    attention_block: int | None = None
    """Queries per block of ppltop's CPU attention, which holds one block's scores per core;
    None where MLX's own attention materializes every score."""

    @classmethod
    def from_config(cls, config: dict, dtype_bytes: int = 4,
                    attention_block: int | None = None) -> Shape:
        cfg = dict(config.get("text_config", {}), **config)  # multimodal configs nest it
        hidden = int(cfg.get("hidden_size") or cfg.get("d_model") or cfg.get("n_embd") or 4096)
        return cls(
            hidden=hidden,
            intermediate=int(cfg.get("intermediate_size") or cfg.get("ffn_dim") or 4 * hidden),
            heads=int(cfg.get("num_attention_heads") or cfg.get("n_head") or 32),
            layers=int(cfg.get("num_hidden_layers") or cfg.get("n_layer") or 32),
            vocab=int(cfg.get("vocab_size") or 262144),
            dtype_bytes=dtype_bytes,
            attention_block=attention_block,
        )

    def body_bytes(self, rows: int, width: int, full_logits: bool = False) -> int:
        """Peak activations of one forward pass of the body over rows x width tokens (one
        layer's worth alive at a time, plus the residual stream); `full_logits` for models
        whose output projection cannot be split off (their logits come out whole)."""
        tokens = rows * width
        per_token = 8 * self.hidden + 3 * self.intermediate
        if self.attention_block is None:
            scores = 3 * rows * self.heads * width * width  # scores, softmax, causal mask
        else:  # one block of queries of all heads per core, and its slice of the mask
            cores = min(os.cpu_count() or 1, rows * self.heads)
            scores = 2 * cores * self.heads * min(self.attention_block, width) * width
        logits = tokens * self.vocab * 4 if full_logits else 0
        return (tokens * per_token + scores) * self.dtype_bytes + logits

    def hidden_bytes(self, rows: int, width: int) -> int:
        """One hidden state per token: what the shared trunk keeps of a batch."""
        return rows * width * self.hidden * self.dtype_bytes

    def logits_bytes(self, chunk_rows: int) -> int:
        return LOGITS_COPIES * chunk_rows * self.vocab * 4


@dataclass(frozen=True)
class Split:
    """How one batch is computed: rows per micro-batch, target rows per logits block."""

    micro_rows: int
    chunk_rows: int
    peak_bytes: int


def plan_split(shape: Shape, rows: int, width: int, weights_bytes: int, budget: int,
               chunk_rows: int, full_logits: bool = False, targets: int | None = None,
               models: int = 1, one_at_a_time: bool = False) -> Split:
    """The largest micro-batch (and logits block, at most `chunk_rows` and the batch's
    `targets`) whose estimated peak fits `budget`; `weights_bytes` are those of `models`
    models, resident together (`one_at_a_time`: the largest of several, and the
    reference's kept top-k). Raises InputError when even one row at this width does not
    fit."""
    room = budget - weights_bytes
    wanted = max(1, min(chunk_rows, targets or chunk_rows))
    per_row = shape.logits_bytes(1)
    micro = rows
    while micro >= 1:
        body = shape.body_bytes(micro, width, full_logits)
        chunk = min(wanted, max(0, room - body) // per_row)
        # a big logits block matters less than a big micro-batch, but keep it useful
        if chunk >= min(wanted, 64) or (micro == 1 and chunk >= 1):
            return Split(micro, chunk, weights_bytes + body + chunk * per_row)
        micro = micro - 1 if micro <= 8 else micro * 3 // 4  # coarse steps, exact near 1
    need = weights_bytes + shape.body_bytes(1, width, full_logits) + shape.logits_bytes(1)
    weights = (f"weights {human(weights_bytes)}" if models == 1 else
               f"the {models} models' weights together {human(weights_bytes)}")
    if one_at_a_time:
        weights = (f"the largest model's weights and the reference's kept log-probabilities "
                   f"{human(weights_bytes)}, the models one at a time")
    fewer = "" if models == 1 else ", or compare fewer models in one run"
    if one_at_a_time:  # the kept log-probabilities grow with the examples scored
        fewer = ", or score fewer examples (--test-batches)"
    raise InputError(f"--max-memory {human(budget)}: one sequence of {width} tokens needs "
                     f"about {human(need)} ({weights}); raise --max-memory or lower "
                     f"--max-seq-length{fewer}")


def human(n: float) -> str:
    """Bytes in the largest binary unit that keeps a digit before the point: 1.5 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


_peak_before_reset = 0
"""MLX's peak allocation before the last `reset_peak`."""


def process_peak() -> int | None:
    """MLX's peak allocation since the process started, weights included (None: MLX not
    loaded; never loads it), across the resets of `reset_peak`."""
    mx = sys.modules.get("mlx.core")
    if mx is None:
        return None
    return max(_peak_before_reset, int(mx.get_peak_memory()))


def reset_peak() -> None:
    """Start MLX's peak anew (the scorer measures each model's own peak) while
    `process_peak` keeps the process's."""
    global _peak_before_reset
    _peak_before_reset = process_peak() or 0
    sys.modules["mlx.core"].reset_peak_memory()

"""The models table of a run that compares several models (`--model` repeated): per label
the figures llama.cpp's users compare quantized copies by, next to ppltop's own.

Every figure comes from the run's summaries and comparisons (`summary.py`, `compare.py`);
this module only lines them up, for the printout, the JSON and the CSV alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .compare import Comparison
from .stats import finite_or_none
from .summary import RunSummary

KL_COLUMNS = ("90", "99", "99.9")
"""The percentiles of KL(reference || model) the table shows."""


@dataclass(frozen=True)
class ModelRow:
    """One label of a run over several models, against the reference."""

    label: str
    model: str | None
    adapter: str | None
    reference: bool
    loss: float
    ppl: float
    bits_per_byte: float
    delta_ppl_pct: float
    """100 * (PPL / PPL of the reference - 1), over the same tokens."""
    kl_mean: float
    """Mean KL(reference || model) per token, nats."""
    kl_ci95: tuple[float, float]
    """Its 95% interval, clustered by example."""
    kl_percentiles: dict[str, float]
    """KL_COLUMNS -> the per-token KL at that percentile."""
    kl_max: float
    same_top: float
    """Share of tokens where both rank the same token first."""
    tokens_per_s: float
    peak_memory_bytes: int | None
    kl_note: str | None = None
    """How its KL was approximated (`RunSummary.kl_note`); None: computed exactly."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kl_ci95"] = list(self.kl_ci95)
        finite: dict[str, Any] = finite_or_none(out)
        return finite


def compares_models(summaries: Sequence[RunSummary]) -> bool:
    """The run compared several models (its summaries name their model)."""
    return any(s.model for s in summaries)


def model_rows(summaries: Sequence[RunSummary], comparisons: Sequence[Comparison]
               ) -> list[ModelRow]:
    """One row per label, in the run's order; the reference's own row has ΔPPL 0 and KL 0
    (its same-top share is not a figure: NaN)."""
    against = {c.label: c for c in comparisons}
    nan = math.nan
    rows = []
    for s in summaries:
        c = against.get(s.label)
        k = c.kld if c is not None else None
        is_reference = c is None
        zero = 0.0 if is_reference else nan
        rows.append(ModelRow(
            label=s.label, model=s.model, adapter=s.adapter, reference=is_reference,
            loss=s.loss, ppl=s.ppl, bits_per_byte=s.bits_per_byte,
            delta_ppl_pct=100 * (c.ppl_ratio - 1) if c is not None else zero,
            kl_mean=k["mean"] if k else zero,
            kl_ci95=(k["ci95"][0], k["ci95"][1]) if k else (zero, zero),
            kl_percentiles={q: (k["percentiles"][q] if k else zero) for q in KL_COLUMNS},
            kl_max=k["max"] if k else zero,
            same_top=k["same_top"] if k else nan,
            tokens_per_s=s.tokens_per_s, peak_memory_bytes=s.peak_memory_bytes,
            kl_note=s.kl_note))
    return rows

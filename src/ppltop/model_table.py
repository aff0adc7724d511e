"""The headless table of a run over several models: each label's loss, PPL and bits/byte,
its ΔPPL and KL divergence from the reference, the same-top share, speed and memory (the
core's `models.ModelRow`, as text)."""

from __future__ import annotations

from .core.figures import formats as fmt
from .core.figures.models import KL_COLUMNS, ModelRow
from .core.model.memory import human

_KL_DECIMALS = 5


def render_models(rows: list[ModelRow]) -> str:
    """`== models ==`, a row per label, the reference first among equals."""
    if not rows:
        return ""
    reference = next((row.label for row in rows if row.reference), rows[0].label)
    width = max(16, *(len(row.label) for row in rows))
    head = ["label".ljust(width), "loss".rjust(8), "PPL".rjust(9), "bits/byte".rjust(9),
            "ΔPPL".rjust(8), "KL mean [95% CI]".rjust(28),
            *(f"KL {q}%".rjust(8) for q in KL_COLUMNS), "KL max".rjust(8),
            "same top".rjust(8), "tok/s".rjust(7), "peak".rjust(10)]
    lines = [f"== models (reference: {reference}; KL(reference || model) per token, nats) ==",
             " ".join(head).rstrip()]
    for row in rows:
        lo, hi = row.kl_ci95
        kl = (f"{fmt.number(row.kl_mean, _KL_DECIMALS)} "
              f"{fmt.interval(lo, hi, _KL_DECIMALS)}") if not row.reference else "reference"
        delta = f"{fmt.signed(row.delta_ppl_pct, 2)}%" if not row.reference else ""
        same_top = "" if row.reference else fmt.share(row.same_top, 1)
        cells = [row.label.ljust(width), fmt.loss(row.loss).rjust(8), fmt.ppl(row.ppl).rjust(9),
                 fmt.number(row.bits_per_byte).rjust(9), delta.rjust(8), kl.rjust(28),
                 *(_kl(row, row.kl_percentiles[q]).rjust(8) for q in KL_COLUMNS),
                 _kl(row, row.kl_max).rjust(8), same_top.rjust(8),
                 fmt.count(round(row.tokens_per_s)).rjust(7),
                 (human(row.peak_memory_bytes) if row.peak_memory_bytes else fmt.DASH
                  ).rjust(10)]
        lines.append(" ".join(cells).rstrip())
    lines += [f"KL of {row.label}: {row.kl_note}" for row in rows if row.kl_note]
    return "\n".join(lines) + "\n"


def _kl(row: ModelRow, value: float) -> str:
    return "" if row.reference else fmt.number(value, 4)

"""Inline SVG charts of the core's figures: each label's PPL with its 95% interval (in
label order, which for `--checkpoints` is the training curve), and each comparison's
Δloss interval against zero. Drawn, not computed: every number is a summary's or a
comparison's."""

from __future__ import annotations

import math

from ..core.figures.formats import interval, nice_ticks, number, tick_labels
from .cells import esc

WIDTH, ROW, LEFT, RIGHT = 720, 26, 170, 30


def _scale(values: list[float]):
    """The x scale over the values with a margin, and round ticks inside it (the same
    ticks as the terminal's charts: `formats.nice_ticks`)."""
    finite = [v for v in values if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    span = WIDTH - LEFT - RIGHT
    return lambda v: LEFT + (v - lo) / (hi - lo) * span, nice_ticks(lo, hi, 5)


def interval_chart(title: str, rows: list[tuple[str, float, float, float, str]],
                    zero: bool, unit: str) -> str:
    """rows: (label, value, low, high, color)."""
    values = [v for _, mid, lo, hi, _ in rows for v in (mid, lo, hi)] + ([0.0] if zero else [])
    x, ticks = _scale(values)
    height = ROW * len(rows) + 44
    parts = [f'<svg class="chart" role="img" aria-label="{esc(title)}" width="{WIDTH}" '
             f'height="{height}" viewBox="0 0 {WIDTH} {height}">']
    axis_y = ROW * len(rows) + 10
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{axis_y}" x2="{WIDTH - RIGHT}" '
                 f'y2="{axis_y}"/>')
    for v, text in zip(ticks, tick_labels(ticks)):
        parts.append(f'<text class="tick" x="{x(v):.1f}" y="{axis_y + 16}" '
                     f'text-anchor="middle">{text}</text>')
    parts.append(f'<text class="tick" x="{WIDTH - RIGHT}" y="{axis_y + 32}" '
                 f'text-anchor="end">{esc(unit)}</text>')
    if zero:
        parts.append(f'<line class="zero" x1="{x(0):.1f}" y1="4" x2="{x(0):.1f}" '
                     f'y2="{axis_y}"/>')
    for i, (label, mid, low, high, color) in enumerate(rows):
        y = ROW * i + ROW / 2 + 4
        parts.append(f'<text class="name" x="{LEFT - 10}" y="{y + 4}" '
                     f'text-anchor="end">{esc(label)}</text>')
        if math.isfinite(low) and math.isfinite(high):
            parts.append(f'<line stroke="{color}" stroke-width="3" x1="{x(low):.1f}" '
                         f'y1="{y}" x2="{x(high):.1f}" y2="{y}"/>')
        if math.isfinite(mid):
            parts.append(f'<circle fill="{color}" cx="{x(mid):.1f}" cy="{y}" r="5">'
                         f'<title>{esc(label)}: {number(mid)} {interval(low, high)}</title>'
                         "</circle>")
    parts.append("</svg>")
    return "".join(parts)


def ppl_chart(summaries, colors: list[str]) -> str:
    rows = [(s.label, s.ppl, *s.ppl_ci95, colors[i % len(colors)])
            for i, s in enumerate(summaries)]
    return interval_chart("PPL per label with its 95% interval", rows, False,
                           "perplexity (95% interval clustered by example)")


def delta_chart(comparisons, colors: list[str], labels: list[str]) -> str:
    rows = [(c.label, c.delta_loss, *c.delta_ci95,
             colors[labels.index(c.label) % len(colors)]) for c in comparisons]
    ref = comparisons[0].reference
    return interval_chart(f"Δloss against {ref} with its paired 95% interval", rows, True,
                           f"Δloss vs {ref}, nats (paired bootstrap; left of 0: better)")

"""Axis ticks a reader can read: a few round values (1, 2, 2.5 or 5 times a power of ten)
labelled with only the decimals the step needs (`2.6 2.8 3.0`, `1000 2000`), never a raw
float such as `1.640918254852295` or `3434.2`."""

from __future__ import annotations

import math

STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """About `count` round values between `lo` and `hi` (whole numbers with `integer`)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [round(lo) if integer else lo]
    magnitude = 10.0 ** math.floor(math.log10((hi - lo) / count))
    candidates = [m * magnitude * scale for scale in (0.1, 1.0, 10.0) for m in STEPS]
    if integer:
        candidates = [c for c in candidates if c >= 1 and c == int(c)] or [1.0]
    ticks = [_multiples(lo, hi, step) for step in sorted(set(candidates), reverse=True)]
    return min(ticks, key=lambda t: abs(len(t) - count))


def _multiples(lo: float, hi: float, step: float) -> list[float]:
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [k * step for k in range(first, last + 1)]

def tick_labels(ticks: list[float]) -> list[str]:
    """The ticks with as many decimals as their step needs (none for whole numbers)."""
    if not ticks:
        return []
    step = ticks[1] - ticks[0] if len(ticks) > 1 else abs(ticks[0]) or 1.0
    decimals = next((d for d in range(7) if abs(round(step, d) - step) <= 1e-9 * step), 6)
    return [f"{t:.{decimals}f}" for t in ticks]


def set_ticks(plt, xs: list[float], ys: list[float] | None = None, *,
              integer_x: bool = False, integer_y: bool = False,
              size: tuple[int, int] = (0, 0)) -> None:
    """Round ticks on a plotext figure for the data's x (and y) range; `size` (the plot's
    columns and rows) thins them so that no two share a row (plotext would draw either)."""
    columns, rows = size
    x_count = max(2, min(6, (columns - 8) // 10)) if columns else 5
    y_count = max(2, min(6, (rows - 3) // 3)) if rows else 5
    finite_x = [x for x in xs if math.isfinite(x)]
    if finite_x:
        ticks = nice_ticks(min(finite_x), max(finite_x), x_count, integer=integer_x)
        plt.xticks(ticks, tick_labels(ticks))
    finite_y = [y for y in ys or [] if math.isfinite(y)]
    if finite_y:
        ticks = nice_ticks(min(finite_y), max(finite_y), y_count, integer=integer_y)
        plt.yticks(ticks, tick_labels(ticks))

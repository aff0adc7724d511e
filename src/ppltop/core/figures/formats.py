"""How figures are written, in the printout, the dashboard and the HTML report alike.

One function per kind of figure, so that a loss, a signed change, a count or a duration
reads the same wherever it is shown: losses with 4 decimals and PPL with 3 (mlx-lm's own
line keeps its 3 decimals, `core.mlx_lm`), counts with thousands separators (`3,593 tok/s`),
a missing or non-finite figure as an en dash, and axis ticks at round values.

Signed changes never read `-0.0000`: a change that rounds to zero at the shown precision is
written without a sign (`0.0000`), since it is no change that the figure can show.
"""

from __future__ import annotations

import math
from typing import TypeGuard

DASH = "–"
"""A figure that is missing or not finite."""
LOSS_DECIMALS = 4
PPL_DECIMALS = 3


def _finite(value: object) -> TypeGuard[float]:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


def number(value: float | None, decimals: int = LOSS_DECIMALS) -> str:
    """`value` with `decimals` decimals; a missing or non-finite figure as a dash. A value
    that rounds to zero is `0.000`, never `-0.000`."""
    if not _finite(value):
        return DASH
    text = f"{value:.{decimals}f}"
    return text[1:] if _is_negative_zero(text) else text


def loss(value: float | None) -> str:
    """A loss in nats: `3.0146`."""
    return number(value, LOSS_DECIMALS)


def ppl(value: float | None) -> str:
    """A perplexity: `20.380`."""
    return number(value, PPL_DECIMALS)


def signed(value: float | None, decimals: int = LOSS_DECIMALS) -> str:
    """A change with its sign, `+0.0176` or `-0.6717`; one that rounds to zero at this
    precision is `0.0000`, unsigned (neither `-0.0000` nor `+0.0000`)."""
    if not _finite(value):
        return DASH
    text = f"{value:+.{decimals}f}"
    return text[1:] if float(text) == 0 else text


def delta(value: float | None, decimals: int = LOSS_DECIMALS) -> str:
    """A Δloss as `signed` writes it, but a real difference too small for its decimals
    keeps two significant digits (`-3.1e-05`): only identical results read `0.0000`."""
    if _finite(value) and value != 0 and abs(value) < 0.5 * 10 ** -decimals:
        return f"{value:+.1e}"
    return signed(value, decimals)


def interval(low: float | None, high: float | None, decimals: int = LOSS_DECIMALS,
             sign: bool = False) -> str:
    """`[low, high]`; with `sign`, each end as `signed` writes it."""
    write = signed if sign else number
    return f"[{write(low, decimals)}, {write(high, decimals)}]"


def count(n: float | None) -> str:
    """A whole count with thousands separators: `2,400`."""
    return f"{int(n):,}" if _finite(n) else DASH


def plural(n: int, word: str, words: str | None = None) -> str:
    """`1 batch`, `12 batches`, `1,277 targets`: the count, then the word it takes."""
    many = words or (word + "es" if word.endswith(("s", "sh", "ch", "x")) else word + "s")
    return f"{count(n)} {word if n == 1 else many}"


def rate(tokens_per_s: float | None) -> str:
    """Throughput: `3,593 tok/s`."""
    return f"{count(round(tokens_per_s)) if _finite(tokens_per_s) else DASH} tok/s"


def share(value: float | None, decimals: int = 0) -> str:
    """A share as a percentage: `100%`."""
    return f"{value:.{decimals}%}" if _finite(value) else DASH


def duration(seconds: float | None) -> str:
    """`mm:ss`, or `h:mm:ss` past an hour; a dash when unknown."""
    if not _finite(seconds):
        return DASH
    h, rest = divmod(int(round(seconds)), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def eta(seconds: float | None, *, over: bool = False, paused: bool = False) -> str:
    """`ETA 01:05`; `ETA –` once the run is over (finished, cancelled, stopped by an
    error) or while the rate is unknown, `ETA paused` while scoring is paused."""
    if over:
        return f"ETA {DASH}"
    return "ETA paused" if paused else f"ETA {duration(seconds)}"


def _is_negative_zero(text: str) -> bool:
    return text.startswith("-") and float(text) == 0


# -- axis ticks -------------------------------------------------------------------------
STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """About `count` round values between `lo` and `hi` (1, 2, 2.5 or 5 times a power of
    ten; whole numbers with `integer`)."""
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
    """The ticks with as many decimals as their step needs (none for whole numbers), never
    a raw float such as `1.640918254852295` and never `-0`."""
    if not ticks:
        return []
    step = ticks[1] - ticks[0] if len(ticks) > 1 else abs(ticks[0]) or 1.0
    decimals = next((d for d in range(7) if abs(round(step, d) - step) <= 1e-9 * step), 6)
    return [number(t, decimals) for t in ticks]

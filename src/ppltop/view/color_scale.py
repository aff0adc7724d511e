"""Which step of a theme's surprisal scale a token group is colored with, in each mode.

One rule for every view that colors tokens (the terminal's document view and the HTML
report), so a token has the same color in both: one step per 2 bits of surprisal or entropy,
GLTR's rank buckets on fixed steps, and in diff mode the change against the reference
(uncolored below half a bit, strong from 4 bits).
"""

from __future__ import annotations

import math

from .document import SCORED, Document

MODES = ("surprisal", "rank", "entropy", "diff")
BITS_PER_STEP = 2.0
"""Surprisal and entropy: one color step per 2 bits (8 steps cover 0 to 16+ bits)."""
RANK_STEPS = (0, 3, 5, 7)
"""Rank buckets (top 10/100/1000/beyond) use these steps of the theme's scale."""
RANK_NAMES = ("top10", "top100", "top1000", "beyond")
DIFF_NEUTRAL_BITS = 0.5
"""Diff mode: changes smaller than this are left uncolored."""
STRONG_DIFF_BITS = 4.0
"""Diff mode: changes at least this large are shown in bold."""
JUMP_THRESHOLD_BITS = 8.0
"""Tokens at least this surprising are the ones `n`/`p` jump between."""


def scale_step(doc: Document, g: int, mode: str, top: int) -> int | None:
    """The scale step (0..top) of group `g` in `mode` (surprisal, rank or entropy); None
    when the group is not wholly scored (it is dimmed instead)."""
    if doc.group_kind(g) != SCORED:
        return None
    if mode == "rank":
        bucket = int(doc.group_rank_buckets()[g])
        return min(RANK_STEPS[bucket], top)
    value = doc.group_bits[g] if mode == "surprisal" else doc.group_entropy_bits[g]
    if not math.isfinite(float(value)):
        return top
    return int(min(top, max(0, value // BITS_PER_STEP)))


def diff_kind(delta_bits: float) -> tuple[str, bool] | None:
    """("neutral" | "better" | "worse", strong) for a change in surprisal against the
    reference; None when either side did not score the group."""
    if not math.isfinite(float(delta_bits)):
        return None
    d = float(delta_bits)
    if abs(d) < DIFF_NEUTRAL_BITS:
        return "neutral", False
    return ("better" if d < 0 else "worse"), abs(d) >= STRONG_DIFF_BITS

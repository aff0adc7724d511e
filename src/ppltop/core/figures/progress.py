"""How fast a run scores and how long it has left: one rate and one ETA for the dashboard's
PPL panel and the headless progress line."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class ScoringRate:
    """Tokens per second of scoring, leaving out the batches `ppltop resume` read back
    (they arrive at once and once made the rate millions of tokens per second) and the
    time the dashboard's pause held the loop."""

    replayed_tokens: int = 0
    replayed_s: float = 0.0
    paused_s: float = 0.0
    """Time the dashboard's pause held the loop between batches."""

    def note(self, event) -> None:
        """A `BatchScored`: one read back counts toward what `rate` leaves out."""
        if event.replayed:
            self.replayed_tokens += event.n_tokens
            self.replayed_s = event.elapsed_s

    def rate(self, tokens_done: int, elapsed_s: float) -> float:
        """`tokens_done` counts every token so far, read back or scored; `elapsed_s` is
        the loop's wall time, pauses included."""
        scoring_s = elapsed_s - self.replayed_s - self.paused_s
        return (tokens_done - self.replayed_tokens) / scoring_s if scoring_s > 0 else math.nan


def seconds_left(tokens_total: int, tokens_done: int, rate: float) -> float:
    """Seconds left at `rate` tokens per second (NaN: no rate yet)."""
    return (tokens_total - tokens_done) / rate if rate and rate > 0 else math.nan

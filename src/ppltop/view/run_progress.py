"""How far a run in progress has come and how fast: the share scored, the rate, the time
spent scoring and the ETA, from the core's one rate and ETA (`figures.progress`), which the
headless progress line uses too.
"""

from __future__ import annotations

import math

from ..core.figures import formats as fmt
from ..core.figures.progress import seconds_left


class RunProgress:
    """The progress figures of a `LiveRun` (its base: they read its labels, rate, clock,
    finish and writer)."""

    @property
    def fraction_done(self) -> float:
        total = sum(label.tokens_total for label in self.labels.values())
        done = sum(label.tokens_done for label in self.labels.values())
        return done / total if total else 0.0

    @property
    def tokens_per_s(self) -> float:
        done = sum(label.tokens_done for label in self.labels.values())
        return self.rate.rate(done, self.elapsed_s) if done > self.rate.replayed_tokens \
            else math.nan

    @property
    def paused_s(self) -> float:
        """Time the dashboard's pause held the scoring loop (`Resumed`)."""
        return self.rate.paused_s

    @property
    def scoring_s(self) -> float:
        """Time spent scoring: the loop's wall time less its pauses. The dashboard's elapsed
        is this one, so it stands still while paused and goes on from there on resuming
        (the loop's clock would jump by the pause); the rate and ETA leave pauses out too."""
        return max(self.elapsed_s - self.paused_s, 0.0)

    def duration_text(self) -> str:
        """`00:25`, or `00:25 (paused 00:20)`: the scoring time, and the pauses apart."""
        paused = f" (paused {fmt.duration(self.paused_s)})" if self.paused_s > 0 else ""
        return fmt.duration(self.scoring_s) + paused

    @property
    def writer_gone(self) -> bool:
        """A watched run whose writer stopped or failed before finishing it."""
        return (self.writer is not None and self.writer.state in ("stopped", "failed")
                and self.finished is None)

    @property
    def eta_s(self) -> float:
        if self.finished:
            return 0.0
        if self.writer_gone:  # nothing more will come: no time left to estimate
            return math.nan
        total = sum(label.tokens_total for label in self.labels.values())
        done = sum(label.tokens_done for label in self.labels.values())
        return seconds_left(total, done, self.tokens_per_s)

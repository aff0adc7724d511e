"""Several splits of one run side by side (`--split valid,test`): each label's loss on
every split and the gap between the last split and the first, read from each split's own
finished figures (nothing recomputed). A gap that grows with the training iteration is
what overfitting looks like on validation and test alike."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..checkpoint_files import label_iteration
from ..mlx_lm import present

if TYPE_CHECKING:
    from .summary import RunSummary


@dataclass
class SplitRow:
    """One label across the splits."""

    label: str
    iteration: int | None
    losses: dict[str, float]
    """ppltop's loss per split, in the run's split order (a split that did not score the
    label, because it was stopped before, is missing)."""
    mlx_lm_losses: dict[str, float | None]
    splits: tuple[str, ...]

    @property
    def gap(self) -> float:
        """Loss on the last split minus loss on the first (NaN if either is missing)."""
        first, last = self.losses.get(self.splits[0]), self.losses.get(self.splits[-1])
        if first is None or last is None:
            return math.nan
        return last - first

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "iteration": self.iteration,
                "loss": {k: _num(v) for k, v in self.losses.items()},
                "mlx_lm_loss": {k: _num(v) for k, v in self.mlx_lm_losses.items()},
                "gap": _num(self.gap)}


def _num(value: object) -> float | None:
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def split_rows(summaries_by_split: dict[str, list[RunSummary]]) -> list[SplitRow]:
    """A row per label scored on any split, in the run's label order (the base model
    first, checkpoints by iteration), from {split: [RunSummary]}."""
    splits = tuple(summaries_by_split)
    by_label: dict[str, SplitRow] = {}
    for split, summaries in summaries_by_split.items():
        for s in summaries:
            row = by_label.setdefault(s.label, SplitRow(s.label, label_iteration(s.label), {},
                                                        {}, splits))
            row.losses[split] = s.loss
            row.mlx_lm_losses[split] = f.loss if (f := present(s.mlx_lm)) else None
    return list(by_label.values())

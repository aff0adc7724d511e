"""The test-loss curve of the checkpoints of a training run, and its best checkpoint.

A checkpoint's label is `folder@iteration` (`checkpoint_files`); everything about a
checkpoint that a view shows is read back from its label and the run's own figures here.

The curve is one object, `CheckpointCurve`, shown by the headless table, `--json`, `--csv`
and the dashboard's curve screen alike: per adapter folder, each checkpoint's ppltop loss
with its 95% interval and mlx-lm's loss, by iteration; the best checkpoint (lowest ppltop
loss among those scored to their end) and, against it, every other checkpoint's paired
Δloss from `compare.compare`, so "as good as the best" is the core's own paired interval,
never a second computation. A checkpoint scored only in part (the one a watch is scoring,
or one a stopped run left) is never the best: its figure covers fewer examples than the
others', so it is compared with the best over the examples both have, and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..checkpoint_files import parse_label
from ..mlx_lm import present
from .compare import Comparison, compare

if TYPE_CHECKING:
    from .summary import RunSummary


@dataclass
class LabelFigures:
    """What the curve needs of one label: from a finished summary or a run in progress."""

    label: str
    loss: float
    loss_ci95: tuple[float, float]
    """The ppltop loss's 95% interval (the log of the PPL interval the summary reports)."""
    mlx_lm_loss: float | None = None
    complete: bool = True
    scoring: bool = False
    """Still being scored (a run in progress), not stopped part-way."""


def figures_of_summaries(summaries: list[RunSummary]) -> list[LabelFigures]:
    """The curve's figures from `summary.RunSummary` objects (finished or partial runs)."""
    out = []
    for s in summaries:
        mlx = f.loss if (f := present(s.mlx_lm)) else None
        out.append(LabelFigures(s.label, s.loss, _log_pair(s.ppl_ci95), mlx, s.complete))
    return out


def figures_of_live(labels: dict[str, Any], scoring: bool = True) -> list[LabelFigures]:
    """The curve's figures from a run in progress (`live.LabelLive` per label); `scoring`
    False: the process scoring them has stopped."""
    return [LabelFigures(label, live.loss, _log_pair(live.ppl_ci95), None, False, scoring)
            for label, live in labels.items()]


def _log_pair(pair: tuple[float, float]) -> tuple[float, float]:
    low, high = (math.log(v) if v and v > 0 and math.isfinite(v) else math.nan for v in pair)
    return low, high


@dataclass
class CheckpointPoint:
    """One checkpoint on the curve."""

    label: str
    iteration: int | None
    """None: the folder's final `adapters.safetensors` (listed last, not plotted)."""
    loss: float
    loss_ci95: tuple[float, float]
    mlx_lm_loss: float | None
    complete: bool
    """Scored to its end: only such a checkpoint can be the best."""
    scoring: bool = False
    """Not complete and still being scored (else stopped part-way)."""
    best: bool = False
    """The folder's best checkpoint (lowest ppltop loss of its complete checkpoints)."""
    versus_best: Comparison | None = None
    """Paired Δloss against the folder's best checkpoint over the examples both have; None
    for the best itself (or without a best or per-example results to pair)."""

    @property
    def verdict(self) -> str:
        """`best`, `as good` (its paired interval against the best includes zero),
        `worse`; `scoring…` or `partial` for a checkpoint not scored to its end (its Δ
        covers only the examples it has); `–` when it could not be paired."""
        if self.best:
            return "best"
        if not self.complete:
            return "scoring…" if self.scoring else "partial"
        if self.versus_best is None:
            return "–"
        return "worse" if self.versus_best.significant else "as good"

    @property
    def common_examples(self) -> int | None:
        """Examples its Δ against the best covers, when that is fewer than all (an
        incomplete checkpoint): the figure a view names beside the Δ."""
        if self.complete or self.versus_best is None:
            return None
        return self.versus_best.examples

    def to_dict(self) -> dict[str, Any]:
        out = {"label": self.label, "iteration": self.iteration, "loss": _num(self.loss),
               "loss_ci95": [_num(v) for v in self.loss_ci95],
               "mlx_lm_loss": _num(self.mlx_lm_loss), "complete": self.complete,
               "verdict": self.verdict}
        if self.versus_best is not None:
            out["delta_loss_vs_best"] = _num(self.versus_best.delta_loss)
            out["delta_ci95_vs_best"] = [_num(v) for v in self.versus_best.delta_ci95]
            out["examples_vs_best"] = self.versus_best.examples
        return out


@dataclass
class CheckpointSeries:
    """The checkpoints of one adapter folder, by iteration (the final weights last)."""

    folder: str
    points: list[CheckpointPoint] = field(default_factory=list)
    best: str | None = None
    """Label of the complete checkpoint with the lowest ppltop loss (None while none is
    complete)."""
    split: str = ""
    """The split it was scored on, when a run scores several (`--split valid,test`)."""

    @property
    def name(self) -> str:
        """The folder, and the split when there are several: `run1 · valid`."""
        return f"{self.folder} · {self.split}" if self.split else self.folder

    def plotted(self) -> list[CheckpointPoint]:
        """The points with an iteration and a finite loss: what the chart draws."""
        return [p for p in self.points if p.iteration is not None and math.isfinite(p.loss)]


@dataclass
class CheckpointCurve:
    """Test loss against training iteration, one series per adapter folder."""

    series: list[CheckpointSeries]
    base_loss: float | None = None
    """The base model's ppltop loss (the chart's horizontal reference), if it was scored."""
    base_mlx_lm_loss: float | None = None
    bases: dict[str, float] = field(default_factory=dict)
    """With several splits: the base model's ppltop loss on each (one level line each)."""

    def rows(self) -> list[tuple[CheckpointSeries, CheckpointPoint]]:
        """Every checkpoint with its series, series after series (the table's rows)."""
        return [(s, p) for s in self.series for p in s.points]

    def points(self) -> list[CheckpointPoint]:
        return [p for _, p in self.rows()]

    def incomplete(self) -> list[CheckpointPoint]:
        """The checkpoints not scored to their end (hollow on the chart)."""
        return [p for p in self.points() if not p.complete]

    def to_dict(self) -> dict[str, Any]:
        return {"base_loss": _num(self.base_loss), "base_mlx_lm_loss": _num(self.base_mlx_lm_loss),
                "series": [{"folder": s.folder, **({"split": s.split} if s.split else {}),
                            "best": s.best, "checkpoints": [p.to_dict() for p in s.points]}
                           for s in self.series]}


def _num(value: object) -> float | None:
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def _order(point: CheckpointPoint) -> tuple[bool, int, str]:
    return (point.iteration is None, point.iteration or 0, point.label)


def checkpoint_curve(figures: list[LabelFigures], results: dict[str, Any]
                     ) -> CheckpointCurve | None:
    """The curve of the checkpoint labels among `figures`, or None if there are none.

    `results` is {label: {example: ExampleResult}}: the paired comparison of every
    checkpoint against its folder's best is `compare.compare` on them."""
    by_folder: dict[str, CheckpointSeries] = {}
    base = None
    for fig in figures:
        if fig.label == "base":
            base = fig
        parsed = parse_label(fig.label)
        if parsed is None:
            continue
        series = by_folder.setdefault(parsed[0], CheckpointSeries(parsed[0]))
        series.points.append(CheckpointPoint(fig.label, parsed[1], fig.loss, fig.loss_ci95,
                                             fig.mlx_lm_loss, fig.complete,
                                             fig.scoring and not fig.complete))
    if not by_folder:
        return None
    for series in by_folder.values():
        series.points.sort(key=_order)
        # a partial figure covers other examples than a complete one: never the best
        finite = [p for p in series.points if p.complete and math.isfinite(p.loss)]
        if not finite:
            continue
        best = min(finite, key=lambda p: (p.loss, _order(p)))
        series.best = best.label
        best.best = True
        for point in series.points:
            if point is not best and point.label in results and best.label in results:
                point.versus_best = compare(point.label, results[point.label], best.label,
                                            results[best.label])
    return CheckpointCurve(list(by_folder.values()),
                           base.loss if base else None, base.mlx_lm_loss if base else None)


def curve_of_finished(finished: Any) -> CheckpointCurve | None:
    """The curve of a finished (or stopped) run, from its `events.RunFinished`: the one
    attached to it (`breakdown_events`, once per run), else computed from its figures."""
    attached = getattr(finished, "checkpoints", None)
    if attached is not None:
        return attached
    return checkpoint_curve(figures_of_summaries(finished.summaries), finished.results)


def curve_of_live(live: Any) -> CheckpointCurve | None:
    """The curve of a run the dashboard shows (`live.LiveRun`): the finished run's own
    figures once it has finished, else each label's own final figures where it has been
    scored to its end (a watch's checkpoints) and the running figures of the others."""
    return checkpoint_curve(*live_curve_inputs(live))


def live_curve_inputs(live) -> tuple[list[LabelFigures], dict]:
    """What `curve_of_live` is computed from: the figures of each label and a copy of the
    results so far (the paired comparisons of `checkpoint_curve` may then run in another
    thread while new results arrive)."""
    if live.finished is not None:
        return figures_of_summaries(live.finished.summaries), live.finished.results
    results = {label: dict(index.results) for label, index in live.index.items()}
    done = live.label_summaries
    scoring = live.error is None and not live.writer_gone  # else stopped: `partial`
    figures = [figures_of_summaries([done[label]])[0] if label in done
               else figures_of_live({label: running}, scoring)[0]
               for label, running in live.labels.items()]
    return figures, results


def curves_side_by_side(curves: dict[str, CheckpointCurve | None]) -> CheckpointCurve | None:
    """The curves of several splits of one run as one: every split's series, named with its
    split (each keeps its own best checkpoint), and the base model's loss on each split."""
    found = {split: curve for split, curve in curves.items() if curve is not None}
    if len(curves) == 1:
        return next(iter(found.values()), None)
    if not found:
        return None
    series = [replace(s, split=split) for split, curve in found.items() for s in curve.series]
    bases = {split: c.base_loss for split, c in found.items() if c.base_loss is not None}
    return CheckpointCurve(series, bases=bases)

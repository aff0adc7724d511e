"""The checkpoint curve: test loss against training iteration, one series per adapter
folder; ppltop's loss with its 95% band, mlx-lm's loss, the base model as a level line,
and the best checkpoint marked."""

from __future__ import annotations

from rich.markup import escape
from textual.color import Color
from textual_plotext import PlotextPlot

from ...core.figures import formats as fmt
from ...core.figures.checkpoints import CheckpointCurve
from ..chart_ticks import fitted, set_ticks
from .batch_loss_chart import BatchLossChart

BEST_MARKER = "◆"
SCORING_MARKER = "◇"
"""A checkpoint not scored to its end: its loss covers only the examples it has."""


class CheckpointChart(PlotextPlot):
    """A plotext chart of a `CheckpointCurve` (the core's object; nothing recomputed)."""

    DEFAULT_CSS = """
    CheckpointChart {
        border: round $primary;
        border-title-color: $primary;
        min-height: 8;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "Loss by iteration"  # the screen's title line names the split
        self._curve: CheckpointCurve | None = None

    label_colors = BatchLossChart.label_colors
    """The theme's label palette, as the batch loss chart uses it."""

    def on_resize(self) -> None:
        if self._curve is not None:  # the ticks are thinned for the plot's size
            self.replot(self._curve)

    def replot(self, curve: CheckpointCurve) -> None:
        self._curve = curve
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel("iteration")
        colors = self.label_colors(len(curve.series) + 1)
        xs: list[float] = []
        ys: list[float] = []
        legend = []
        split_color: dict[str, str] = {}
        for color, series in zip(colors[1:], curve.series):
            split_color.setdefault(series.split, color)
            points = series.plotted()
            if not points:
                continue
            rgb = Color.parse(color).rgb
            x = [p.iteration for p in points]
            loss = [p.loss for p in points]
            lo = [p.loss_ci95[0] for p in points]
            hi = [p.loss_ci95[1] for p in points]
            plt.plot(x, lo, color=rgb, marker="braille")
            plt.plot(x, hi, color=rgb, marker="braille")
            plt.plot(x, loss, color=rgb, marker="hd")
            mlx = [(p.iteration, p.mlx_lm_loss) for p in points if p.mlx_lm_loss is not None]
            if mlx:  # one mark per checkpoint, over ppltop's line where the two meet
                plt.scatter([a for a, _ in mlx], [b for _, b in mlx], color=rgb, marker="x")
                ys += [b for _, b in mlx]
            best = next((p for p in points if p.label == series.best), None)
            if best is not None:
                plt.scatter([best.iteration], [best.loss], color=rgb, marker=BEST_MARKER)
            partial = [p for p in points if not p.complete]
            if partial:
                plt.scatter([p.iteration for p in partial], [p.loss for p in partial],
                            color=rgb, marker=SCORING_MARKER)
            xs += x
            ys += loss + lo + hi
            legend.append(f"[{color}]━[/] {escape(series.name)}")
        if curve.base_loss is not None and xs:
            plt.hline(curve.base_loss, Color.parse(colors[0]).rgb)
            ys.append(curve.base_loss)
            legend.append(f"[{colors[0]}]─[/] base {fmt.loss(curve.base_loss)}")
        for split, loss in curve.bases.items() if xs else ():  # several splits: one each,
            color = split_color.get(split, colors[0])  # in the color of the split's series
            plt.hline(loss, Color.parse(color).rgb)
            ys.append(loss)
        if curve.bases and xs:
            legend.append("─ base on each split")
        if ys:  # a margin all round: the base line and the last point never lie on the frame
            plt.ylim(*_padded(ys))
            plt.xlim(*_padded(xs))
        set_ticks(plt, xs, ys, integer_x=True, size=self.content_size)
        hollow = f", {SCORING_MARKER} scoring…" if curve.incomplete() else ""
        self.border_subtitle = fitted(self.size.width - 4, " ".join(legend),
                                      f"thick: ppltop, thin: 95% band, x: mlx-lm, "
                                      f"{BEST_MARKER} best{hollow}",
                                      f"x: mlx-lm, {BEST_MARKER} best{hollow}")
        self.refresh()


def _padded(values: list[float], share: float = 0.06) -> tuple[float, float]:
    low, high = min(values), max(values)
    pad = (high - low) * share or 0.05
    return low - pad, high + pad

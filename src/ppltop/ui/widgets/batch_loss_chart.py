"""The batch loss chart: each batch's mean loss and the running mean, one series per label."""

from __future__ import annotations

from rich.markup import escape
from textual.color import Color
from textual_plotext import PlotextPlot

from ...view.display_names import shown
from ...view.live import LiveRun
from ..chart_ticks import fitted, set_ticks


class BatchLossChart(PlotextPlot):
    """A plotext chart redrawn from a `LiveRun`; the x axis is batches or tokens."""

    DEFAULT_CSS = """
    BatchLossChart {
        border: round $primary;
        border-title-color: $primary;
        min-height: 8;
    }
    """

    def __init__(self, aliases: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "Batch loss"
        self.aliases = aliases if aliases is not None else {}
        """Display names in the legend (the app's one dict)."""
        self.x_axis = "batches"
        self._live: LiveRun | None = None

    def toggle_x_axis(self) -> None:
        self.x_axis = "tokens" if self.x_axis == "batches" else "batches"

    def on_resize(self) -> None:
        if self._live is not None:  # the ticks are thinned for the plot's size
            self.replot(self._live)

    def label_colors(self, count: int) -> list[str]:
        """One color per label, from the theme's label palette (`$label-0` ...), in order."""
        variables = self.app.theme_variables
        palette = []
        while f"label-{len(palette)}" in variables:
            palette.append(variables[f"label-{len(palette)}"])
        palette = palette or [variables.get("foreground", "white")]
        return [palette[i % len(palette)] for i in range(count)]

    def replot(self, live: LiveRun) -> None:
        """Copy the series (the scorer never touches them, but deques change size) and plot.

        The legend is the border's subtitle, outside the plot, so it never hides data."""
        self._live = live
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel(self.x_axis)
        colors = self.label_colors(len(live.labels))
        xs: list[float] = []
        ys: list[float] = []
        legend = []
        for color, (label, series) in zip(colors, live.labels.items()):
            x = list(series.batch_index if self.x_axis == "batches" else series.batch_tokens)
            if not x:
                continue
            rgb = Color.parse(color).rgb
            batch, running = list(series.batch_loss), list(series.running_loss)
            plt.scatter(x, batch, marker="dot", color=rgb)
            plt.plot(x, running, color=rgb, marker="braille")  # thin: the series stay apart
            xs += x
            ys += batch + running
            legend.append(f"[{color}]━[/] {escape(shown(label, self.aliases))}")
        set_ticks(plt, xs, ys, integer_x=True, size=self.content_size)
        # the x axis is named under the plot; the subtitle tells the labels apart
        self.border_subtitle = fitted(self.size.width - 4,
                                      " ".join(legend) if len(legend) > 1 else "",
                                      "dots: batch, line: running mean",
                                      "dots: batch, line: mean", "·: batch")
        self.refresh()

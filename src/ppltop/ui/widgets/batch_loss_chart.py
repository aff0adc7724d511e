"""The batch loss chart: each batch's mean loss and the running mean, one series per label."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from ...core.live import LiveRun


class BatchLossChart(PlotextPlot):
    """A plotext chart redrawn from a `LiveRun`; the x axis is batches or tokens."""

    DEFAULT_CSS = """
    BatchLossChart {
        border: round $primary;
        border-title-color: $primary;
        min-height: 8;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "Batch loss"
        self.x_axis = "batches"

    def toggle_x_axis(self) -> None:
        self.x_axis = "tokens" if self.x_axis == "batches" else "batches"

    def replot(self, live: LiveRun) -> None:
        """Copy the series (the scorer never touches them, but deques change size) and plot."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel(self.x_axis)
        several = len(live.labels) > 1
        for label, series in live.labels.items():
            x = list(series.batch_index if self.x_axis == "batches" else series.batch_tokens)
            if not x:
                continue
            plt.scatter(x, list(series.batch_loss), marker="dot",
                        label=f"{label} batch" if several else "batch")
            plt.plot(x, list(series.running_loss),
                     label=f"{label} running" if several else "running mean")
        self.border_subtitle = f"x: {self.x_axis}"
        self.refresh()

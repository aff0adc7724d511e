"""A bar chart of one histogram (counts per bin), with its title and round ticks."""

from __future__ import annotations

import numpy as np
from textual_plotext import PlotextPlot

from ..chart_ticks import set_ticks


class HistogramPlot(PlotextPlot):
    """Draws the counts and bin edges it is given (`show`) under a fixed title."""

    def __init__(self, title: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.plot_title = title

    def show(self, counts: np.ndarray, edges: np.ndarray) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.plot_title)
        if len(counts):
            centers = ((edges[:-1] + edges[1:]) / 2).tolist()
            plt.bar(centers, counts.tolist(), width=0.9 * float(edges[1] - edges[0]))
            set_ticks(plt, [float(edges[0]), float(edges[-1])], [0, *counts.tolist()],
                      integer_y=True, size=self.content_size)
        self.refresh()

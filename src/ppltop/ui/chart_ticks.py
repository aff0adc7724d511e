"""Axis ticks a reader can read on a plotext chart: the round values and their labels of
`core.figures.formats` (the HTML report's charts use the same), thinned to the plot's size."""

from __future__ import annotations

import math

from rich.text import Text

from ..core.figures.formats import nice_ticks, tick_labels

__all__ = ["fitted", "nice_ticks", "set_ticks", "tick_labels"]


def set_ticks(plt, xs: list[float], ys: list[float] | None = None, *,
              integer_x: bool = False, integer_y: bool = False,
              size: tuple[int, int] = (0, 0)) -> None:
    """Round ticks on a plotext figure for the data's x (and y) range; `size` (the plot's
    columns and rows) thins them so that no two share a row (plotext would draw either)."""
    columns, rows = size
    x_count = max(2, min(6, (columns - 8) // 10)) if columns else 5
    y_count = max(2, min(6, (rows - 3) // 3)) if rows else 5
    finite_x = [x for x in xs if math.isfinite(x)]
    if finite_x:
        ticks = nice_ticks(min(finite_x), max(finite_x), x_count, integer=integer_x)
        plt.xticks(ticks, tick_labels(ticks))
    finite_y = [y for y in ys or [] if math.isfinite(y)]
    if finite_y:
        ticks = nice_ticks(min(finite_y), max(finite_y), y_count, integer=integer_y)
        plt.yticks(ticks, tick_labels(ticks))


def fitted(width: int, legend: str, *explanations: str) -> str:
    """A chart's border legend (markup) that fits `width` cells: the series' legend and
    the longest explanation that fits after it, else the legend alone (Textual would cut
    the subtitle with an ellipsis)."""
    for explanation in explanations:
        candidate = f"{legend} · {explanation}" if legend else explanation
        if Text.from_markup(candidate).cell_len <= width:
            return candidate
    return legend

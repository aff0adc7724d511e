"""The checkpoint screen: the test-loss curve across training and the table of checkpoints.

Everything shown is the core's `CheckpointCurve` (`checkpoints.curve_of_live`): the best
checkpoint of each folder and, for every other one, its paired Δloss against it, so "as
good" here is the same verdict as in the headless table and the JSON.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from ...checkpoint_table import checkpoint_row
from ...core.figures.checkpoints import CheckpointCurve
from ...view.split_runs import SplitRuns
from ..keys import keys
from ..widgets.checkpoint_chart import CheckpointChart
from ..widgets.key_footer import KeyFooter
from ..widgets.paged_table import Column, PagedTable

COLUMNS = [Column("iteration", 9), Column("label", 16, align="left"), Column("loss", 6),
           Column("95% CI of loss", 16), Column("mlx-lm", 6), Column("Δ vs best", 9),
           Column("95% CI of Δ", 18), Column("verdict", 7, align="left")]
"""Cells as `checkpoint_table.checkpoint_row` gives them, in its order."""
NARROW = (1, 2, 4, 5, 6, 7)
"""The columns kept below WIDE_COLUMNS: the label says the iteration, the chart the band."""
WIDE_COLUMNS = 110


class CheckpointScreen(Screen):
    TITLE = "Checkpoints"
    BINDINGS = keys("Screen",
                    Binding("escape", "app.pop_screen", "Back", id="ppltop.checkpoints.back",
                            tooltip="Back to the dashboard (the batch loss chart)"))

    DEFAULT_CSS = """
    CheckpointScreen CheckpointChart { height: 1fr; }
    CheckpointScreen #checkpoint-note { height: auto; padding: 0 1; color: $text-muted; }
    CheckpointScreen #checkpoint-table { height: auto; max-height: 40%;
                                         border: round $primary; }
    """

    def __init__(self, runs: SplitRuns) -> None:
        super().__init__()
        self.runs = runs
        self.curve: CheckpointCurve | None = None
        self._shown: tuple | None = None
        self._ready = False
        self._columns: tuple[int, ...] = tuple(range(len(COLUMNS)))
        """Mounted: the app may ask for a refresh as soon as the screen is pushed."""

    def compose(self) -> ComposeResult:
        yield CheckpointChart(id="checkpoint-chart")
        yield Static("", id="checkpoint-note")
        yield PagedTable(COLUMNS, self._fetch, id="checkpoint-table")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._ready = True
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        self.on_resize()
        self.refresh_data()
        self.query_one(PagedTable).focus()

    @property
    def live(self):
        """The run being scored (the last split): this screen stays open across splits."""
        return self.runs.live

    def _theme_changed(self, _theme) -> None:
        if self.curve is not None:  # the series take the theme's label colors
            self.query_one(CheckpointChart).replot(self.curve)

    def on_resize(self) -> None:
        shown = tuple(range(len(COLUMNS))) if self.size.width >= WIDE_COLUMNS else NARROW
        if shown != self._columns:
            self._columns = shown
            table = self.query_one(PagedTable)
            table.columns = [COLUMNS[i] for i in shown]
            table.set_row_count(table.row_count)
            table.invalidate()

    def _fetch(self, start: int, count: int) -> list[list[str]]:
        out = []
        for series, point in self.curve.rows()[start:start + count] if self.curve else []:
            row = checkpoint_row(point)
            if series.split:  # several splits: the label says which
                row[1] = f"{row[1]} {series.split}"
            out.append([row[i] for i in self._columns])
        return out

    def on_paged_table_selected(self, message: PagedTable.Selected) -> None:
        """Enter: the comparison view, the row's checkpoint against its folder's best."""
        if self.curve is None:
            return
        series, point = self.curve.rows()[message.row]
        live = self.runs.live_of(series.split)
        if series.best is None or live.source is None:
            return
        from .comparison_screen import ComparisonScreen

        self.app.push_screen(ComparisonScreen(live, series.best, point.label, {}))

    def refresh_data(self) -> None:
        """Show the curve of what is scored so far (the finished run's, once it is);
        computed again only when new results have come."""
        key = self.runs.state()
        if key == self._shown or not self._ready:
            return
        self._shown = key
        self.curve = self.runs.curve()
        note = self.query_one("#checkpoint-note", Static)
        table = self.query_one(PagedTable)
        if self.curve is None:
            note.update("no checkpoint scored yet")
            table.set_row_count(0)
            return
        best = ", ".join(f"{s.name}: {s.best}" for s in self.curve.series if s.best)
        partial = "" if all(p.complete for p in self.curve.points()) \
            else " · partial: examples scored so far"
        note.update(f"best {best} · as good: paired 95% interval of Δloss against the best "
                    f"includes 0{partial}")
        table.set_row_count(len(self.curve.points()))
        table.invalidate()
        self.query_one(CheckpointChart).replot(self.curve)

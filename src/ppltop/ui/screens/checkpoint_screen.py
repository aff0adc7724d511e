"""The checkpoint screen: the test-loss curve across training and the table of checkpoints.

Everything shown is the core's `CheckpointCurve` (`checkpoints.checkpoint_curve` of each
split, computed in the figures worker while the screen says `computing…`): the best
checkpoint of each folder and, for every other one, its paired Δloss against it, so "as
good" here is the same verdict as in the headless table and the JSON. A checkpoint not
scored to its end is never the best: it is marked `scoring…` (hollow on the chart) and its
Δ covers the examples it shares with the best, as the note says.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from ...checkpoint_table import checkpoint_row
from ...core.figures.checkpoints import CheckpointCurve
from ...view.figures import curve_job
from ...view.screen_title import figures_partial, screen_title
from ...view.split_runs import SplitRuns
from ..keys import keys
from ..widgets.checkpoint_chart import SCORING_MARKER, CheckpointChart
from ..widgets.key_footer import KeyFooter
from ..widgets.paged_table import Column, PagedTable
from ..widgets.title_line import TitleLine
from .figures_screen import FiguresScreen

COLUMNS = [Column("iteration", 9), Column("label", 16, align="left"), Column("loss", 6),
           Column("95% CI of loss", 16), Column("mlx-lm", 6), Column("Δ vs best", 9),
           Column("95% CI of Δ", 18), Column("verdict", 8, align="left")]
"""Cells as `checkpoint_table.checkpoint_row` gives them, in its order."""
NARROW = (1, 2, 4, 5, 6, 7)
"""The columns kept below WIDE_COLUMNS: the label says the iteration, the chart the band."""
WIDE_COLUMNS = 110


def curve_note(curve: CheckpointCurve) -> str:
    """The line above the table: each folder's best, what the incomplete checkpoints'
    Δ covers (first: the line is cut at the screen's width), and what "as good" means."""
    best = ", ".join(f"{s.name}: {s.best}" for s in curve.series if s.best)
    parts = [f"best {best}" if best else "no best yet: no checkpoint scored to its end"]
    partial = curve.incomplete()
    # against a complete best, which has every example: its Δ covers what p has scored
    parts += [f"{SCORING_MARKER} {p.label} {p.verdict}: loss and Δ over the "
              f"{p.common_examples} examples it shares with the best"
              for p in partial if p.common_examples is not None]
    unpaired = [p for p in partial if p.common_examples is None]
    if unpaired:
        parts.append(f"{SCORING_MARKER} {unpaired[0].verdict}: loss over the examples scored "
                     "so far")
    parts.append("as good: paired 95% interval of Δloss against the best includes 0")
    return " · ".join(parts)


class CheckpointScreen(FiguresScreen):
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
        self._ready = False
        self._columns: tuple[int, ...] = tuple(range(len(COLUMNS)))
        """Mounted: the app may ask for a refresh as soon as the screen is pushed."""

    def compose(self) -> ComposeResult:
        yield TitleLine()
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

    def _update_title(self) -> None:
        """Every label's curve: the run, its split (each split's, side by side), partial
        until every split has finished."""
        by_split = self.runs.by_split()
        several = f"splits {', '.join(by_split)}" if self.runs.several else ""
        self.sub_title = self.query_one(TitleLine).show(screen_title(
            self.TITLE, self.live.name, "every label", None if several else self.live.split,
            shows=several, partial=any(figures_partial(live) for live in by_split.values())))

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
        """Ask the worker for the curve of what is scored so far (the finished run's, once
        it is), when new results have come; drawn when it comes (`draw_figures`)."""
        if not self._ready:
            return
        self.ask(curve_job(self.runs))
        if self.figures_pending and self.curve is None:
            self.query_one("#checkpoint-note", Static).update(self.COMPUTING)

    def draw_figures(self, curve: CheckpointCurve | None) -> None:
        self._update_title()
        self.curve = curve
        note = self.query_one("#checkpoint-note", Static)
        table = self.query_one(PagedTable)
        if self.curve is None:
            note.update("no checkpoint scored yet")
            table.set_row_count(0)
            return
        note.update(curve_note(self.curve))
        table.set_row_count(len(self.curve.points()))
        table.invalidate()
        self.query_one(CheckpointChart).replot(self.curve)

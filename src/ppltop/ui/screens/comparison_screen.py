"""The comparison view: every model/adapter against a reference, paired over the same examples.

Rows are the core's comparisons (`figures.comparison_figures`, one paired bootstrap, computed
in the figures worker while the screen says `computing…`) of the results scored so far, so a
partial run compares like with like; a compared label's loss is the comparison's paired one,
as the printout shows it. Where the labels have not all scored the same examples (two runs,
one stopped part-way), every figure of the table is over the examples they share
(`CommonFigures`), and the screen says how many. Below, the tokens and examples the active
label improved or hurt most; Enter opens them in the document view's diff mode.
"""

from __future__ import annotations

import dataclasses

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.widgets import Static

from ...core.figures.compare import Comparison
from ...view.display_names import LabelNames
from ...view.figures import ComparisonFigures, comparison_job
from ...view.live import LiveRun
from ..comparison_rows import (
    example_row,
    label_row,
    lists_note,
    mlx_lm_text,
    row_figures,
    sorted_rows,
    token_row,
)
from ..keys import keys
from ..view_messages import LabelActivated, LabelRenamed, ReferenceChosen
from ..widgets.key_footer import KeyFooter
from ..widgets.paged_table import Column, PagedTable
from ..widgets.title_line import TitleLine
from .document_screen import DocumentScreen
from .figures_screen import FiguresScreen
from .rename_screen import RenameScreen

LABEL_WIDTH_MAX = 40
TABLE_COLUMNS = [Column("", 1, align="left"), None, Column("loss", 7, "loss"),
                 Column("PPL", 8), Column("95% CI PPL", 17, hide_rank=3),
                 Column("Δloss", 8, "delta"), Column("95% CI Δloss", 19),
                 Column("ΔPPL", 8, hide_rank=2), Column("wins", 5, "wins"),
                 Column("bits/B", 6, hide_rank=4), Column("tok/s", 7, hide_rank=5),
                 Column("sig.", 4, align="left")]
"""The label table's columns; None: the label's, as wide as the longest label."""
KL_COLUMNS = [Column("KL", 7, "kl"), Column("top=", 5, hide_rank=3)]
"""After `wins` when the run compares models (or --kl): KL(reference || label) per token
and the share of tokens both rank first. KL stays at 80 columns; `wins` gives way."""
TOKEN_COLUMNS = [Column("Δbits", 7), Column("token", 12, align="left"),
                 Column("in context", 14, align="left", hide_rank=1, grow=True),
                 Column("ex", 5, hide_rank=3), Column("pos", 5, hide_rank=2)]
"""Δ in bits, the token, then as room allows its context, example and position."""
LISTS = {"improved": "improved", "hurt": "hurt", "examples-delta": "examples"}
"""The lists' tables and the `ComparisonFigures` field each shows."""
EXAMPLE_COLUMNS = [Column("Δmean nats", 10), Column("ex", 4), Column("line", 5, hide_rank=1),
                   Column("opening", 12, align="left", hide_rank=2, grow=True)]


def shows_kl(live: LiveRun) -> bool:
    """The run scored KL divergences: it compares models, or was asked with --kl."""
    plan, finished = live.plan, live.finished
    return bool(plan is not None and plan.model_paths) or bool(
        finished is not None and any(c.kld for c in finished.comparisons))


def label_columns(live: LiveRun, names: LabelNames) -> list[Column]:
    """The label table's columns for `live`: the label's as wide as the longest name, and
    the KL columns when it has them."""
    width = min(LABEL_WIDTH_MAX, max([14, *(len(names.shown(label)) + 2
                                            for label in live.labels)]))
    columns = [c or Column("label", width, "label", "left") for c in TABLE_COLUMNS]
    if shows_kl(live):
        at = next(i for i, c in enumerate(columns) if c.title == "wins")
        columns[at:at + 1] = [dataclasses.replace(columns[at], hide_rank=1), *KL_COLUMNS]
    return columns


def list_tables(fetch) -> list[PagedTable]:
    """The three lists under the label table, each paging from `fetch(table_id, s, c)`."""
    tables = []
    for table_id, columns, title in (("improved", TOKEN_COLUMNS, "tokens improved most"),
                                     ("hurt", TOKEN_COLUMNS, "tokens hurt most"),
                                     ("examples-delta", EXAMPLE_COLUMNS, "examples by Δ loss")):
        table = PagedTable(columns, lambda s, c, t=table_id: fetch(t, s, c), id=table_id)
        table.border_title = title
        tables.append(table)
    return tables


class ComparisonScreen(FiguresScreen):
    TITLE = "Comparison"
    BINDINGS = [
        *keys("Screen",
              Binding("escape", "app.pop_screen", "Back", id="ppltop.compare.back",
                      tooltip="Back to the previous screen"),
              Binding("ctrl+r", "recompute", "Recompute", id="ppltop.compare.recompute",
                      show=False, tooltip="Recompute with the results scored so far")),
        *keys("Rows",
              Binding("f", "set_reference", "Reference", id="ppltop.compare.reference",
                      tooltip="Make the selected row (›, chosen with Enter) the reference"),
              Binding("e", "rename", "Rename", id="ppltop.compare.rename",
                      tooltip="Rename the selected row (›) in every pane and the printout")),
    ]

    DEFAULT_CSS = """
    ComparisonScreen #compare-table { height: auto; max-height: 12; border: round $primary; }
    ComparisonScreen #compare-lists { height: 1fr; }
    ComparisonScreen #compare-lists PagedTable { border: round $primary; width: 1fr;
                                                 border-title-color: $primary; }
    ComparisonScreen #compare-mlx { height: auto; padding: 0 1; }
    ComparisonScreen #compare-note { height: auto; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, live: LiveRun, reference: str, active: str,
                 aliases: dict[str, str] | None = None) -> None:
        super().__init__()
        self.live = live
        self.reference = reference
        self.active = active
        self.names = LabelNames(aliases if aliases is not None else {})
        """The names rows are shown by (the App's own dict for the App's run: the App
        renames there, `LabelRenamed`; another run's screen renames in its own)."""
        self.figures: ComparisonFigures | None = None
        """What the rows and lists show: the worker's last figures."""
        self.rows: list[tuple[str, Comparison | None]] = []

    @property
    def of_dashboard(self) -> bool:
        """The dashboard's run: its reference, active label and names are the App's."""
        return self.live is self.app.live

    def compose(self) -> ComposeResult:
        yield TitleLine()
        yield PagedTable(label_columns(self.live, self.names), self._fetch_rows,
                         sort_key="loss", descending=False, id="compare-table")
        yield Static("", id="compare-mlx", markup=False)
        yield Static(self.COMPUTING, id="compare-note")
        with Horizontal(id="compare-lists"):
            yield from list_tables(self._fetch_list)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.recompute()
        self.query_one("#compare-table", PagedTable).focus()

    # -- data ------------------------------------------------------------------------
    def recompute(self) -> None:
        """Ask for the figures of the results so far (the worker's; drawn on arrival)."""
        self.ask(comparison_job(self.live, self.reference, self.active))
        try:
            self._show_title()
        except NoMatches:  # closed while it opened (Esc as a run read in the background
            pass          # arrived): its widgets are gone, there is nothing to redraw

    def draw_figures(self, figures: ComparisonFigures) -> None:
        self.figures = figures
        self.names_changed()

    def names_changed(self) -> None:
        """Redraw from the figures shown (a name changed, or new figures came)."""
        if self.figures is None:
            return
        under_cursor = self._cursor_label() or self.active
        self.rows = self._sorted([(label, self.figures.rows.get(label))
                                  for label in self.live.labels])
        table = self.query_one("#compare-table", PagedTable)
        table.set_row_count(len(self.rows))
        self._cursor_to(under_cursor)
        table.invalidate()
        self._show_title()
        self.query_one("#compare-mlx", Static).update(mlx_lm_text(
            self.live, {label: self.names.shown(label) for label, _ in self.rows},
            self.figures.common))
        self._show_lists()

    def _show_title(self) -> None:
        versus = ("" if self.active == self.reference
                  else f" vs {self.names.shown(self.reference)}")
        self.sub_title = self.query_one(TitleLine).show_live(
            self.live, f"{self.names.shown(self.active)}{versus}")

    def _figures(self, label: str) -> tuple[float, tuple[float, float], float]:
        f = self.figures  # None: not computed yet
        return row_figures(self.live, f and f.common, label, f and f.rows.get(label))

    def _sorted(self, rows):
        table = self.query_one("#compare-table", PagedTable)
        return sorted_rows(rows, table.sort_key or "loss", table.descending, self.names.shown,
                           lambda label: self._figures(label)[0])

    def _show_lists(self) -> None:
        f = self.figures
        self.query_one("#compare-note", Static).update(
            lists_note(self.names.shown(f.active), self.names.shown(f.reference),
                       f.active == f.reference))
        for table_id in ("improved", "hurt", "examples-delta"):
            table = self.query_one(f"#{table_id}", PagedTable)
            table.set_row_count(len(self._list(table_id)), keep_cursor=False)
            table.invalidate()

    def _list(self, table_id: str) -> list:
        return getattr(self.figures, LISTS[table_id])

    def _fetch_rows(self, start: int, count: int) -> list[list[str]]:
        out = []
        for label, c in self.rows[start:start + count]:
            s = self.live.summary_of(label)
            out.append(label_row("›" if label == self.active else "", self.names.shown(label),
                                 self._figures(label), c, s.tokens_per_s if s else None,
                                 kl=shows_kl(self.live)))
        return out

    def _fetch_list(self, table_id: str, start: int, count: int) -> list[list[str]]:
        if self.figures is None:
            return []
        rows = self._list(table_id)[start:start + count]
        source = self.live.source
        if table_id == "examples-delta":
            return [example_row(source, i, d) for i, d in rows]
        return [token_row(source, t) for t in rows]

    # -- actions ---------------------------------------------------------------------
    def _cursor_label(self) -> str | None:
        table = self.query_one("#compare-table", PagedTable)
        return self.rows[table.cursor][0] if 0 <= table.cursor < len(self.rows) else None

    def _cursor_to(self, label: str | None) -> None:
        """Put the cursor back on `label`'s row (its place changes with the order)."""
        at = next((i for i, (row_label, _) in enumerate(self.rows) if row_label == label), None)
        if at is not None:
            self.query_one("#compare-table", PagedTable).move_to(at)

    def show_label(self, label: str) -> None:
        """Make `label` the selected row (›): its lists (Enter, or 1-9 on any screen)."""
        self.active = label
        self.recompute()

    def action_set_reference(self) -> None:
        self.reference = self.active  # the selected row (›): one selection, whatever the cursor
        if self.of_dashboard:  # another run's screen never sets this run's
            self.post_message(ReferenceChosen(self.reference))
        self.recompute()

    def action_activate_row(self) -> None:
        label = self._cursor_label()
        if label is not None:
            if self.of_dashboard:  # another run's labels are not this run's
                self.post_message(LabelActivated(label))
            self.show_label(label)

    def action_recompute(self) -> None:
        self.recompute()

    def action_rename(self) -> None:
        label = self.active  # the selected row (›)

        def done(new: str | None) -> None:
            if not new:
                return
            if self.of_dashboard:  # the app's names: every pane, the printout
                self.post_message(LabelRenamed(label, new))  # the App redraws this screen
            elif self.names.rename(label, new, self.live.labels) is None:
                self.names_changed()  # the table, the mlx-lm lines and the note name it

        labels = self.live.labels
        self.app.push_screen(RenameScreen(
            self.names.shown(label), lambda name: self.names.refusal(label, name, labels)), done)

    def on_paged_table_sort_changed(self, message: PagedTable.SortChanged) -> None:
        if message.table.id == "compare-table":
            under_cursor = self._cursor_label()
            self.rows = self._sorted(self.rows)
            self._cursor_to(under_cursor)  # the cursor stays on its label, not its place
            message.table.invalidate()

    def on_paged_table_selected(self, message: PagedTable.Selected) -> None:
        table_id = message.table.id
        if table_id == "compare-table":
            self.action_activate_row()
            return
        hit = self._list(table_id)[message.row]
        example, position = (hit[0], None) if table_id == "examples-delta" else (
            hit.example, hit.position)
        self.app.push_screen(DocumentScreen(self.live, self.figures.active, example, position,
                                            reference=self.figures.reference, mode="diff"))

"""The surprisal viewer: examples, the worst tokens, loss by token, and histograms.

Every list is a `PagedTable` that asks the core's `SurprisalIndex` for the visible page
only; Enter opens the document view at the example (or the token). A token that is part of
a character is shown with the whole character and its part (`'中' 2/2`); `T` leaves the
chat template's tokens out of the lists or brings them back (left out by default for chat
data scored with --mask-prompt). `[` and `]` switch tabs; `/` filters the list of the tab in
view (examples by their text, tokens by the token as shown), each tab keeping its own filter.
Opened on a group's examples (from the groups view), every tab is of those examples only:
the lists, the worst tokens, loss by token and the histograms; the title line names the
group and the filter of the tab in view.
Units: losses in nats (as mlx-lm), per-token surprisal in bits; every header names its unit.
"""

from __future__ import annotations

import numpy as np
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static, TabbedContent, TabPane

from ...view.live import LiveRun
from ...view.surprisal import SurprisalIndex
from ..keys import keys
from ..token_cells import token_alone, token_at
from ..viewer_rows import (
    EXAMPLE_COLUMNS,
    GROUP_COLUMNS,
    WORST_COLUMNS,
    example_cells,
    example_count,
    group_cells,
    worst_cells,
)
from ..widgets.filter_input import FilterInput
from ..widgets.histogram_plot import HistogramPlot
from ..widgets.key_footer import KeyFooter
from ..widgets.paged_table import PagedTable
from ..widgets.title_line import TitleLine
from .document_screen import DocumentScreen
from .viewer_filters import FILTERED, ViewerFilters

WORST_TOKENS = 1000
TOKEN_GROUPS = 2000


class ViewerScreen(ViewerFilters, Screen):
    TITLE = "Surprisal viewer"
    BINDINGS = [
        *keys("Screen",
              Binding("escape", "app.pop_screen", "Back", id="ppltop.viewer.back",
                      tooltip="Back to the previous screen"),
              Binding("right_square_bracket", "next_tab(1)", "Tab",
                      id="ppltop.viewer.next_tab",
                      tooltip="Next tab: examples, worst tokens, by token, histograms"),
              Binding("left_square_bracket", "next_tab(-1)", "Prev tab", show=False,
                      id="ppltop.viewer.prev_tab", tooltip="Previous tab"),
              Binding("slash", "focus_filter", "Filter", id="ppltop.viewer.filter",
                      tooltip="Filter this tab's list: examples by their text, tokens by "
                      "the token (Enter or Esc applies it)")),
        *keys("Lists",
              Binding("T", "toggle_template", "Template", id="ppltop.viewer.template",
                      tooltip="Leave chat-template tokens (role markers, end of turn) out of "
                              "the lists, or bring them back")),
    ]

    DEFAULT_CSS = """
    ViewerScreen #filter { dock: top; }
    ViewerScreen #filter.-hidden { display: none; }
    ViewerScreen .template-note, ViewerScreen .list-count {
        height: 1; padding: 0 1; color: $text-muted;
    }
    ViewerScreen HistogramPlot { height: 1fr; }
    """

    def __init__(self, live: LiveRun, label: str, examples: np.ndarray | None = None,
                 group: str = "") -> None:
        """`examples`: a group's example indices, named `group` (`source=docs`): every tab
        shows those examples only."""
        super().__init__()
        self.live = live
        self.label = label
        self._example_order = np.zeros(0, dtype=np.int64)
        self.group_examples: np.ndarray | None = examples
        """The group's examples every tab is of (None: the whole run)."""
        self.group = group
        self._allowed: np.ndarray | None = examples
        """Example indices the examples list shows (the group's, less the `/` filter's)."""
        self._texts: dict[int, str] = {}
        self._worst = []
        self._groups = []
        self._partial_labels: dict[int, str] = {}
        self._needles: dict[str, str] = dict.fromkeys(FILTERED, "")
        """Each list's filter (lower case; empty: none)."""

    @property
    def index(self) -> SurprisalIndex:
        return self.live.index[self.label]

    def compose(self) -> ComposeResult:
        yield FilterInput(placeholder=self._placeholder("tab-examples"), id="filter")
        yield TitleLine()  # docked after the filter line: above it
        with TabbedContent(id="viewer-tabs"):
            with TabPane("Examples", id="tab-examples"):
                yield Static("", id="examples-count", classes="list-count")
                yield PagedTable(EXAMPLE_COLUMNS, self._fetch_examples, sort_key="mean_loss",
                                 id="examples")
            with TabPane("Worst tokens", id="tab-worst"):
                yield Static("", classes="template-note")
                yield PagedTable(WORST_COLUMNS, self._fetch_worst, id="worst")
            with TabPane("By token", id="tab-groups"):
                yield Static("", classes="template-note")
                yield PagedTable(GROUP_COLUMNS, self._fetch_groups, sort_key="total_loss",
                                 id="groups")
            with TabPane("Histograms", id="tab-hist"):
                yield HistogramPlot("per-token surprisal (bits)", id="hist-tokens")
                yield HistogramPlot("per-example mean loss (nats)", id="hist-examples")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._update_template_note()
        self.refresh_data()
        self.query_one("#examples", PagedTable).focus()

    def show_label(self, label: str) -> None:
        """Show `label`'s lists (another model/adapter, or new results of the same)."""
        self.label = label
        self.refresh_data()

    # -- data --------------------------------------------------------------------------
    def _update_title(self) -> None:
        """Run, label, split, the group and this tab's filter, partial or not."""
        shown = [f"group {self.group} ({len(self.group_examples)} examples)"
                 if self.group_examples is not None else ""]
        needle = self._needles.get(self.tab, "")
        if needle:
            shown.append(f'filter "{needle}"')
        self.sub_title = self.query_one(TitleLine).show_live(
            self.live, self.app.name_of(self.label),
            " · ".join(part for part in shown if part))

    def refresh_data(self) -> None:
        """New results arrived (or the screen opened): recompute orders, redraw lists."""
        self._update_title()
        self._sort_examples()
        self._partial_labels = {}
        self._worst = self.index.worst_tokens(WORST_TOKENS, self.group_examples)
        needle = self._needles["tab-worst"]
        if needle:
            self._worst = [hit for hit in self._worst
                           if needle in self._at(hit.example, hit.position).lower()]
        worst = self.query_one("#worst", PagedTable)
        worst.set_row_count(len(self._worst))
        self._load_groups()
        self._plot_histograms()

    def _sort_examples(self) -> None:
        table = self.query_one("#examples", PagedTable)
        self._example_order = self.index.example_order(table.sort_key or "index",
                                                       table.descending, self._allowed)
        table.set_row_count(len(self._example_order))
        table.invalidate()
        self._show_example_count()

    def _show_example_count(self) -> None:
        """How many examples the list shows: all, or how many the filter (or the group it
        was opened on) keeps."""
        self.query_one("#examples-count", Static).update(example_count(
            len(self._example_order), len(self.index.results), self._needles["tab-examples"]))

    def _load_groups(self) -> None:
        table = self.query_one("#groups", PagedTable)
        self._groups = self.index.by_token(sort=table.sort_key or "total_loss",
                                           count=TOKEN_GROUPS, examples=self.group_examples)
        if not table.descending:
            self._groups = self._groups[::-1]
        needle = self._needles["tab-groups"]
        if needle:
            self._groups = [g for g in self._groups if needle in self._piece(g.token_id).lower()]
        self._total_loss = self.index.loss_total(self.group_examples) or 1.0
        table.set_row_count(len(self._groups))
        table.invalidate()

    def _update_template_note(self) -> None:
        note = ("chat-template tokens (role markers, end of turn) left out · T brings them back"
                if self.live.hide_template else
                "chat-template tokens included, marked 'template' · T leaves them out")
        for static in self.query(".template-note").results(Static):
            static.update(note)

    def _at(self, example: int, position: int, template: bool = False) -> str:
        return token_at(self.live.source, example, position, template)

    def _piece(self, token_id: int) -> str:
        return token_alone(self.live.source, token_id, self.index, self._partial_labels)

    def _fetch_examples(self, start: int, count: int) -> list[list[str]]:
        return example_cells(self.live.source,
                             self.index.example_rows(self._example_order, start, count))

    def _fetch_worst(self, start: int, count: int) -> list[list[str]]:
        return worst_cells(self.live.source, self.index, self._worst[start:start + count])

    def _fetch_groups(self, start: int, count: int) -> list[list[str]]:
        return group_cells(self._groups[start:start + count], self._piece, self._total_loss)

    def _plot_histograms(self) -> None:
        # what the tab draws, kept: (tokens, examples), each (counts, edges)
        self.histograms = self.index.histograms(examples=self.group_examples)
        (tok_counts, tok_edges), (ex_counts, ex_edges) = self.histograms
        self.query_one("#hist-tokens", HistogramPlot).show(tok_counts, tok_edges)
        self.query_one("#hist-examples", HistogramPlot).show(ex_counts, ex_edges)

    # -- events ------------------------------------------------------------------------
    def on_paged_table_sort_changed(self, message: PagedTable.SortChanged) -> None:
        if message.table.id == "examples":
            self._sort_examples()
        elif message.table.id == "groups":
            self._load_groups()

    def on_paged_table_selected(self, message: PagedTable.Selected) -> None:
        """Enter: the document view at the example, the token, or the token's worst
        occurrence."""
        table_id, row = message.table.id, message.row
        if table_id == "examples":
            hit = (self.index.example_rows(self._example_order, row, 1)[0].index, None)
        elif table_id == "worst":
            hit = (self._worst[row].example, self._worst[row].position)
        else:
            found = self.index.worst_occurrence(self._groups[row].token_id, self.group_examples)
            hit = None if found is None else (found.example, found.position)
        if hit is not None:
            self.app.push_screen(DocumentScreen(self.live, self.label, *hit,
                                                reference=self.app.reference_label))

    def action_toggle_template(self) -> None:
        self.live.set_hide_template(not self.live.hide_template)
        self._update_template_note()
        self.refresh_data()
        self.notify("chat-template tokens " + ("left out of" if self.live.hide_template
                                                else "back in") + " the lists")

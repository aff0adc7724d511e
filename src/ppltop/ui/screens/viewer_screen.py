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
from textual.widgets import Input, Static, TabbedContent, TabPane, Tabs
from textual_plotext import PlotextPlot

from ...core.figures import formats as fmt
from ...view.live import LiveRun
from ...view.previews import in_context, opening
from ...view.surprisal import SurprisalIndex
from ..chart_ticks import set_ticks
from ..keys import keys
from ..token_cells import token_alone, token_at
from ..widgets.filter_input import FilterInput
from ..widgets.key_footer import KeyFooter
from ..widgets.paged_table import Column, PagedTable
from ..widgets.title_line import TitleLine
from .document_screen import DocumentScreen

WORST_TOKENS = 1000
PREVIEW_WIDTH = 24
"""The least width of a preview column; it takes the width the figures leave."""
TOKEN_GROUPS = 2000
TABS = ("tab-examples", "tab-worst", "tab-groups", "tab-hist")
FILTERED = {"tab-examples": "the examples by their text",
            "tab-worst": "the worst tokens by token", "tab-groups": "the tokens by token"}
"""The tabs with a list that `/` filters, and what their filter matches."""


class ViewerScreen(Screen):
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
    ViewerScreen PlotextPlot { height: 1fr; }
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
                yield PagedTable(
                    [Column("#", 5, "index"), Column("line", 5, hide_rank=3),
                     Column("tokens", 6, "tokens"), Column("mean nats", 9, "mean_loss"),
                     Column("total nats", 10, "total_loss", hide_rank=2),
                     Column("worst bits", 10, "worst_bits"),
                     Column("worst token", 16, align="left", hide_rank=1),
                     Column("opening", PREVIEW_WIDTH, align="left", grow=True)],
                    self._fetch_examples, sort_key="mean_loss", id="examples")
            with TabPane("Worst tokens", id="tab-worst"):
                yield Static("", classes="template-note")
                yield PagedTable(
                    [Column("bits", 7), Column("token", 16, align="left"), Column("rank", 7),
                     Column("ex", 5), Column("pos", 6),
                     Column("in context", PREVIEW_WIDTH, align="left", grow=True)],
                    self._fetch_worst, id="worst")
            with TabPane("By token", id="tab-groups"):
                yield Static("", classes="template-note")
                yield PagedTable(
                    [Column("token", 28, align="left"), Column("count", 8, "count"),
                     Column("mean bits", 9, "mean_bits"), Column("total bits", 11, "total_loss"),
                     Column("share", 7)],
                    self._fetch_groups, sort_key="total_loss", id="groups")
            with TabPane("Histograms", id="tab-hist"):
                yield PlotextPlot(id="hist-tokens")
                yield PlotextPlot(id="hist-examples")
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
        shown, total = len(self._example_order), len(self.index.results)
        needle = self._needles["tab-examples"]
        if needle:
            words = f"{fmt.count(shown)} of {fmt.plural(total, 'example')} match '{needle}'"
        elif shown != total:
            words = f"{fmt.count(shown)} of {fmt.plural(total, 'example')}"
        else:
            words = fmt.plural(total, "example")
        self.query_one("#examples-count", Static).update(
            f"{words} · s: sort by the next column, r: reverse")

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
        rows = self.index.example_rows(self._example_order, start, count)
        examples = self.live.source.examples
        out = []
        for r in rows:
            out.append([str(r.index), str(examples[r.index].line), str(r.tokens),
                        fmt.number(r.mean_loss, 3), fmt.number(r.total_loss, 1),
                        fmt.number(r.worst_bits, 2),
                        self._at(r.index, r.worst_position), self._opening(r.index)])
        return out

    def _fetch_worst(self, start: int, count: int) -> list[list[str]]:
        out = []
        for hit in self._worst[start:start + count]:
            result = self.index.results[hit.example]
            rank = int(result.rank[hit.position - int(result.positions[0])])
            out.append([fmt.number(hit.bits, 2), self._at(hit.example, hit.position, hit.template),
                        str(rank), str(hit.example), str(hit.position),
                        self._in_context(hit.example, hit.position)])
        return out

    def _fetch_groups(self, start: int, count: int) -> list[list[str]]:
        return [[self._piece(g.token_id), str(g.count), fmt.number(g.mean_bits, 2),
                 fmt.number(g.total_bits, 1), fmt.share(g.total_loss / self._total_loss, 1)]
                for g in self._groups[start:start + count]]

    def _plot_histograms(self) -> None:
        # what the tab draws, kept: (tokens, examples), each (counts, edges)
        self.histograms = self.index.histograms(examples=self.group_examples)
        (tok_counts, tok_edges), (ex_counts, ex_edges) = self.histograms
        for widget_id, counts, edges, title in (
                ("#hist-tokens", tok_counts, tok_edges, "per-token surprisal (bits)"),
                ("#hist-examples", ex_counts, ex_edges, "per-example mean loss (nats)")):
            plot = self.query_one(widget_id, PlotextPlot)
            plt = plot.plt
            plt.clear_data()
            plt.clear_figure()
            plt.title(title)
            if len(counts):
                centers = ((edges[:-1] + edges[1:]) / 2).tolist()
                plt.bar(centers, counts.tolist(), width=0.9 * float(edges[1] - edges[0]))
                set_ticks(plt, [float(edges[0]), float(edges[-1])], [0, *counts.tolist()],
                          integer_y=True, size=plot.content_size)
            plot.refresh()

    # -- events ------------------------------------------------------------------------
    def on_paged_table_sort_changed(self, message: PagedTable.SortChanged) -> None:
        if message.table.id == "examples":
            self._sort_examples()
        elif message.table.id == "groups":
            self._load_groups()

    def on_paged_table_selected(self, message: PagedTable.Selected) -> None:
        table_id = message.table.id
        if table_id == "examples":
            row = self.index.example_rows(self._example_order, message.row, 1)[0]
            self.app.push_screen(DocumentScreen(self.live, self.label, row.index,
                                                reference=self.app.reference_label))
        elif table_id == "worst":
            hit = self._worst[message.row]
            self.app.push_screen(DocumentScreen(self.live, self.label, hit.example, hit.position,
                                                reference=self.app.reference_label))
        elif table_id == "groups":
            hit = self.index.worst_occurrence(self._groups[message.row].token_id,
                                              self.group_examples)
            if hit is not None:
                self.app.push_screen(DocumentScreen(self.live, self.label, hit.example,
                                                    hit.position,
                                                    reference=self.app.reference_label))

    def action_toggle_template(self) -> None:
        self.live.set_hide_template(not self.live.hide_template)
        self._update_template_note()
        self.refresh_data()
        self.notify("chat-template tokens " + ("left out of" if self.live.hide_template
                                                else "back in") + " the lists")

    # -- tabs and filters ----------------------------------------------------------------
    @property
    def tab(self) -> str:
        return self.query_one(TabbedContent).active or TABS[0]

    def _placeholder(self, tab: str) -> str:
        return f"/ filters {FILTERED[tab]} (Enter or Esc applies)" if tab in FILTERED else ""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "focus_filter":
            return self.tab in FILTERED  # the histograms have no list to filter
        return True

    def action_next_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = TABS[(TABS.index(self.tab) + step) % len(TABS)]

    def on_tabbed_content_tab_activated(self, message: TabbedContent.TabActivated) -> None:
        tab = message.pane.id or TABS[0]
        line = self.query_one("#filter", Input)
        line.set_class(tab not in FILTERED, "-hidden")
        # hidden is not enough: Textual's auto focus (a screen closed above this one) takes
        # the first focusable widget, displayed or not, and a hidden line would then swallow
        # every key (q and ? included); a disabled one is never focused
        line.disabled = tab not in FILTERED
        line.placeholder = self._placeholder(tab)
        line.value = self._needles.get(tab, "")
        self._focus_list()
        self.refresh_bindings()
        self._update_title()  # the filter it names is this tab's

    def _focus_list(self) -> None:
        """Focus the list of the tab in view, or the tab bar where there is none (the
        histograms): never nothing, so the screen's keys and the footer stay alive."""
        pane = self.query_one(TabbedContent).active_pane
        table = next(iter(pane.query(PagedTable)), None) if pane is not None else None
        if table is not None:
            table.focus()
        else:
            self.query_one(TabbedContent).query_one(Tabs).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def on_input_submitted(self, message: Input.Submitted) -> None:
        tab = self.tab
        if tab not in FILTERED:
            self._focus_list()
            return
        needle = message.value.strip().lower()
        self._needles[tab] = needle
        if tab == "tab-examples":  # within the group, if the viewer is of one
            among = (self.index.results if self.group_examples is None
                     else self.group_examples.tolist())
            self._allowed = self.group_examples if not needle else np.array(
                [i for i in among if i in self.index.results and needle in self._text_of(i)],
                dtype=np.int64)
            self._sort_examples()
            self._update_title()
        else:
            self.refresh_data()
        self._focus_list()

    def _opening(self, example: int) -> str:
        tokens = self.live.source.examples[example].tokens
        return opening(self.live.source.token_texts, tokens)

    def _in_context(self, example: int, position: int) -> str:
        tokens = self.live.source.examples[example].tokens
        return in_context(self.live.source.token_texts, tokens, position).line()

    def _text_of(self, example: int) -> str:
        if example not in self._texts:
            tokens = self.live.source.examples[example].tokens
            self._texts[example] = self.live.source.token_texts.text(tokens).lower()
        return self._texts[example]

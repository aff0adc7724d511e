"""The surprisal viewer's tabs and their filters: `[` and `]` switch tabs, `/` filters the
list of the tab in view (examples by their text, tokens by the token as shown), each tab
keeping its own filter.

A mixin of `ViewerScreen`: the actions and message handlers have to be the screen's own.
"""

from __future__ import annotations

import numpy as np
from textual.widgets import Input, TabbedContent, Tabs

from ..widgets.paged_table import PagedTable

TABS = ("tab-examples", "tab-worst", "tab-groups", "tab-hist")
FILTERED = {"tab-examples": "the examples by their text",
            "tab-worst": "the worst tokens by token", "tab-groups": "the tokens by token"}
"""The tabs with a list that `/` filters, and what their filter matches."""


class ViewerFilters:
    """The tab in view and each tab's filter (`_needles`, lower case; empty: none)."""

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

    def _text_of(self, example: int) -> str:
        """The example's text in lower case, what the examples' filter matches (kept)."""
        if example not in self._texts:
            tokens = self.live.source.examples[example].tokens
            self._texts[example] = self.live.source.token_texts.text(tokens).lower()
        return self._texts[example]

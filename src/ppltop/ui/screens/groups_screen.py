"""The groups view: where each model/adapter helps and where it hurts, group by group.

Rows are the groups of one breakdown of the core's `Breakdowns` (`figures.breakdowns_of`: the
finished run's own, or the same function on the results so far, computed in the figures
worker while the screen says `computing…`), for one label: tokens,
examples, loss, Δloss against the reference with its paired interval (`*` significant),
win share, PPL with its clustered interval and bits per byte. Groups with too few examples
to say anything are greyed out. `b` picks the breakdown, `l` the label; Enter opens the
group's examples in the viewer.
"""

from __future__ import annotations

import math

import numpy as np
from textual.app import ComposeResult
from textual.binding import Binding
from textual.strip import Strip
from textual.widgets import Static

from ...core.figures import formats as fmt
from ...core.figures.breakdowns import MIN_EXAMPLES, Breakdown, Breakdowns, GroupFigures
from ...view.display_names import LabelNames
from ...view.figures import breakdowns_job
from ...view.live import LiveRun
from ..keys import keys
from ..widgets.key_footer import KeyFooter
from ..widgets.paged_table import Column, PagedTable
from ..widgets.title_line import TitleLine
from .figures_screen import FiguresScreen
from .viewer_screen import ViewerScreen


class GroupTable(PagedTable):
    """A `PagedTable` whose rows of small groups are greyed out, showing the columns that
    fit its width (the figures first: PPL, its interval and bits per byte need 120
    columns)."""

    DEFAULT_CSS = """
    GroupTable > .group-table--small { color: $text-disabled; }
    """
    COMPONENT_CLASSES = PagedTable.COMPONENT_CLASSES | {"group-table--small"}

    def __init__(self, columns: list[Column], *args, **kwargs) -> None:
        super().__init__(columns, *args, **kwargs)
        self.all_columns = columns
        self.small_rows: set[int] = set()

    def on_resize(self) -> None:
        fit, used = [], -1
        for column in self.all_columns:
            used += column.width + 1
            if used > self.size.width and fit:
                break
            fit.append(column)
        if fit != self.columns:
            self.columns = fit
            self.set_row_count(self.row_count)

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        row = int(self.scroll_offset.y) + y - 1
        if y > 0 and row in self.small_rows and row != self.cursor:
            strip = strip.apply_style(self.get_component_rich_style("group-table--small"))
        return strip


class GroupsScreen(FiguresScreen):
    TITLE = "Groups"
    BINDINGS = [
        *keys("Screen",
              Binding("escape", "app.pop_screen", "Back", id="ppltop.groups.back",
                      tooltip="Back to the previous screen")),
        *keys("Rows",
              Binding("b", "next_breakdown", "Breakdown", id="ppltop.groups.breakdown",
                      tooltip="Next breakdown: record keys (--group-by), chat role, turn, "
                      "template or content, position, loss by position"),
              Binding("l", "next_label", "Label", id="ppltop.groups.label",
                      tooltip="Show the next model/adapter's figures")),
    ]

    DEFAULT_CSS = """
    GroupsScreen #groups-note { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    GroupsScreen #groups-table { height: 1fr; border: round $primary; }
    """

    def __init__(self, live: LiveRun, label: str | None = None,
                 names: LabelNames | None = None) -> None:
        super().__init__()
        self.live = live
        self.label = label
        self.names = names if names is not None else LabelNames()
        """The display names and the reference of the comparison view (`e`, `f`)."""
        self.breakdown_key: str | None = None
        self.breakdowns: Breakdowns | None = None

    def compose(self) -> ComposeResult:
        yield TitleLine()
        yield Static("", id="groups-note")
        yield GroupTable(
            [Column("group", 14, align="left"), Column("ex", 4), Column("tokens", 7),
             Column("loss", 7), Column("Δloss", 8), Column("95% CI Δloss", 19),
             Column("", 4, align="left"), Column("wins", 4), Column("PPL", 7),
             Column("95% CI PPL", 17), Column("bits/B", 6)],
            self._fetch_rows, id="groups-table")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.refresh_data()
        self.query_one(GroupTable).focus()

    # -- data ------------------------------------------------------------------------
    @property
    def breakdown(self) -> Breakdown | None:
        if self.breakdowns is None or not self.breakdowns.breakdowns:
            return None
        found = self.breakdowns.get(self.breakdown_key or "")
        return found or self.breakdowns.breakdowns[0]

    def refresh_data(self) -> None:
        """New results (or the screen opened, or the reference changed): ask the worker
        for the core's breakdowns; drawn when they come (`draw_figures`)."""
        self.ask(breakdowns_job(self.live, self.names.reference))
        if self.figures_pending and self.breakdowns is None:
            self.query_one("#groups-note", Static).update(self.COMPUTING)
        else:
            self._draw()

    def draw_figures(self, breakdowns: Breakdowns | None) -> None:
        self.breakdowns = breakdowns
        self._draw()

    def names_changed(self) -> None:
        """A label was renamed: redraw the title and the note that name labels."""
        if self.breakdowns is not None:
            self._draw()

    def _draw(self) -> None:
        """Redraw from the breakdowns shown: another label or breakdown needs no new ones."""
        labels = self.breakdowns.labels if self.breakdowns else []
        if self.label not in labels:
            self.label = labels[0] if labels else None
        b = self.breakdown
        self.breakdown_key = b.key if b else None
        table = self.query_one(GroupTable)
        groups = b.groups if b else []
        table.small_rows = {i for i, g in enumerate(groups) if g.small}
        table.set_row_count(len(groups))
        table.invalidate()
        self.sub_title = self.query_one(TitleLine).show_live(
            self.live, self.names.shown(self.label) if self.label else None,
            f"by {b.title}" if b else "")
        self.query_one("#groups-note", Static).update(self._note(b))

    def _note(self, b: Breakdown | None) -> str:
        if b is None:
            return "no breakdowns yet: nothing scored, or no data to group"
        ref = self.breakdowns.reference
        keys_left = [x.key for x in self.breakdowns.breakdowns]
        step = f"{keys_left.index(b.key) + 1}/{len(keys_left)}"
        name, ref_name = self.names.shown(self.label), self.names.shown(ref)
        versus = (f"{name} is the reference (l: next label)" if self.label == ref
                  else f"{name} vs {ref_name}, paired over each group's examples")
        lines = [f"by {b.title} ({step}, b: next) · {versus} · * significant · grey, few: "
                 f"under {MIN_EXAMPLES} examples"]
        if b.note:
            lines.append(b.note)
        if self.breakdowns.proposed:
            lines.append("records have keys that look like groups: "
                         + ", ".join(k for k, _ in self.breakdowns.proposed)
                         + " (ppltop --group-by KEY)")
        return "\n".join(lines)

    def _fetch_rows(self, start: int, count: int) -> list[list[str]]:
        b = self.breakdown
        if b is None:
            return []
        return [self._row(g.name, g.examples, g.small, g.figures.get(self.label))
                for g in b.groups[start:start + count]]

    def _row(self, name: str, examples: int, small: bool, f: GroupFigures | None
             ) -> list[str]:
        if f is None:
            return [name, str(examples), "0", *["–"] * 8]
        c = f.comparison
        if c is None:
            delta = ["ref", "", "few" if small else "", ""]
        else:
            lo, hi = c.delta_ci95
            mark = "few" if small else ("" if not math.isfinite(lo)
                                        else "*" if c.significant else "n.s.")
            delta = [fmt.signed(c.delta_loss), fmt.interval(lo, hi, sign=True), mark,
                     fmt.share(c.win_share)]
        lo, hi = f.ppl_ci95
        return [name, str(examples), fmt.count(f.tokens), fmt.loss(f.loss), *delta,
                fmt.number(f.ppl, 2), fmt.interval(lo, hi, 2), fmt.number(f.bits_per_byte, 3)]

    # -- actions ---------------------------------------------------------------------
    def action_next_breakdown(self) -> None:
        if self.breakdowns is None or not self.breakdowns.breakdowns:
            return
        keys_left = [b.key for b in self.breakdowns.breakdowns]
        at = keys_left.index(self.breakdown_key) if self.breakdown_key in keys_left else -1
        self.breakdown_key = keys_left[(at + 1) % len(keys_left)]
        self.query_one(GroupTable).cursor = 0
        self._draw()

    def show_label(self, label: str) -> None:
        """Show `label`'s figures (`l`, or 1-9 on any screen)."""
        self.label = label
        self._draw()

    def action_next_label(self) -> None:
        labels = self.breakdowns.labels if self.breakdowns else []
        if labels:
            at = labels.index(self.label) if self.label in labels else -1
            self.show_label(labels[(at + 1) % len(labels)])

    def on_paged_table_selected(self, message: PagedTable.Selected) -> None:
        b = self.breakdown
        if b is None or self.label is None:
            return
        group = b.groups[message.row]
        examples = self.breakdowns.examples_of(b.key, group.name)
        viewer = ViewerScreen(self.live, self.label, examples=np.array(examples,
                                                                       dtype=np.int64),
                              group=f"{b.key}={group.name}")
        self.app.push_screen(viewer)
        self.notify(f"viewer: the {len(examples)} examples of {group.name} ({b.title})")

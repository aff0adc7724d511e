"""The comparison view: every model/adapter against a reference, paired over the same examples.

Rows are the core's comparisons (`LiveRun.comparisons`, one paired bootstrap) of the results
scored so far, so a partial run compares like with like; where the labels have not all scored
the same examples (two runs, one stopped part-way), every figure of the table is over the
examples they share (`LiveRun.common`), and the screen says how many. Below, the tokens and
examples the active label improved or hurt most; Enter opens them in the document view's diff mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Label, Static

from ...core.figures import formats as fmt
from ...core.figures.compare import Comparison, example_deltas, token_deltas
from ...view.display_names import LabelNames
from ...view.live import LiveRun
from ...view.previews import InContext, in_context, opening
from ..keys import keys
from ..token_cells import token_at
from ..widgets.key_footer import KeyFooter
from ..widgets.paged_table import Column, PagedTable
from ..widgets.title_line import TitleLine
from .document_screen import DocumentScreen

LIST_ROWS = 200
LABEL_WIDTH_MAX = 40
CONTEXT_BEFORE = 5
"""Characters of context shown before a token in the lower panes (its own cell is narrow)."""


def _wins(c: Comparison) -> str:
    """The share of examples the label does better on; `tie` where every example scores
    the same (identical runs), `–` where there is nothing to count."""
    if not math.isfinite(c.win_share):
        return "–"
    if c.delta_ci95 == (0.0, 0.0) and c.delta_loss == 0.0:
        return "tie"
    return fmt.share(c.win_share)


def _near(context: InContext) -> str:
    """The token in its context for a narrow pane: a few characters before it, so that the
    marked token is in view, then what follows."""
    return f"…{context.before[-CONTEXT_BEFORE:]}«{context.token}»{context.after}…"


class FreeName(Validator):
    """A name no other label is shown by (`LabelNames.refusal`)."""

    def __init__(self, refusal: Callable[[str], str | None]) -> None:
        super().__init__()
        self.refusal = refusal

    def validate(self, value: str) -> ValidationResult:
        why = self.refusal(value)
        return self.success() if why is None else self.failure(why)


class RenameScreen(ModalScreen[str | None]):
    """Ask for a new display label; a name another label has is refused, in one line under
    the input, and nothing is renamed."""

    DEFAULT_CSS = """
    RenameScreen { align: center middle; }
    RenameScreen > Vertical { width: 50; height: auto; border: thick $primary;
                              background: $surface; padding: 1 2; }
    RenameScreen #rename-refusal { color: $error; height: auto; }
    """
    BINDINGS = keys("Screen", Binding("escape", "cancel", "Cancel", id="ppltop.rename.cancel",
                                      tooltip="Keep the current label"))

    def __init__(self, current: str,
                 refusal: Callable[[str], str | None] = lambda name: None) -> None:
        super().__init__()
        self.current = current
        self.refusal = refusal

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"New label for {self.current}:")
            yield Input(value=self.current, id="rename-input",
                        validators=[FreeName(self.refusal)], validate_on=["changed", "submitted"])
            yield Label("", id="rename-refusal")

    def on_input_changed(self, message: Input.Changed) -> None:
        self._show(message.validation_result)

    def on_input_submitted(self, message: Input.Submitted) -> None:
        if self._show(message.validation_result):
            self.dismiss(message.value.strip())

    def _show(self, result: ValidationResult | None) -> bool:
        """Say why the name is refused (or nothing); True when it is not."""
        refused = result is not None and not result.is_valid
        self.query_one("#rename-refusal", Label).update(
            result.failure_descriptions[0] if refused else "")
        return not refused

    def action_cancel(self) -> None:
        self.dismiss(None)


class ComparisonScreen(Screen):
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
        self.aliases = aliases if aliases is not None else {}
        self.names = LabelNames(self.aliases)
        """The names rows are shown by (the App's own dict for the App's run)."""
        self.rows: list[tuple[str, Comparison | None]] = []
        self._improved, self._hurt, self._examples = [], [], []

    def name_of(self, label: str) -> str:
        return self.names.shown(label)

    def compose(self) -> ComposeResult:
        yield TitleLine()
        yield PagedTable(
            [Column("", 1, align="left"), Column("label", self._label_width(), "label", "left"),
             Column("loss", 7, "loss"), Column("PPL", 8), Column("95% CI PPL", 17, hide_rank=3),
             Column("Δloss", 8, "delta"), Column("95% CI Δloss", 19), Column("ΔPPL", 8,
                                                                            hide_rank=2),
             Column("wins", 5, "wins"), Column("bits/B", 6, hide_rank=4),
             Column("tok/s", 7, hide_rank=5), Column("sig.", 4, align="left")],
            self._fetch_rows, sort_key="loss", descending=False, id="compare-table")
        yield Static("", id="compare-mlx", markup=False)
        yield Static("", id="compare-note")
        with Horizontal(id="compare-lists"):
            improved = PagedTable(self._token_columns(),
                                  lambda s, c: self._fetch_tokens(self._improved, s, c),
                                  id="improved")
            improved.border_title = "tokens improved most"
            yield improved
            hurt = PagedTable(self._token_columns(),
                              lambda s, c: self._fetch_tokens(self._hurt, s, c), id="hurt")
            hurt.border_title = "tokens hurt most"
            yield hurt
            examples = PagedTable(
                [Column("Δmean nats", 10), Column("ex", 4), Column("line", 5, hide_rank=1),
                 Column("opening", 12, align="left", hide_rank=2, grow=True)],
                self._fetch_examples, id="examples-delta")
            examples.border_title = "examples by Δ loss"
            yield examples
        yield KeyFooter()

    def _label_width(self) -> int:
        """Wide enough for every label (`run:label` from the runs screen), not cut at 14."""
        return min(LABEL_WIDTH_MAX, max([14, *(len(self.name_of(label)) + 2
                                              for label in self.live.labels)]))

    @staticmethod
    def _token_columns() -> list[Column]:
        """Δ in bits, the token, then as room allows its context, example and position."""
        return [Column("Δbits", 7), Column("token", 12, align="left"),
                Column("in context", 14, align="left", hide_rank=1, grow=True),
                Column("ex", 5, hide_rank=3), Column("pos", 5, hide_rank=2)]

    def on_mount(self) -> None:
        self.recompute()
        for table in self.query("#compare-table").results(PagedTable):
            table.focus()

    # -- data ------------------------------------------------------------------------
    def recompute(self) -> None:
        try:
            self._recompute()
        except NoMatches:  # closed while it opened (Esc as a run read in the background
            pass          # arrived): its widgets are gone, there is nothing to redraw

    def _recompute(self) -> None:
        found = self.live.comparisons(self.reference)
        rows = [(label, found.get(label)) for label in self.live.labels]
        under_cursor = self._cursor_label() or self.active
        self.rows = self._sorted(rows)
        table = self.query_one("#compare-table", PagedTable)
        table.set_row_count(len(self.rows))
        self._cursor_to(under_cursor)
        table.invalidate()
        versus = ("" if self.active == self.reference
                  else f" vs {self.name_of(self.reference)}")
        self.sub_title = self.query_one(TitleLine).show_live(
            self.live, f"{self.name_of(self.active)}{versus}")
        self._show_mlx_lm_lines()
        self._recompute_lists()

    def _show_mlx_lm_lines(self) -> None:
        """What the figures cover when the labels scored different examples; mlx-lm's own
        line per label (`LiveRun.mlx_lm_line`), the one users match: a label not scored to
        its end has none yet."""
        lines = [(self.name_of(label), self.live.mlx_lm_line(label)) for label, _ in self.rows]
        text = ("\n".join(f"mlx-lm · {name}: {line or 'when it is scored to its end'}"
                          for name, line in lines)
                if any(line for _, line in lines) else
                f"mlx-lm's {self.live.split_word} loss/ppl lines: when the run finishes")
        common = self.live.common()
        if common is not None:
            text = (f"loss, PPL, Δ and bits/B {common.basis} (those every label has scored; "
                    f"mlx-lm's lines are each run's own)\n{text}")
        self.query_one("#compare-mlx", Static).update(text)

    def _figures(self, label: str) -> tuple[float, tuple[float, float], float]:
        """(loss, 95% interval of PPL, bits per byte) of a row: over the common examples
        when the labels scored different ones, else the label's summary once it is scored
        to its end, else its running figures (no bits per byte yet)."""
        common = self.live.common()
        if common is not None:
            f = common.figures[label]
            return f.loss, f.ppl_ci95, f.bits_per_byte
        s = self.live.summary_of(label)
        if s is not None:
            return s.loss, s.ppl_ci95, s.bits_per_byte
        series = self.live.labels[label]
        return series.loss, series.ppl_ci95, math.nan

    def _sorted(self, rows):
        table = self.query_one("#compare-table", PagedTable)
        key = table.sort_key or "loss"

        def value(row):
            label, c = row
            if key == "label":
                return self.name_of(label)
            if key == "loss":  # the figure the column shows
                return self._figures(label)[0]
            if c is None:
                return 0.0
            return {"delta": c.delta_loss, "wins": c.win_share}[key]

        return sorted(rows, key=value, reverse=table.descending)

    def _recompute_lists(self) -> None:
        note = self.query_one("#compare-note", Static)
        if self.active == self.reference:
            self._improved = self._hurt = self._examples = []
            note.update(f"active = reference ({self.name_of(self.active)}): Enter on another "
                        "row (or 1-9) lists the tokens it moved")
        else:
            cand = self.live.compared_results(self.active)
            ref = self.live.compared_results(self.reference)
            self._improved = token_deltas(cand, ref, LIST_ROWS, improved=True)
            self._hurt = token_deltas(cand, ref, LIST_ROWS, improved=False)
            self._examples = example_deltas(cand, ref)
            note.update(f"{self.name_of(self.active)} vs {self.name_of(self.reference)}, "
                        "Δ = active − reference (negative: better) · Enter: diff view")
        for table_id, rows in (("#improved", self._improved), ("#hurt", self._hurt),
                               ("#examples-delta", self._examples)):
            table = self.query_one(table_id, PagedTable)
            table.set_row_count(len(rows), keep_cursor=False)
            table.invalidate()

    def _fetch_rows(self, start: int, count: int) -> list[list[str]]:
        out = []
        for label, c in self.rows[start:start + count]:
            s = self.live.summary_of(label)
            loss, (lo, hi), per_byte = self._figures(label)
            mark = "›" if label == self.active else ""
            if c is None:
                delta = ["ref", "", "", "", ""]
            else:
                dlo, dhi = c.delta_ci95
                delta = [fmt.delta(c.delta_loss), fmt.interval(dlo, dhi, sign=True),
                         fmt.signed(c.delta_ppl, 2), _wins(c), ""]
            row = [mark, self.name_of(label), fmt.loss(loss),
                   fmt.ppl(math.exp(loss) if math.isfinite(loss) else math.nan),
                   fmt.interval(lo, hi, 2), *delta[:4], fmt.number(per_byte, 3),
                   fmt.count(round(s.tokens_per_s)) if s else fmt.DASH,
                   "" if c is None else ("*" if c.significant else "n.s.")]
            out.append(row)
        return out

    def _fetch_tokens(self, rows, start: int, count: int) -> list[list[str]]:
        source = self.live.source
        return [[fmt.signed(t.delta_bits, 2), token_at(source, t.example, t.position),
                 _near(in_context(source.token_texts, source.examples[t.example].tokens,
                                  t.position)),
                 str(t.example), str(t.position)] for t in rows[start:start + count]]

    def _fetch_examples(self, start: int, count: int) -> list[list[str]]:
        source = self.live.source
        return [[fmt.signed(d, 3), str(i), str(source.examples[i].line),
                 opening(source.token_texts, source.examples[i].tokens)]
                for i, d in self._examples[start:start + count]]

    # -- actions ---------------------------------------------------------------------
    def _cursor_label(self) -> str | None:
        table = self.query_one("#compare-table", PagedTable)
        return self.rows[table.cursor][0] if 0 <= table.cursor < len(self.rows) else None

    def _cursor_to(self, label: str | None) -> None:
        """Put the cursor back on `label`'s row (its place changes with the order)."""
        where = [row_label for row_label, _ in self.rows]
        if label in where:
            self.query_one("#compare-table", PagedTable).move_to(where.index(label))

    def action_set_reference(self) -> None:
        label = self.active  # the selected row (›): one selection, whatever the cursor
        if label is not None:
            self.reference = label
            if self.live is self.app.live:  # another run's screen never sets this run's
                self.app.reference_label = label
            self.recompute()

    def action_activate_row(self) -> None:
        label = self._cursor_label()
        if label is not None:
            self.active = label
            if self.live is self.app.live:  # another run's labels are not this run's
                self.app.set_active_label(label)
            self.recompute()

    def action_recompute(self) -> None:
        self.recompute()

    def action_rename(self) -> None:
        label = self.active  # the selected row (›)
        if label is None:
            return

        def done(new: str | None) -> None:
            if new and self.names.rename(label, new, self.live.labels) is None:
                self.recompute()  # the table, the mlx-lm lines and the note name it
                if self.live is self.app.live:  # the app's names: every pane, the printout
                    self.app.names_changed()

        self.app.push_screen(RenameScreen(
            self.name_of(label), lambda name: self.names.refusal(label, name, self.live.labels)),
            done)

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
        if table_id in ("improved", "hurt"):
            hit = (self._improved if table_id == "improved" else self._hurt)[message.row]
            example, position = hit.example, hit.position
        else:
            example, position = self._examples[message.row][0], None
        self.app.push_screen(DocumentScreen(self.live, self.active, example, position,
                                            reference=self.reference, mode="diff"))

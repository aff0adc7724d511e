"""Models of different tokenizers on one example, character by character: the text colored
by the change in surprisal against the reference (or by one model's surprisal), each
character carrying the share of the token that covers it under each model
(`view.byte_alignment`). Examples in order of Δ bits/byte, the most worse first."""

from __future__ import annotations

import numpy as np
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static

from ...core.figures import formats as fmt
from ...core.figures.byte_compare import example_bits_per_byte
from ...view.byte_alignment import AlignedExample, align
from ...view.live import LiveRun
from ...view.screen_title import screen_title
from ..keys import keys
from ..widgets.document_view import DocumentView, legend_line
from ..widgets.key_footer import KeyFooter
from ..widgets.title_line import TitleLine

BYTE_MODES = ("diff", "surprisal")
"""The document view's modes that have a figure per character (no rank or entropy)."""


class Side:
    """One model of the comparison: its part's run (with its data source) and its label."""

    def __init__(self, live: LiveRun, label: str):
        assert live.source is not None
        self.live, self.label, self.source = live, label, live.source

    def example(self, index: int):
        result = self.live.index[self.label].results.get(index)
        return self.source.examples[index], result, self.source.token_texts

    def bits_per_byte(self) -> dict[int, float]:
        return example_bits_per_byte(self.live.index[self.label].results)

    def token_text(self, index: int, position: int) -> str:
        tokens = self.source.examples[index].tokens
        return self.source.token_texts.text(tokens[position:position + 1])


class BytesScreen(Screen):
    """The candidate against the reference, one example at a time."""

    TITLE = "Bytes"
    BINDINGS = [
        *keys("Screen",
              Binding("escape", "app.pop_screen", "Back", id="ppltop.bytes.back",
                      tooltip="Back to the dashboard"),
              Binding("m", "next_mode", "Mode", id="ppltop.bytes.mode",
                      tooltip="Color by the change against the reference (diff) or by the "
                      "candidate's surprisal")),
        *keys("Examples",
              Binding("right_square_bracket", "example(1)", "Next example",
                      id="ppltop.bytes.next", tooltip="The next example, by Δ bits/byte"),
              Binding("left_square_bracket", "example(-1)", "Prev example",
                      id="ppltop.bytes.prev", tooltip="The previous example, by Δ bits/byte")),
    ]

    DEFAULT_CSS = """
    BytesScreen #bytes-body { height: 1fr; }
    BytesScreen #bytes-main { border: round $primary; border-title-color: $primary; }
    BytesScreen #bytes-legend { height: auto; padding: 0 1; }
    BytesScreen #bytes-detail { width: 32; padding: 0 1; border: round $secondary; }
    """

    def __init__(self, candidate: Side, reference: Side):
        super().__init__()
        self.candidate, self.reference = candidate, reference
        mine, theirs = candidate.bits_per_byte(), reference.bits_per_byte()
        self.deltas = {i: mine[i] - theirs[i] for i in mine if i in theirs}
        self.order = sorted(self.deltas, key=lambda i: (-self.deltas[i], i))
        """The examples both scored, the most worse under the candidate first."""
        self.at = 0
        self.aligned: AlignedExample | None = None

    def compose(self) -> ComposeResult:
        yield TitleLine()
        with Horizontal(id="bytes-body"):
            with Vertical(id="bytes-main"):
                yield DocumentView(id="bytes-view")
                yield Static("", id="bytes-legend")
            yield Static("", id="bytes-detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DocumentView).mode = BYTE_MODES[0]
        self.load()

    def load(self) -> None:
        view = self.query_one(DocumentView)
        versus = f"{self.candidate.label} vs {self.reference.label}"
        if not self.order:
            self.query_one("#bytes-detail", Static).update("no example scored by both yet")
            return
        index = self.order[self.at]
        example = self.candidate.source.examples[index]
        where = f"example {index} (line {example.line})"
        self.sub_title = self.query_one(TitleLine).show(screen_title(
            self.TITLE, self.candidate.live.name, versus, shows=where))
        main = self.query_one("#bytes-main")
        main.border_title = f"{versus} · {where} · {self.at + 1} of {len(self.order)}"
        main.border_subtitle = (f"Δ {fmt.signed(self.deltas[index])} bits/byte "
                                "(per character: its share of each model's token)")
        self.aligned = align(index, self.candidate.example(index),
                             self.reference.example(index))
        if self.aligned is None:
            self.query_one("#bytes-detail", Static).update(
                "the two tokenizers spell this example's bytes differently: no alignment")
            return
        view.show_document(self.aligned.document, 0)
        view.focus()
        self._update_legend()

    def _update_legend(self) -> None:
        view = self.query_one(DocumentView)
        self.query_one("#bytes-legend", Static).update(legend_line(view, "[ ]: examples"))

    def on_document_view_cursor_moved(self, message: DocumentView.CursorMoved) -> None:
        ref_bits = self.aligned.document.ref_bits if self.aligned is not None else None
        if self.aligned is None or ref_bits is None:
            return
        doc, c = self.aligned.document, message.position
        index = self.order[self.at]
        lines = [f"character {doc.groups.text[c]!r}"]
        for side, bits, tokens in ((self.candidate, doc.bits, self.aligned.candidate_tokens),
                                   (self.reference, ref_bits, self.aligned.reference_tokens)):
            share = float(bits[c])
            lines += ["", side.label, f"  token {side.token_text(index, int(tokens[c]))!r}",
                      f"  share {fmt.number(share, 2)} bits" if np.isfinite(share)
                      else "  not scored"]
        delta = float(doc.bits[c] - ref_bits[c])
        lines += ["", f"Δ {fmt.signed(delta, 2)} bits" if np.isfinite(delta)
                  else "Δ: not scored by both"]
        self.query_one("#bytes-detail", Static).update("\n".join(lines))

    def action_example(self, step: int) -> None:
        if self.order:
            self.at = (self.at + step) % len(self.order)
            self.load()

    def action_next_mode(self) -> None:
        view = self.query_one(DocumentView)
        view.mode = BYTE_MODES[(BYTE_MODES.index(view.mode) + 1) % len(BYTE_MODES)] \
            if view.mode in BYTE_MODES else BYTE_MODES[0]
        self._update_legend()

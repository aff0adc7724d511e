"""The document view: one example, token by token, with the detail panel."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static

from ...core.figures import formats as fmt
from ...view.color_scale import JUMP_THRESHOLD_BITS
from ...view.live import LiveRun
from ..keys import keys
from ..widgets.document_view import MODES, DocumentView, legend_line
from ..widgets.key_footer import KeyFooter
from ..widgets.title_line import TitleLine
from ..widgets.token_detail import TokenDetail

DEFAULT_THRESHOLD_BITS = JUMP_THRESHOLD_BITS


class DocumentScreen(Screen):
    """Opened on an example (and optionally a token) of the active label."""

    TITLE = "Document"
    BINDINGS = [
        *keys("Screen",
              Binding("escape", "app.pop_screen", "Back", id="ppltop.doc.back",
                      tooltip="Back to the previous screen"),
              Binding("m", "next_mode", "Mode", id="ppltop.doc.mode",
                      tooltip="Color by surprisal, rank bucket, entropy, or the change "
                      "against the reference (diff)")),
        *keys("Surprising tokens",
              Binding("n", "jump(1)", "Next ≥ threshold", id="ppltop.doc.next_surprising",
                      tooltip="Cursor to the next token above the surprisal threshold (in "
                      "diff mode: whose change against the reference is at least as large)"),
              Binding("N", "jump(-1)", "Prev", id="ppltop.doc.prev_surprising",
                      tooltip="Cursor to the previous token above the surprisal threshold "
                      "(in diff mode: the previous change at least as large)"),
              Binding("plus,equals_sign", "threshold(1)", "Threshold +",
                      id="ppltop.doc.threshold_up", show=False,
                      tooltip="Raise the surprisal threshold by one bit"),
              Binding("minus", "threshold(-1)", "Threshold -", id="ppltop.doc.threshold_down",
                      show=False, tooltip="Lower the surprisal threshold by one bit")),
    ]

    DEFAULT_CSS = """
    DocumentScreen #doc-body { height: 1fr; }
    DocumentScreen #doc-main { border: round $primary; border-title-color: $primary; }
    DocumentScreen #doc-legend { height: auto; padding: 0 1; }
    """

    def __init__(self, live: LiveRun, label: str, example: int, position: int | None = None,
                 reference: str | None = None, mode: str = "surprisal"):
        super().__init__()
        self.live = live
        self.label = label
        self.example = example
        self.start_position = position
        self.reference = reference if reference != label else None
        self.start_mode = mode if (mode != "diff" or self.reference) else "surprisal"
        self.threshold_bits = DEFAULT_THRESHOLD_BITS

    def compose(self) -> ComposeResult:
        yield TitleLine()
        with Horizontal(id="doc-body"):
            with Vertical(id="doc-main"):
                yield DocumentView(id="doc-view")
                yield Static("", id="doc-legend")
            yield TokenDetail(id="doc-detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.load()

    def load(self) -> None:
        doc = self.live.document(self.label, self.example, self.reference)
        view = self.query_one(DocumentView)
        view.mode = self.start_mode
        main = self.query_one("#doc-main")
        example = self.live.source.examples[self.example]
        name = self.app.name_of
        versus = f" vs {name(self.reference)}" if self.reference else ""
        main.border_title = (f"{name(self.label)}{versus} · example {self.example} "
                             f"(line {example.line})")
        self.sub_title = self.query_one(TitleLine).show_live(
            self.live, f"{name(self.label)}{versus}",
            f"example {self.example} (line {example.line})")
        self._scored_note = (f"{fmt.plural(doc.result.n_tokens, 'token')} scored · mean "
                             f"{fmt.number(doc.result.mean_loss, 3)} nats"
                             if doc.result is not None else "not scored yet")
        start = self.start_position
        if start is None:
            scored = doc.scored_positions()
            start = int(scored[0]) if len(scored) else 0
        view.show_document(doc, start)
        view.focus()
        self._update_legend()

    def _update_legend(self) -> None:
        view = self.query_one(DocumentView)
        # the legend wraps under the text (a border subtitle would be cut at 80 columns)
        text = legend_line(view, f"n/N: {'|Δ| ' if view.mode == 'diff' else ''}"
                                f"≥ {self.threshold_bits:g} bits")
        self.query_one("#doc-main").border_subtitle = self._scored_note
        self.query_one("#doc-legend", Static).update(text)

    def on_document_view_cursor_moved(self, message: DocumentView.CursorMoved) -> None:
        view = message.view
        self.query_one(TokenDetail).show_token(view.document, message.position,
                                               self.live.source.token_texts,
                                               self.app.name_of(self.label),
                                               self.reference and self.app.name_of(self.reference))

    def move_to(self, position: int) -> None:
        """Put the cursor on the token at `position`."""
        self.query_one(DocumentView).move_to(position)

    def action_jump(self, direction: int) -> None:
        view = self.query_one(DocumentView)
        where = "after" if direction > 0 else "before"
        if view.mode == "diff":
            target = view.document.next_change(view.cursor, self.threshold_bits,
                                               forward=direction > 0)
            if target is None:
                self.notify(f"no change of {self.threshold_bits:g} bits or more {where} "
                            "the cursor")
                return
            view.move_to(target)
            return
        index = self.live.index.get(self.label)
        target = index.next_above(self.example, view.cursor, self.threshold_bits,
                                  forward=direction > 0) if index else None
        if target is None:
            self.notify(f"no token above {self.threshold_bits:g} bits {where} the cursor")
            return
        view.move_to(target)

    def action_threshold(self, delta: int) -> None:
        self.threshold_bits = max(0.0, self.threshold_bits + delta)
        self._update_legend()

    def action_next_mode(self) -> None:
        view = self.query_one(DocumentView)
        modes = [m for m in MODES if m != "diff" or self.reference]
        view.mode = modes[(modes.index(view.mode) + 1) % len(modes)]
        self._update_legend()

"""The error panel: a failure in the scoring thread, shown without losing what was scored."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ..keys import keys


class ErrorScreen(ModalScreen[None]):
    """Shows the message; Escape or Enter returns to the dashboard, whose figures remain."""

    DEFAULT_CSS = """
    ErrorScreen { align: center middle; }
    ErrorScreen > Vertical {
        width: 80%;
        max-width: 100;
        height: auto;
        border: thick $error;
        background: $surface;
        padding: 1 2;
    }
    ErrorScreen #error-title { color: $error; text-style: bold; }
    """

    BINDINGS = keys("Screen", Binding(
        "escape,enter", "dismiss", "Close", id="ppltop.error.close",
        tooltip="Close the error panel; the figures scored so far stay on screen"))

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Scoring stopped by an error", id="error-title")
            yield Static(self.message, id="error-message", markup=False)
            yield Static("What was scored before the error stays on screen. "
                         "Press Escape to close this panel.", id="error-hint")

    def action_dismiss(self) -> None:
        self.dismiss(None)

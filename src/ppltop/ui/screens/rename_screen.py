"""The modal that asks for a label's new display name (the comparison view's `e`)."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Label

from ..keys import keys


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

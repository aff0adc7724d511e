"""The messages that change the dashboard's one view state (`LabelNames`: the reference, the
active label and the display names): a screen posts them, the App alone applies them and
redraws what shows them, so no screen writes the App's attributes."""

from __future__ import annotations

from textual.message import Message


class ReferenceChosen(Message):
    """Compare with `label` from now on (the comparison view's `f`)."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label


class LabelActivated(Message):
    """Make `label` the active one in every pane (Enter on a comparison row)."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label


class LabelRenamed(Message):
    """Show `label` as `shown_as` in every pane and the printout (the comparison view's `e`)."""

    def __init__(self, label: str, name: str) -> None:
        super().__init__()
        self.label = label
        self.shown_as = name

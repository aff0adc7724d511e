"""The footer of every screen: its own keys on the left, help, screenshot and quit pinned
on the right, so that those three stay visible at 80 columns whatever the screen adds."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.widgets import Footer

from ..keys import PINNED_ACTIONS


class KeyFooter(Footer):
    """Textual's footer with the pinned keys on the right and, unless `global_keys`, only
    the keys of the screen and its focused widget on the left: the app's other keys work on
    every screen and are listed by the help screen, but would crowd every footer."""

    DEFAULT_CSS = """
    KeyFooter #pinned-keys {
        dock: right;
        width: auto;
        height: 1;
        border-left: vkey $foreground 20%;
    }
    """

    def __init__(self, *, global_keys: bool = False, **kwargs) -> None:
        super().__init__(show_command_palette=False, compact=True, **kwargs)
        self.global_keys = global_keys

    def compose(self) -> ComposeResult:
        app_actions = {binding.action for node, binding, *_ in
                       self.screen.active_bindings.values() if node is self.app}
        keys = list(super().compose())  # FooterKeys (each has the action of its binding)
        pinned = sorted((key for key in keys if getattr(key, "action", None) in PINNED_ACTIONS),
                        key=lambda key: PINNED_ACTIONS.index(key.action))
        yield from (key for key in keys if key not in pinned and (
            self.global_keys or getattr(key, "action", None) not in app_actions))
        with HorizontalGroup(id="pinned-keys"):
            yield from pinned

"""The dashboard's layout for the terminal's size: four panes, two at a time below
COMPACT_BELOW (`o` swaps them), and the "terminal too small" screen below 80x24.

A mixin of `PplTopApp`: `on_resize` and the `o` action have to be the App's own.
"""

from __future__ import annotations

from textual import events
from textual.css.query import NoMatches

from .screens.too_small_screen import TooSmallScreen, too_small
from .widgets.ppl_panel import PplPanel

COMPACT_BELOW = (100, 30)
"""Below this many columns or rows the dashboard shows the figures and a taller chart, and
`o` swaps the config and the log in (four panes at 80x24 cut every one of them)."""


class LayoutFit:
    """Fits the App's dashboard to the terminal; keeps `_too_small`, `_compact` and
    `_config_shown` (set up in `init_layout`)."""

    def init_layout(self) -> None:
        self._too_small: TooSmallScreen | None = None
        self._compact = False
        """The terminal is below COMPACT_BELOW: two panes at a time."""
        self._config_shown = False
        """In the compact layout: the config and the log are shown (`o`), not the figures."""

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size)
        self.query_one(PplPanel).fit_height(event.size.height)

    @property
    def too_small(self) -> bool:
        """True while the "terminal too small" screen is shown."""
        return self._too_small is not None

    def _check_size(self, size) -> None:
        self._fit_layout(size)
        if too_small(size):
            if self._too_small is None:
                self._too_small = TooSmallScreen()
                self.push_screen(self._too_small)
            elif self._too_small.is_mounted:
                self._too_small.show_size(size)
        elif self._too_small is not None:
            if self.screen is self._too_small:
                self.pop_screen()
            self._too_small = None
            self._refresh_view()

    def _fit_layout(self, size) -> None:
        """Four panes, or (below COMPACT_BELOW) the figures or the config and log."""
        compact = size.width < COMPACT_BELOW[0] or size.height < COMPACT_BELOW[1]
        try:
            top = self.screen_stack[0].query_one("#top")
        except NoMatches:  # a resize before the dashboard is composed
            return
        top.set_class(compact, "-compact")
        top.set_class(compact and self._config_shown, "-config")
        if compact != self._compact:
            self._compact = compact
            self.screen.refresh_bindings()  # `o` comes or goes

    def action_toggle_config(self) -> None:
        self._config_shown = not self._config_shown
        self._fit_layout(self.size)


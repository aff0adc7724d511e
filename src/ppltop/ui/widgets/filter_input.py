"""The viewer's filter line: Enter or Esc applies what is typed and leaves the line.

Esc leaving the line (rather than the screen) keeps the filter: a second Esc, from the list,
goes back as on every screen.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input

from ..keys import keys


class FilterInput(Input):
    """An `Input` whose Esc submits it (the screen then focuses its list)."""

    BINDINGS = keys("Lists",
                    Binding("escape", "submit", "Leave filter", id="ppltop.viewer.leave_filter",
                            tooltip="Leave the filter line; the filter stays (Esc again "
                            "goes back)"))

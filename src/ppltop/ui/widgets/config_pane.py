"""The config pane: what is being scored, and with what."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..text_flow import wrap_value

NARROWEST_VALUE = 12
"""Below this many cells beside the keys, each value goes under its key instead."""
KEY_SHARE = 0.4
"""The keys' column takes at most this share of the width; a longer key has its value on
the lines below it."""


class ConfigPane(Static):
    """Key/value lines of the run's configuration, set once the plan is known. Values wrap
    between words or after a path's `/`, indented under their first line."""

    DEFAULT_CSS = """
    ConfigPane {
        border: round $primary;
        border-title-color: $primary;
        padding: 0 1;
        height: auto;
        max-height: 60%;
        overflow-y: auto;
    }
    """

    def __init__(self, info: dict[str, str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.info = dict(info)
        self.border_title = "Config"

    def on_mount(self) -> None:
        self._render_info()

    def on_resize(self) -> None:
        self._render_info()

    def set_values(self, **values: str) -> None:
        """Add or replace entries (e.g. examples and tokens once the data is read)."""
        self.info.update(values)
        self._render_info()

    def set_after(self, key: str, values: dict[str, str]) -> None:
        """Add or replace entries right after `key` (at the end if there is none)."""
        if not values:
            return
        items = [(k, v) for k, v in self.info.items() if k not in values]
        at = next((i + 1 for i, (k, _) in enumerate(items) if k == key), len(items))
        self.info = dict(items[:at] + list(values.items()) + items[at:])
        self._render_info()

    def lines(self, width: int) -> list[tuple[str, str]]:
        """(key, value) per line at `width` cells: a key on the first line of its value."""
        key_width = min(max((len(k) for k in self.info), default=0), int(width * KEY_SHARE))
        beside = width - key_width - 2
        out = []
        for key, value in self.info.items():
            if beside >= NARROWEST_VALUE and len(key) <= key_width:
                wrapped = wrap_value(str(value), beside)
                out.append((key.ljust(key_width) + "  ", wrapped[0]))
                out += [(" " * (key_width + 2), more) for more in wrapped[1:]]
            else:  # too narrow to put them side by side
                out.append((key, ""))
                out += [("  ", line) for line in wrap_value(str(value), width - 2)]
        return out

    def _render_info(self) -> None:
        text = Text(no_wrap=True, overflow="crop")
        for i, (key, value) in enumerate(self.lines(self.content_size.width or 60)):
            text.append(("\n" if i else "") + key, style="bold")
            text.append(value)
        self.update(text)

"""The config pane: what is being scored, and with what."""

from __future__ import annotations

from textual.widgets import Static


class ConfigPane(Static):
    """Key/value lines of the run's configuration, set once the plan is known."""

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

    def set_values(self, **values: str) -> None:
        """Add or replace entries (e.g. examples and tokens once the data is read)."""
        self.info.update(values)
        self._render_info()

    def _render_info(self) -> None:
        width = max((len(k) for k in self.info), default=0)
        lines = [f"[b]{key.ljust(width)}[/b]  {value}" for key, value in self.info.items()]
        self.update("\n".join(lines))

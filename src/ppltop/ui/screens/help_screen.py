"""The help screen: the keys of the screen it was opened on, grouped by purpose, then the
keys that work everywhere, then what the token colors mean.

Every row comes from the live bindings (after the user's key map), so the help says what
the keys do on that screen, never a hand-kept list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.actions import parse
from textual.app import ComposeResult
from textual.binding import Binding
from textual.color import Color
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

from ..keys import PURPOSES, keys, purpose_of
from ..widgets.document_view import BITS_PER_STEP, RANK_STEPS

TEXTUAL_KEYS = {"command_palette": "General", "app.focus_next": "Move",
                "app.focus_previous": "Move"}
"""Textual's own bindings worth listing (they have no ppltop id), with their purpose."""


@dataclass
class KeyRow:
    """One action of the help: its bindings by id (`move(-1)` and `move(1)` are one row),
    each with its keys, description and tooltip."""

    purpose: str
    bindings: dict[str, tuple[list[str], str, str]] = field(default_factory=dict)

    def add(self, binding: Binding, key_display: str) -> None:
        keys, _, _ = self.bindings.setdefault(binding.id or binding.action,
                                              ([], binding.description, binding.tooltip))
        if key_display not in keys:
            keys.append(key_display)

    def cells(self) -> tuple[str, str, str]:
        """(keys, description, tooltip); many numbered bindings become one, e.g. 1-9."""
        entries = list(self.bindings.values())
        if len(entries) > 2:
            first, last = entries[0][0][0], entries[-1][0][-1]
            return (f"{first}-{last}", re.sub(r"\d+", "N", entries[0][1]),
                    re.sub(r"#\d+", "#N", entries[0][2]))
        return (" / ".join(" ".join(keys) for keys, _, _ in entries),
                " / ".join(description[:1].upper() + description[1:]
                           for _, description, _ in entries),
                " / ".join(tooltip for _, _, tooltip in entries if tooltip))


def key_rows(screen: Screen) -> tuple[list[KeyRow], list[KeyRow]]:
    """(the rows of `screen` and its focused widget, the rows of the app's keys).

    A key is listed where it acts first: a screen's `a` hides the app's. Actions that
    `check_action` turns off on this screen are left out.
    """
    app = screen.app
    claimed: set[str] = set()
    local: dict[tuple[int, str], KeyRow] = {}
    everywhere: dict[tuple[int, str], KeyRow] = {}
    # the chain Textual itself walks for a key press, with the user's key map applied
    for node, bindings in screen._binding_chain:
        is_app = node is app
        for key, binding in bindings:
            listed = binding.id is not None or binding.action in TEXTUAL_KEYS
            if binding.system or not binding.description or not listed or key in claimed:
                continue
            _, name, params = parse(binding.action)
            owner = app if binding.action.startswith("app.") else node
            if owner.check_action(name, params) is False:
                continue
            claimed.add(key)
            default = TEXTUAL_KEYS.get(binding.action) or ("General" if is_app else "Move")
            rows = everywhere if is_app or binding.action in TEXTUAL_KEYS else local
            row = rows.setdefault((id(node), name), KeyRow(purpose_of(binding, default)))
            row.add(binding, app.get_key_display(binding))
    return list(local.values()), list(everywhere.values())


def _by_purpose(rows: list[KeyRow]) -> dict[str, list[KeyRow]]:
    """Rows under their purposes, each group in the order its bindings were declared."""
    declared = {binding_id: i for i, binding_id in enumerate(PURPOSES)}
    groups: dict[str, list[KeyRow]] = {}
    for row in sorted(rows, key=lambda r: declared.get(next(iter(r.bindings)), len(declared))):
        groups.setdefault(row.purpose, []).append(row)
    return groups


def _table(rows: list[KeyRow]) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(width=13, no_wrap=True)
    table.add_column(width=26)
    table.add_column(ratio=1)
    for row in rows:
        keys, description, tooltip = row.cells()
        table.add_row(Text(keys, style="bold"), description, Text(tooltip, style="dim"))
    return table


def color_legend(theme_variables: dict[str, str]) -> Text:
    """What the document view's colors mean in the current theme."""

    def swatch(label: str, variable: str) -> Text:
        background = Color.parse(theme_variables[variable])
        return Text(f" {label} ", Style(bgcolor=background.rich_color,
                                        color=background.get_contrast_text(1.0).rich_color))

    steps = 0
    while f"surprisal-{steps}" in theme_variables:
        steps += 1
    text = Text("Token colors, surprisal in bits (-log2 p): ")
    for step in range(steps):
        text.append(swatch(f"{int(step * BITS_PER_STEP)}{'+' if step == steps - 1 else ''}",
                           f"surprisal-{step}"))
    text.append("\n  low: the model expected the token; high: it did not.\n")
    text.append("Rank mode (m): ")
    for label, step in zip(("top 10", "top 100", "top 1000", "beyond"), RANK_STEPS):
        text.append(swatch(label, f"surprisal-{min(step, steps - 1)}"))
    text.append("\nDiff mode, against the reference: ")
    for label, variable in (("better", "diff-better"), ("worse", "diff-worse")):
        if variable in theme_variables:
            text.append(swatch(label, variable))
    text.append("  Dimmed tokens are not scored.")
    return text


class HelpScreen(ModalScreen[None]):
    """The keys of `screen` (the one below), then the global keys, then the colors."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100%;
        max-width: 110;
        height: 100%;
        max-height: 44;
        border: round $primary;
        border-title-color: $primary;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen .help-heading { color: $primary; text-style: bold; margin-top: 1; }
    HelpScreen .help-purpose { color: $accent; }
    HelpScreen .help-keys { padding-left: 2; }
    """

    BINDINGS = keys("General", Binding("escape,q,question_mark", "close", "Close",
                                       id="ppltop.help.close", tooltip="Close the help"),
                    # a modal screen hides the app's keys: the help lists ctrl+s among the
                    # keys that work everywhere, so it saves the help itself too
                    Binding("ctrl+s", "app.save_svg", "Screenshot",
                            id="ppltop.help.screenshot",
                            tooltip="Save an SVG screenshot of the help in the current folder"))

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.for_screen = screen

    def compose(self) -> ComposeResult:
        local, everywhere = key_rows(self.for_screen)
        name = self.for_screen.title or "Dashboard"
        with VerticalScroll(id="help-body") as body:
            body.border_title = f"Keys · {name}"
            for heading, rows in ((f"On this screen ({name})", local),
                                  ("Everywhere", everywhere)):
                if not rows:
                    continue
                yield Label(heading, classes="help-heading")
                for purpose, group in _by_purpose(rows).items():
                    yield Label(purpose, classes="help-purpose")
                    yield Static(_table(group), classes="help-keys")
            yield Label("Colors", classes="help-heading")
            yield Static(color_legend(self.app.theme_variables), id="help-colors")

    def on_mount(self) -> None:
        closing = [self.app.get_key_display(binding)
                   for _, binding, *_ in self.active_bindings.values() if binding.action == "close"]
        self.query_one("#help-body").border_subtitle = f"{' '.join(closing)}: close"

    def action_close(self) -> None:
        self.dismiss(None)

"""The terminal theme's colors for the page, read from the same theme files the dashboard
loads (`ppltop/themes/*.toml`), without Textual: the page's tokens take the same surprisal
scale and diff colors as the terminal's."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import InputError
from ..view.theme_files import builtin_dir, read_themes

DEFAULT = "ppltop-dark"


@dataclass(frozen=True)
class PageColors:
    colors: dict[str, str]
    """Textual theme colors: primary, foreground, background, surface, panel..."""
    scale: list[str]
    """The surprisal scale, least to most surprising."""
    diff: dict[str, str]
    """better, worse"""
    labels: list[str]
    """One color per label in the charts."""


def text_on(hex_color: str) -> str:
    """Black or white text, whichever reads on `hex_color` (Textual's brightness rule)."""
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return "#000000" if (299 * r + 587 * g + 114 * b) / 1000 / 255 > 0.5 else "#ffffff"


def page_colors(name: str = DEFAULT) -> PageColors:
    """The built-in theme called `name` (ppltop-dark, ppltop-light, ...)."""
    themes, _ = read_themes([builtin_dir()])
    for data in themes:
        if data.name == name:
            return PageColors(dict(data.colors), list(data.scale), dict(data.diff),
                              list(data.labels))
    known = ", ".join(data.name for data in themes)
    raise InputError(f"--theme {name}: not a built-in theme (choose from {known})")

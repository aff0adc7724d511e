"""Themes as data: TOML files validated into Textual themes plus a surprisal color scale.

Built-in themes ship as package data (`ppltop/themes/*.toml`, read without Textual by
`view/theme_files.py`, which the HTML report shares);
user themes are read from `<user config dir>/ppltop/themes/*.toml`. A broken file is
collected as one error line and skipped, never a crash. The surprisal scale, the diff
colors and the charts' label colors become theme variables (`$surprisal-0` ...
`$surprisal-N`, `$diff-better`, `$diff-worse`, `$label-0` ... `$label-N`), so widgets never
hold a hex color.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from textual.theme import Theme

from .view.theme_files import ThemeData, builtin_dir, parse_theme_data, read_themes

__all__ = ["DEFAULT_THEME", "NO_COLOR_THEME", "LoadedThemes", "builtin_dir", "initial_theme",
           "load_themes", "parse_theme", "user_dir"]

DEFAULT_THEME = "ppltop-dark"
NO_COLOR_THEME = "ppltop-mono"


@dataclass
class LoadedThemes:
    themes: dict[str, Theme] = field(default_factory=dict)
    """By name, in load order (built-in first)."""
    scales: dict[str, list[str]] = field(default_factory=dict)
    """Surprisal scale per theme, least to most surprising."""
    errors: list[str] = field(default_factory=list)
    """One line per file that could not be loaded."""


def user_dir() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("ppltop")) / "themes"


def textual_theme(data: ThemeData) -> Theme:
    """The Textual theme of a theme file: its colors, and the surprisal scale, diff and
    label colors as theme variables."""
    variables = {f"surprisal-{i}": c for i, c in enumerate(data.scale)}
    variables["diff-better"] = data.diff["better"]
    variables["diff-worse"] = data.diff["worse"]
    variables.update({f"label-{i}": c for i, c in enumerate(data.labels)})
    return Theme(name=data.name, dark=data.dark, variables=variables, **data.colors)


def parse_theme(text: str, source: str) -> tuple[Theme, list[str]]:
    """Validate one theme file's text. Raises ValueError with a one-line reason."""
    data = parse_theme_data(text)
    return textual_theme(data), list(data.scale)


def load_themes(extra_dirs: list[Path] | None = None) -> LoadedThemes:
    """Built-in themes, then user themes (a user theme may replace a built-in one)."""
    found, errors = read_themes([builtin_dir(), user_dir(), *(extra_dirs or [])])
    loaded = LoadedThemes(errors=errors)
    for data in found:
        loaded.themes[data.name] = textual_theme(data)
        loaded.scales[data.name] = list(data.scale)
    return loaded


def initial_theme(requested: str | None, loaded: LoadedThemes) -> str:
    """--theme if given, the monochrome theme under NO_COLOR, else the default."""
    if requested:
        return requested
    if os.environ.get("NO_COLOR"):
        return NO_COLOR_THEME
    return DEFAULT_THEME

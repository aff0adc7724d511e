"""Themes as data: TOML files validated into Textual themes plus a surprisal color scale.

Built-in themes ship as package data (`ppltop/themes`, the repo's top-level `themes/`);
user themes are read from `<user config dir>/ppltop/themes/*.toml`. A broken file is
collected as one error line and skipped, never a crash. The surprisal scale, the diff
colors and the charts' label colors become theme variables (`$surprisal-0` ...
`$surprisal-N`, `$diff-better`, `$diff-worse`, `$label-0` ... `$label-N`), so widgets never
hold a hex color.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from textual.theme import Theme

DEFAULT_THEME = "ppltop-dark"
NO_COLOR_THEME = "ppltop-mono"
COLOR_KEYS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground",
              "background", "surface", "panel")
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass
class LoadedThemes:
    themes: dict[str, Theme] = field(default_factory=dict)
    """By name, in load order (built-in first)."""
    scales: dict[str, list[str]] = field(default_factory=dict)
    """Surprisal scale per theme, least to most surprising."""
    errors: list[str] = field(default_factory=list)
    """One line per file that could not be loaded."""


def builtin_dir() -> Path:
    return Path(str(resources.files("ppltop") / "themes"))


def user_dir() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("ppltop")) / "themes"


def parse_theme(text: str, source: str) -> tuple[Theme, list[str]]:
    """Validate one theme file's text. Raises ValueError with a one-line reason."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"not valid TOML ({e})")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError('needs a string "name"')
    colors = data.get("colors", {})
    if not isinstance(colors, dict) or "primary" not in colors:
        raise ValueError("needs a [colors] table with at least primary")
    for key, value in colors.items():
        if key not in COLOR_KEYS:
            raise ValueError(f"unknown color {key!r} (known: {', '.join(COLOR_KEYS)})")
        if not isinstance(value, str) or not _HEX.match(value):
            raise ValueError(f"color {key} = {value!r} is not #rrggbb")
    scale = data.get("surprisal", {}).get("scale")
    if (not isinstance(scale, list) or len(scale) < 2
            or not all(isinstance(c, str) and _HEX.match(c) for c in scale)):
        raise ValueError("needs [surprisal] scale = a list of at least two #rrggbb colors")
    label_colors = data.get("labels", {}).get("colors")
    if (not isinstance(label_colors, list) or len(label_colors) < 2
            or not all(isinstance(c, str) and _HEX.match(c) for c in label_colors)):
        raise ValueError("needs [labels] colors = a list of at least two #rrggbb colors, "
                         "one per model/adapter in the charts")
    diff = data.get("diff", {})
    for key in ("better", "worse"):
        if not isinstance(diff.get(key), str) or not _HEX.match(diff[key]):
            raise ValueError(f"needs [diff] {key} = a #rrggbb color")
    variables = {f"surprisal-{i}": c for i, c in enumerate(scale)}
    variables["diff-better"] = diff["better"]
    variables["diff-worse"] = diff["worse"]
    variables.update({f"label-{i}": c for i, c in enumerate(label_colors)})
    theme = Theme(name=name.strip(), dark=bool(data.get("dark", True)), variables=variables,
                  **colors)
    return theme, list(scale)


def load_themes(extra_dirs: list[Path] | None = None) -> LoadedThemes:
    """Built-in themes, then user themes (a user theme may replace a built-in one)."""
    loaded = LoadedThemes()
    dirs = [builtin_dir(), user_dir(), *(extra_dirs or [])]
    for folder in dirs:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme, scale = parse_theme(path.read_text(encoding="utf-8"), str(path))
            except (ValueError, OSError, UnicodeDecodeError) as e:
                loaded.errors.append(f"theme {path}: {e}")
                continue
            loaded.themes[theme.name] = theme
            loaded.scales[theme.name] = scale
    return loaded


def initial_theme(requested: str | None, loaded: LoadedThemes) -> str:
    """--theme if given, the monochrome theme under NO_COLOR, else the default."""
    if requested:
        return requested
    if os.environ.get("NO_COLOR"):
        return NO_COLOR_THEME
    return DEFAULT_THEME

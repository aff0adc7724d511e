"""Theme files read and validated without Textual: the one reader of `ppltop/themes/*.toml`
(package data) and of user themes, shared by the dashboard (which turns each into a Textual
theme) and the HTML report (which takes the same colors)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

COLOR_KEYS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground",
              "background", "surface", "panel")
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class ThemeData:
    """One theme file's content, validated."""

    name: str
    dark: bool
    colors: dict[str, str]
    """Textual theme colors: primary (always), secondary, foreground, background..."""
    scale: list[str]
    """The surprisal scale, least to most surprising."""
    labels: list[str]
    """One color per model/adapter in the charts."""
    diff: dict[str, str]
    """better, worse"""


def builtin_dir() -> Path:
    """The built-in themes, shipped inside the package."""
    return Path(str(resources.files("ppltop") / "themes"))


def _colors(value: object, what: str) -> list[str]:
    if (not isinstance(value, list) or len(value) < 2
            or not all(isinstance(c, str) and _HEX.match(c) for c in value)):
        raise ValueError(f"needs {what}")
    return list(value)


def parse_theme_data(text: str) -> ThemeData:
    """Validate one theme file's text. Raises ValueError with a one-line reason."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"not valid TOML ({e})") from e
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
    scale = _colors(data.get("surprisal", {}).get("scale"),
                    "[surprisal] scale = a list of at least two #rrggbb colors")
    labels = _colors(data.get("labels", {}).get("colors"),
                     "[labels] colors = a list of at least two #rrggbb colors, "
                     "one per model/adapter in the charts")
    diff = data.get("diff", {})
    for key in ("better", "worse"):
        if not isinstance(diff.get(key), str) or not _HEX.match(diff[key]):
            raise ValueError(f"needs [diff] {key} = a #rrggbb color")
    return ThemeData(name.strip(), bool(data.get("dark", True)), dict(colors), scale, labels,
                     {"better": diff["better"], "worse": diff["worse"]})


def read_themes(folders: list[Path]) -> tuple[list[ThemeData], list[str]]:
    """Every `*.toml` of `folders`, in order (a later theme of the same name replaces an
    earlier one where the caller keys by name); a broken file is one error line, skipped."""
    themes, errors = [], []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                themes.append(parse_theme_data(path.read_text(encoding="utf-8")))
            except (ValueError, OSError, UnicodeDecodeError) as e:
                errors.append(f"theme {path}: {e}")
    return themes, errors

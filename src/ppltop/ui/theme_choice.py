"""The App's themes: the theme files registered, the one asked for chosen (or a warning
naming the known ones), and `t` stepping through them.

A mixin of `PplTopApp`: the action has to be the App's own for its binding.
"""

from __future__ import annotations

from ..themes import DEFAULT_THEME, LoadedThemes, load_themes
from .widgets.batch_loss_chart import BatchLossChart


class ThemeChoice:
    """Themes as data, for the App it is mixed into."""

    def _load_themes(self, themes: LoadedThemes | None, requested: str | None) -> None:
        self._themes = themes or load_themes()
        for loaded in self._themes.themes.values():
            self.register_theme(loaded)
        self._theme_names = list(self._themes.themes)
        self._requested_theme = requested or DEFAULT_THEME

    def _choose_theme(self) -> None:
        if self._requested_theme in self._themes.themes:
            self.theme = self._requested_theme
        elif self._requested_theme:
            self.notify(f"--theme {self._requested_theme}: no such theme; known: "
                        f"{', '.join(self._theme_names)}", severity="warning")
            self.theme = self._theme_names[0] if self._theme_names else self.theme

    def action_next_theme(self) -> None:
        if not self._theme_names:
            return
        current = self._theme_names.index(self.theme) if self.theme in self._theme_names else -1
        self.theme = self._theme_names[(current + 1) % len(self._theme_names)]
        self.query_one(BatchLossChart).replot(self.live)  # the label colors are the theme's
        self.notify(f"theme: {self.theme}", timeout=3)

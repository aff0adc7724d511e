"""The screen as the user reads it: plain text, one string per terminal row."""

from __future__ import annotations


def screen_lines(app) -> list[str]:
    """Every row of the screen on top, as drawn (borders and all), without styles."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))

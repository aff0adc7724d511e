"""The title line of every screen: which run, which label, which split, what part of it
(a group, a filter) and whether the figures are partial, in the same words everywhere.

A screen without these says nothing about what it shows: the viewer of a group's twelve
examples looks like the viewer of a whole run, a comparison of two runs from the runs screen
like one of the run being scored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .live import LiveRun

UNSAVED = "run not recorded"
"""The run's name when it has no run directory (a folder name is a run's name)."""
NAME_MAX = 30
"""A run name longer than this is cut (with `…`; a run folder's default name is shorter):
the dashboard's header has the status after the title, and at 80 columns it stays in view."""


def _cut(text: str) -> str:
    return text if len(text) <= NAME_MAX else text[:NAME_MAX - 1] + "…"


def screen_title(screen: str, run: str, label: str | None = None, split: str | None = None,
                 *, shows: str = "", partial: bool | None = None) -> str:
    """`Screen · run · label · split test · shows · partial`; `shows`: the group or filter
    of what is listed (empty: everything); `partial` None: not said (the screen says it)."""
    parts = [screen, _cut(run or UNSAVED)]
    if label:
        parts.append(label)
    if split:
        parts.append(f"split {split}")
    if shows:
        parts.append(shows)
    if partial is not None:
        parts.append("partial" if partial else "all examples")
    return " · ".join(parts)


def figures_partial(live: LiveRun) -> bool:
    """True while a `LiveRun`'s figures are not those of its whole split: still scoring,
    cancelled, or stopped by an error."""
    done = live.finished
    return done is None or done.cancelled or bool(live.error)


def live_title(screen: str, live: LiveRun, label: str | None = None, shows: str = "") -> str:
    """`screen_title` of a `LiveRun` (its `name` and `split`) and one of its labels."""
    return screen_title(screen, live.name, label, live.split, shows=shows,
                        partial=figures_partial(live))

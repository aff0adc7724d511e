"""Waits and key sequences under Pilot, shared by the app tests: each waits for what it
needs on screen (a run finished, a label scored, the figures worker's answer drawn), never
for a fixed time."""

from __future__ import annotations

from textual.widgets import Input, TabbedContent

from ppltop.ui.widgets.paged_table import PagedTable
from support.waiting import pilot_until


async def wait_for(pilot, condition, timeout=120.0):
    """Wait until `condition()` holds (the app running meanwhile); fail after `timeout`."""
    await pilot_until(pilot, condition, timeout)


def figures_pending(app) -> bool:
    """True while the screen on top waits for figures it asked the figures worker for."""
    return getattr(app.screen, "figures_pending", False)


async def figures_drawn(pilot, timeout=60.0):
    """Wait until the screen on top has drawn the figures it asked the figures worker for
    (comparisons, breakdowns, the checkpoint curve are computed off the UI thread)."""
    await pilot_until(pilot, lambda: not figures_pending(pilot.app), timeout,
                      "the figures worker's answer")


async def finished(pilot, timeout=60.0):
    """Wait until the run has finished and the screen has drawn its last events."""
    await pilot_until(pilot, lambda: pilot.app.live.finished is not None, timeout,
                      "the run to finish")
    await pilot.pause(0.3)  # to be replaced by a condition (issue #22): the screen settles


def has_results(app, label: str):
    """A condition: `label` has results."""
    return lambda: bool(app.live.index.get(label) and len(app.live.index[label]))


async def scored(pilot, label: str = "docs-net") -> None:
    """Wait until `label` (by default the synthetic two-label run's second) has results."""
    await pilot_until(pilot, has_results(pilot.app, label), 60, f"results of {label}")
    await pilot.pause(0.2)  # to be replaced by a condition (issue #22): the screen settles


async def finished_and_curve(pilot):
    """The run finished, and the curve of its end drawn (computed by the figures worker)."""
    await finished(pilot)
    await figures_drawn(pilot)


SCREENS = {"dashboard": [], "viewer": ["v"], "document": ["v", "enter"], "comparison": ["a"],
           "runs": ["R"]}
"""Each screen, and the keys that open it from the dashboard."""


async def open_screen(pilot, name: str) -> None:
    """Once the demo examples are scored, open screen `name` from the dashboard."""
    await scored(pilot)
    await pilot.press(*SCREENS[name])
    await pilot.pause(0.2)  # to be replaced by a condition (issue #22)


async def rename(pilot, name: str) -> None:
    """`e` on the comparison view, the input cleared, `name` typed, Enter."""
    await pilot.press("e")
    await wait_for(pilot, lambda: pilot.app.screen.query("#rename-input"), timeout=10)
    pilot.app.screen.query_one("#rename-input", Input).value = ""
    await pilot.press(*name, "enter")
    await pilot.pause(0.2)  # to be replaced by a condition (issue #22)


async def settle(pilot) -> None:
    """Before a snapshot: the figures drawn, and no toast (toasts time out mid-snapshot)."""
    await figures_drawn(pilot)  # comparisons come from the figures worker
    pilot.app.clear_notifications()
    await pilot.pause(0.4)  # to be replaced by a condition (issue #22)


async def open_viewer(pilot, tab: str) -> None:
    """The finished run's viewer, on `tab`."""
    await finished(pilot)
    await pilot.press("v")
    await pilot.pause(0.2)
    pilot.app.screen.query_one(TabbedContent).active = tab
    await settle(pilot)


async def open_document(pilot, diff: bool, ready=finished) -> None:
    """The run's first example in the document view, the cursor four tokens in; with
    `diff`, against the reference in the diff mode. `ready` waits for the run (by default
    until it finished; a stream without an end event passes `scored`)."""
    await ready(pilot)
    if diff:
        await pilot.press("2")
    await pilot.press("v")
    await pilot.pause(0.2)
    pilot.app.screen.query_one("#examples", PagedTable).focus()
    await pilot.press("home", "enter")
    await pilot.pause(0.2)
    await pilot.press(*["right"] * 4)
    if diff:  # surprisal, rank, entropy, diff
        await pilot.press("m", "m", "m")
    await settle(pilot)

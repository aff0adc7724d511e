"""Every screen at 80x24 and 120x40, in the dark theme and under NO_COLOR, from fixed event
streams: what a user sees at the smallest supported terminal and at a common one."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import TabbedContent

import synthetic
from ppltop.ui.app import PplTopApp
from ppltop.ui.widgets.paged_table import PagedTable
from test_snapshots import _figures, _finished, _until, fixed_memory  # noqa: F401 (autouse)

LABELS = ("base", "docs-net", "docs-math")
NO_RUNS = Path("tests/data/no-runs-here")
"""A folder that does not exist: the runs screen's empty state, the same on every machine."""
RUN = NO_RUNS / "demo-run-1202"
"""The run's directory (nothing is written there): its name is in every screen's title."""


async def _settle(pilot) -> None:
    await _figures(pilot)  # comparisons come from the figures worker
    pilot.app.clear_notifications()  # toasts time out: never in a snapshot
    await pilot.pause(0.4)


async def _viewer(pilot, tab: str) -> None:
    await _finished(pilot)
    await pilot.press("v")
    await pilot.pause(0.2)
    pilot.app.screen.query_one(TabbedContent).active = tab
    await _settle(pilot)


async def _document(pilot, diff: bool) -> None:
    await _finished(pilot)
    if diff:
        await pilot.press("2")
    await pilot.press("v")
    await pilot.pause(0.2)
    pilot.app.screen.query_one("#examples", PagedTable).focus()
    await pilot.press("home", "enter")
    await pilot.pause(0.2)
    for _ in range(4):
        await pilot.press("right")
    if diff:  # surprisal, rank, entropy, diff
        await pilot.press("m", "m", "m")
    await _settle(pilot)


async def _keys(pilot, *keys: str) -> None:
    await _finished(pilot)
    await pilot.press(*keys)
    await _settle(pilot)


SCREENS = {
    "dashboard": lambda pilot: _keys(pilot),
    "examples": lambda pilot: _viewer(pilot, "tab-examples"),
    "worst": lambda pilot: _viewer(pilot, "tab-worst"),
    "by-token": lambda pilot: _viewer(pilot, "tab-groups"),
    "histograms": lambda pilot: _viewer(pilot, "tab-hist"),
    "document": lambda pilot: _document(pilot, diff=False),
    "diff": lambda pilot: _document(pilot, diff=True),
    "comparison": lambda pilot: _keys(pilot, "2", "a"),
    "runs": lambda pilot: _keys(pilot, "R"),
    "help": lambda pilot: _keys(pilot, "question_mark"),
}


@pytest.mark.parametrize("no_color", [False, True], ids=["dark", "NO_COLOR"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare, monkeypatch, screen, size, no_color):
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    app = PplTopApp(lambda: synthetic.document_events(labels=LABELS, finish=True),
                    synthetic.INFO, theme="ppltop-dark", runs_folder=NO_RUNS, run_dir=RUN,
                    split="test")
    assert snap_compare(app, terminal_size=size, run_before=SCREENS[screen])


@pytest.mark.parametrize("no_color", [False, True], ids=["dark", "NO_COLOR"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("state", ["running", "error"])
def test_dashboard_state(snap_compare, monkeypatch, state, size, no_color):
    """The dashboard while scoring (the last batch not yet in) and after a failure."""
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    make = ((lambda: synthetic.events(finish=False)) if state == "running" else
            (lambda: synthetic.failing_events(RuntimeError("disk full"), at=20)))
    app = PplTopApp(make, synthetic.INFO, theme="ppltop-dark", run_dir=RUN, split="test")

    async def until_drawn(pilot):
        await _until(pilot, lambda: (pilot.app.live.batches_done == synthetic.N_BATCHES
                                     if state == "running" else pilot.app.live.error))
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=until_drawn)

"""Every screen at 80x24 and 120x40, in the dark theme and under NO_COLOR, from fixed event
streams: what a user sees at the smallest supported terminal and at a common one."""

from __future__ import annotations

from pathlib import Path

import pytest

from ppltop.ui.app import PplTopApp
from support import synthetic
from support.pilot import finished, open_document, open_viewer, settle, wait_for

pytestmark = pytest.mark.usefixtures("fixed_memory")
"""The process's memory is a reading, like a clock: fixed (tests/app/conftest.py)."""

LABELS = ("base", "docs-net", "docs-math")
NO_RUNS = Path("tests/data/no-runs-here")
"""A folder that does not exist: the runs screen's empty state, the same on every machine."""
RUN = NO_RUNS / "demo-run-1202"
"""The run's directory (nothing is written there): its name is in every screen's title."""


async def _keys(pilot, *keys: str) -> None:
    await finished(pilot)
    await pilot.press(*keys)
    await settle(pilot)


SCREENS = {
    "dashboard": lambda pilot: _keys(pilot),
    "examples": lambda pilot: open_viewer(pilot, "tab-examples"),
    "worst": lambda pilot: open_viewer(pilot, "tab-worst"),
    "by-token": lambda pilot: open_viewer(pilot, "tab-groups"),
    "histograms": lambda pilot: open_viewer(pilot, "tab-hist"),
    "document": lambda pilot: open_document(pilot, diff=False),
    "diff": lambda pilot: open_document(pilot, diff=True),
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
        await wait_for(pilot, lambda: (pilot.app.live.batches_done == synthetic.N_BATCHES
                                     if state == "running" else pilot.app.live.error))
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=until_drawn)


@pytest.mark.parametrize("no_color", [False, True], ids=["dark", "NO_COLOR"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("screen", ["dashboard", "comparison"])
def test_models_run(snap_compare, monkeypatch, screen, size, no_color):
    """A run over three models: the config pane lists each model's form and size, the
    comparison adds each model's KL from the reference and the same-top share."""
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    app = PplTopApp(synthetic.model_events, synthetic.MODEL_INFO, theme="ppltop-dark",
                    runs_folder=NO_RUNS, run_dir=RUN, split="test")
    keys = {"dashboard": ("o",) if size == (80, 24) else (),  # 80x24: the config on `o`
            "comparison": ("2", "a")}[screen]
    assert snap_compare(app, terminal_size=size, run_before=lambda pilot: _keys(pilot, *keys))

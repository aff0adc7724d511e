"""The groups view: SVG snapshots at both sizes, and Pilot tests of its keys, on fixed
events (real demo examples and records, made-up numbers) grouped by the records' source."""

from __future__ import annotations

import pytest
import synthetic
from test_app_pilot import wait_for

from ppltop import demo
from ppltop.core.store.breakdown_events import with_breakdowns
from ppltop.core.config import EvalConfig
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.groups_screen import GroupsScreen, GroupTable
from ppltop.ui.screens.viewer_screen import ViewerScreen

LABELS = ("base", "docs-net", "docs-math")
CONFIG = EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR, group_by=("source",))


def groups_app() -> PplTopApp:
    events = with_breakdowns(
        lambda: synthetic.document_events(max_examples=51, labels=LABELS), CONFIG)
    return PplTopApp(events, synthetic.INFO)


def _scored(app):
    return lambda: bool(app.live.index.get("docs-math") and len(app.live.index["docs-math"]))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_groups_view(snap_compare, size):
    app = groups_app()

    async def open_groups(pilot):
        await wait_for(pilot, _scored(app), timeout=20)
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupsScreen), timeout=10)
        await pilot.press("l")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=open_groups)


def test_loss_by_position_greys_out_small_groups(snap_compare):
    app = groups_app()

    async def open_position(pilot):
        await wait_for(pilot, _scored(app), timeout=20)
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupsScreen), timeout=10)
        while app.screen.breakdown.key != "position-log2":
            await pilot.press("b")
        await pilot.press("l", "l")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(120, 40), run_before=open_position)


async def test_keys_pick_the_breakdown_and_the_label_and_enter_filters_the_viewer():
    app = groups_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, _scored(app), timeout=20)
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupsScreen), timeout=10)
        screen = app.screen
        seen = []
        for _ in range(5):
            seen.append(screen.breakdown.key)
            await pilot.press("b")
        assert seen == ["source", "template", "position", "position-log2", "source"]
        assert screen.breakdown.key == "template"  # round the four, and on
        await pilot.press("b", "b", "b")
        assert screen.breakdown.key == "source"
        assert screen.label == "base"
        table = screen.query_one(GroupTable)
        assert table.fetch(0, 1)[0][4] == "ref"
        await pilot.press("l")
        assert screen.label == "docs-net" and "docs-net" in screen.sub_title
        first = table.fetch(0, 1)[0]
        assert first[4].startswith(("+", "-")) and first[5].startswith("[")
        group = screen.breakdown.groups[0]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ViewerScreen), timeout=10)
        viewer = app.screen
        shown = viewer.index.example_order("index", False, viewer._allowed)
        assert sorted(shown.tolist()) == sorted(group.members) and len(shown) == group.examples
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("3")  # 1-9 make a label active here too
        assert screen.label == "docs-math" and "docs-math" in screen.sub_title
        await pilot.press("escape")
        assert not isinstance(app.screen, GroupsScreen)

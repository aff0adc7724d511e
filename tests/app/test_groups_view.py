"""The groups view: SVG snapshots at both sizes, and Pilot tests of its keys, on fixed
events (real demo examples and records, made-up numbers) grouped by the records' source."""

from __future__ import annotations

import pytest

from ppltop.core.store.breakdown_events import with_breakdowns
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.groups_screen import GroupsScreen, GroupTable
from ppltop.ui.screens.viewer_screen import ViewerScreen
from support import synthetic
from support.apps import CONFIG, LABELS, groups_app
from support.pilot import figures_drawn, rename, wait_for


def _scored(app):
    return lambda: bool(app.live.index.get("docs-math") and len(app.live.index["docs-math"]))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_groups_view(snap_compare, size):
    app = groups_app()

    async def open_groups(pilot):
        await wait_for(pilot, _scored(app), timeout=20)
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupsScreen), timeout=10)
        await figures_drawn(pilot)
        await pilot.press("l")
        await figures_drawn(pilot)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=open_groups)


def test_loss_by_position_greys_out_small_groups(snap_compare):
    app = groups_app()

    async def open_position(pilot):
        await wait_for(pilot, _scored(app), timeout=20)
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupsScreen), timeout=10)
        await figures_drawn(pilot)
        while app.screen.breakdown.key != "position-log2":
            await pilot.press("b")
        await pilot.press("l", "l")
        await figures_drawn(pilot)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(120, 40), run_before=open_position)


async def test_keys_pick_the_breakdown_and_the_label_and_enter_filters_the_viewer():
    app = groups_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, _scored(app), timeout=20)
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupsScreen), timeout=10)
        await figures_drawn(pilot)
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


def finished_groups_app() -> PplTopApp:
    events = with_breakdowns(lambda: synthetic.document_events(
        max_examples=51, labels=LABELS, finish=True), CONFIG)
    return PplTopApp(events, synthetic.INFO)


async def test_a_rename_and_a_new_reference_carry_to_groups_and_the_printout(capsys):
    """Issue #21, 3: after `f` the groups view still said "docs-net vs base", and the
    printout's group tables kept the old reference and names."""
    from ppltop.run.dashboard import _report_dashboard
    from ppltop.run.request import RunRequest
    from ppltop.ui.screens.comparison_screen import ComparisonScreen

    app = finished_groups_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.finished is not None, timeout=20)
        await pilot.press("g")  # opened before the change: brought back after it
        await wait_for(pilot, lambda: isinstance(app.screen, GroupsScreen), timeout=10)
        await figures_drawn(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ComparisonScreen), timeout=10)
        await figures_drawn(pilot)
        screen = app.screen
        table_labels = [label for label, _ in screen.rows]
        screen.query_one("#compare-table").move_to(table_labels.index("docs-math"))
        await pilot.press("enter", "f")
        await rename(pilot, "maths")
        assert app.reference_label == "docs-math" and app.name_of("docs-math") == "maths"
        await pilot.press("escape", "1", "g")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupsScreen), timeout=10)
        await figures_drawn(pilot)
        groups = app.screen
        note = str(groups.query_one("#groups-note").render())
        assert "base vs maths, paired" in note, note
        assert groups.breakdowns.reference == "docs-math"
        delta = groups.query_one(GroupTable).fetch(0, 1)[0][4]
        assert delta.startswith(("+", "-")), "base's rows are against maths, not the ref"
        await pilot.press("l", "l")
        assert "maths is the reference" in str(groups.query_one("#groups-note").render())
    capsys.readouterr()
    _report_dashboard(app, RunRequest(), None)
    out = capsys.readouterr().out
    group_heads = [line for line in out.splitlines() if line.startswith("== loss by ")]
    assert group_heads and all("reference: maths;" in line for line in group_heads
                               if "reference:" in line), group_heads
    assert "base Δloss [95% CI]" in out and "maths loss" in out

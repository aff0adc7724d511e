"""A watch started with `--reference`: the label is kept in the watch's record (watch.json),
and every later view of the watch compares with it: the watch's own figures, `ppltop open
--headless`, and the dashboard's comparison and groups views on the reopened watch
(issue #22, 1). Two real checkpoints of the demo model, a real `ppltop --watch` process."""

from __future__ import annotations

import json
import re

import pytest

from ppltop import demo
from ppltop.core.store.breakdown_events import with_breakdowns
from ppltop.core.store.records import WatchRecord
from ppltop.run.watch_replay import opened_watch, read_watch, watch_events
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.comparison_screen import ComparisonScreen
from ppltop.ui.screens.groups_screen import GroupsScreen
from ppltop.ui.widgets.paged_table import PagedTable
from support import synthetic
from support.cli import run_ppltop
from support.pilot import figures_drawn, wait_for
from support.watch import checkpoint_folder, run_watch

REFERENCE = "run1@100"  # scored last: the watch takes the newest checkpoint first


def compared_with(stdout: str) -> list[str]:
    """The reference of every table of the printout that names one."""
    return re.findall(r"^== .*\(reference: ([^;)]+)", stdout, re.M)


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    root = tmp_path_factory.mktemp("watch-reference")
    run_dir = root / "w"
    status, stdout, err = run_watch(checkpoint_folder(root), run_dir, "--reference", REFERENCE)
    assert status == 0, err
    return run_dir, stdout


def test_the_record_keeps_the_reference(watched):
    run_dir, _ = watched
    record = read_watch(run_dir)
    assert record.reference == REFERENCE and record.folders[0].endswith("run1")
    assert WatchRecord.from_dict(record.to_dict(), "here") == record
    raw = json.loads((run_dir / "watch.json").read_text())
    del raw["reference"]  # a watch written before the reference was kept
    assert WatchRecord.from_dict(raw, "here").reference is None


def test_open_headless_compares_with_the_watch_reference(watched):
    run_dir, stdout = watched
    opened = run_ppltop("open", str(run_dir), "--headless")
    assert opened.returncode == 0, opened.stderr
    for printed in (stdout, opened.stdout):  # the watch's own printout, then read back
        tables = compared_with(printed)
        assert len(tables) >= 2 and set(tables) == {REFERENCE}  # comparison and breakdowns
    own = stdout[stdout.index("== comparison"):stdout.index("== checkpoints")]
    assert own in opened.stdout  # the same rows, to the digit
    assert re.search(rf"^{re.escape(REFERENCE)} .* reference\s*$", opened.stdout, re.M)


async def test_the_dashboard_on_the_reopened_watch_compares_with_it(watched):
    run_dir, _ = watched
    config, _ = opened_watch(run_dir)
    app = PplTopApp(with_breakdowns(lambda: watch_events(run_dir), config), synthetic.INFO)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.finished is not None, timeout=60)
        assert app.reference_label == REFERENCE
        while len(app.screen_stack) > 1:  # the curve comes first
            await pilot.press("escape")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ComparisonScreen), timeout=10)
        await figures_drawn(pilot)
        screen = app.screen
        assert screen.reference == REFERENCE
        table = screen.query_one("#compare-table", PagedTable)
        rows = {row[1]: row for row in table.fetch(0, len(screen.rows))}
        assert "ref" in rows[REFERENCE] and "ref" not in rows["base"]
        await pilot.press("escape", "g")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupsScreen), timeout=10)
        await figures_drawn(pilot)
        assert app.screen.breakdowns.reference == REFERENCE


def test_the_live_watch_follows_its_reference_once_it_is_scored(handle, tmp_path):
    """Under the dashboard the watch's plan names the reference from the start; the run
    compares with the base model until that checkpoint is scored, then with it, and the
    merged figures and their breakdowns are against it."""
    from dataclasses import replace

    from ppltop.core.config import EvalConfig
    from ppltop.core.store.events import LabelAdded, LabelFinished, RunFinished, RunStarted
    from ppltop.run.request import RunRequest
    from ppltop.run.watch_session import WatchSession
    from ppltop.view.live import LiveRun

    config = EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR, test_batches=1,
                        adapters=[checkpoint_folder(tmp_path)])
    config = replace(config, reference=REFERENCE)
    session = WatchSession(config, RunRequest(headless=False), None, tmp_path / "w", handle)
    live, references, finished = LiveRun(), {}, set()
    session.prepare()
    stream = with_breakdowns(session.events, config)
    for event in stream():  # as the dashboard has it
        live.apply(event)
        if isinstance(event, (RunStarted, LabelAdded)):  # the run's reference, once folded
            label = getattr(event, "label", "base")
            references[label] = (live.reference, REFERENCE in finished)
        if isinstance(event, LabelFinished):
            finished.add(event.summary.label)
            if {"run1@200", REFERENCE} <= finished:
                session.stop()  # every checkpoint is scored: the watch ends
    # the checkpoints are taken as their files settle, so either may come first: a label
    # added before the reference is scored compares with base, the reference with itself
    assert set(references) == {"base", "run1@200", REFERENCE}
    for label, (reference, reference_scored) in references.items():
        want = REFERENCE if label == REFERENCE or reference_scored else "base"
        assert reference == want, (label, references)
    assert live.plan.reference == REFERENCE and live.reference == REFERENCE
    assert isinstance(event, RunFinished) and not event.cancelled
    assert {c.reference for c in event.comparisons} == {REFERENCE}
    assert event.breakdowns.reference == REFERENCE  # the groups view's figures
    assert live.breakdowns().reference == REFERENCE


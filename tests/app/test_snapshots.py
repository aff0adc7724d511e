"""SVG snapshots of what tests/app/test_snapshot_matrix.py does not draw: the light theme,
the document view's rank mode, a terminal too small, the viewer's help, Chinese text. Fixed
events, no clock. (The dark dashboard, the surprisal document view and the comparison view
at 120x40 are the matrix's.)"""

from __future__ import annotations

import pytest

from ppltop.ui.app import PplTopApp
from support import synthetic
from support.pilot import finished, has_results, wait_for

pytestmark = pytest.mark.usefixtures("fixed_memory")
"""The process's memory is a reading, like a clock: fixed (tests/app/conftest.py)."""


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("theme", ["ppltop-light"])
def test_main_screen(snap_compare, size, theme):
    app = PplTopApp(synthetic.events, synthetic.INFO, theme=theme)
    assert snap_compare(app, terminal_size=size, run_before=finished)


@pytest.mark.parametrize("mode", ["rank"])
def test_document_view(snap_compare, mode):
    app = PplTopApp(synthetic.document_events, synthetic.INFO)

    async def open_document(pilot):
        await wait_for(pilot, has_results(app, "base"))
        await pilot.press("v")
        await pilot.pause(0.2)
        await pilot.press("home", "enter")
        await pilot.pause(0.2)
        for _ in range(6):
            await pilot.press("right")
        if mode == "rank":
            await pilot.press("m")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(120, 40), run_before=open_document)


def test_terminal_too_small(snap_compare):
    """Below 80x24 the dashboard gives way to a message with both sizes."""
    app = PplTopApp(synthetic.events, synthetic.INFO)
    assert snap_compare(app, terminal_size=(60, 20), run_before=finished)


def test_help_screen(snap_compare):
    """The keys of the viewer, then the global ones, at the smallest supported size."""
    app = PplTopApp(synthetic.document_events, synthetic.INFO)

    async def open_help(pilot):
        await wait_for(pilot, has_results(app, "base"))
        await pilot.press("v", "question_mark")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=open_help)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_document_view_chinese(snap_compare, tmp_path, size):
    """CJK characters split over byte-level tokens: whole characters, aligned and wrapped;
    the cursor on the second of the three tokens of 字."""
    app = PplTopApp(lambda: synthetic.cjk_events(tmp_path), synthetic.INFO)

    async def open_document(pilot):
        from ppltop.ui.screens.document_screen import DocumentScreen
        from ppltop.ui.widgets.document_view import DocumentView

        await wait_for(pilot, has_results(app, "base"))
        app.push_screen(DocumentScreen(app.live, "base", 0))
        await pilot.pause(0.3)
        view = app.screen.query_one(DocumentView)
        view.move_to(int(view.document.groups.bounds[view.document.groups.text.index("字")]) + 1)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=open_document)

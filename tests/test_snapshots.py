"""SVG snapshots of the main screen: fixed events, no clock, two sizes, two themes."""

from __future__ import annotations

import pytest

import synthetic
from ppltop.ui.app import PplTopApp
from ppltop.view import process_memory

FIXED_MEMORY = process_memory.MemoryUse(3 << 30, 1536 << 20)


@pytest.fixture(autouse=True)
def fixed_memory(monkeypatch):
    """The process's memory is a reading, like a clock: fixed so that snapshots match."""
    monkeypatch.setattr(process_memory, "sample", lambda: FIXED_MEMORY)


async def _until(pilot, condition):
    """Wait for `condition()` (8 s at most), then for the screen to settle."""
    for _ in range(400):
        if condition():
            break
        await pilot.pause(0.02)
    await pilot.pause(0.3)


def figures_drawn(app):
    """True once the screen on top has drawn the figures it asked the worker for."""
    return not getattr(app.screen, "figures_pending", False)


async def _figures(pilot):
    """Wait until the figures of the screen on top (computed off the UI thread) are drawn."""
    await _until(pilot, lambda: figures_drawn(pilot.app))


async def _finished(pilot):
    await _until(pilot, lambda: pilot.app.live.finished is not None)


def _scored(app, label: str):
    """True once `label` has results."""
    return lambda: bool(app.live.index.get(label) and len(app.live.index[label]))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("theme", ["ppltop-dark", "ppltop-light"])
def test_main_screen(snap_compare, size, theme):
    app = PplTopApp(synthetic.events, synthetic.INFO, theme=theme)
    assert snap_compare(app, terminal_size=size, run_before=_finished)


@pytest.mark.parametrize("mode", ["surprisal", "rank"])
def test_document_view(snap_compare, mode):
    app = PplTopApp(synthetic.document_events, synthetic.INFO)

    async def open_document(pilot):
        await _until(pilot, _scored(app, "base"))
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


def test_comparison_view(snap_compare):
    app = PplTopApp(lambda: synthetic.document_events(labels=("base", "docs-net", "docs-math")),
                    synthetic.INFO)

    async def open_comparison(pilot):
        await _until(pilot, _scored(app, "docs-math"))
        await pilot.press("2")
        await pilot.press("a")
        pilot.app.clear_notifications()  # the "active:" toast would time out mid-snapshot
        await _figures(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=open_comparison)


def test_terminal_too_small(snap_compare):
    """Below 80x24 the dashboard gives way to a message with both sizes."""
    app = PplTopApp(synthetic.events, synthetic.INFO)
    assert snap_compare(app, terminal_size=(60, 20), run_before=_finished)


def test_help_screen(snap_compare):
    """The keys of the viewer, then the global ones, at the smallest supported size."""
    app = PplTopApp(synthetic.document_events, synthetic.INFO)

    async def open_help(pilot):
        await _until(pilot, _scored(app, "base"))
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

        await _until(pilot, _scored(app, "base"))
        app.push_screen(DocumentScreen(app.live, "base", 0))
        await pilot.pause(0.3)
        view = app.screen.query_one(DocumentView)
        view.move_to(int(view.document.groups.bounds[view.document.groups.text.index("字")]) + 1)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=open_document)

"""Chinese text in the viewer, driven by Pilot: whole characters, wrapped lines, template
tokens. The records go through the hand-built byte-level tokenizer of `tiny_bpe`, which
splits CJK characters over two and three tokens, with fixed made-up numbers."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from textual.widgets import Static

from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.document_screen import DocumentScreen
from ppltop.ui.screens.viewer_screen import ViewerScreen
from ppltop.ui.widgets.document_view import DocumentView
from ppltop.ui.widgets.paged_table import PagedTable
from support import synthetic


async def _scored(pilot):
    app = pilot.app
    for _ in range(400):
        if app.live.index.get("base") and len(app.live.index["base"]):
            break
        await pilot.pause(0.02)
    await pilot.pause(0.2)


async def rendered_lines(pilot, view: DocumentView) -> list[str]:
    """Every line of the document as the view renders it, scrolling page by page."""
    lines = []
    height = view.scrollable_content_region.height
    total = view.virtual_size.height
    for top in range(0, total, height):
        view.scroll_to(y=top, animate=False)
        await pilot.pause(0.05)
        for y in range(min(height, total - top)):
            strip = view.render_line(y)
            assert strip.cell_length == view.scrollable_content_region.width
            lines.append(strip.text)
    view.scroll_to(y=0, animate=False)
    return lines


def note_text(screen) -> str:
    return str(screen.query_one(".template-note", Static).render())


def without_whitespace(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_chinese_record_whole_characters_and_wrapped_lines(tmp_path, size):
    app = PplTopApp(lambda: synthetic.cjk_events(tmp_path), synthetic.INFO)
    async with app.run_test(size=size) as pilot:
        await _scored(pilot)
        app.push_screen(DocumentScreen(app.live, "base", 0))
        await pilot.pause(0.3)
        view = app.screen.query_one(DocumentView)
        width = view.scrollable_content_region.width
        lines = await rendered_lines(pilot, view)
        record = synthetic.CJK_RECORDS[0]["text"]
        shown = "".join(lines)
        assert "\ufffd" not in shown and "∅" not in shown
        # every character of the record, in order: dots are quiet spaces, ↵ ends a line
        flat = shown.replace("·", " ").replace("↵", "\n")
        assert without_whitespace(flat) == without_whitespace(record + "<|im_end|>")
        # the long line is wrapped, not cut: it spans several lines, none wider than the pane
        long_line = synthetic.CJK_LONG_LINE
        assert cell_len(long_line) > width
        holding = [line for line in lines if any(ch in line for ch in long_line[:40])]
        assert len(holding) >= 2
        assert all(cell_len(line) <= width for line in lines)
        assert long_line[-3:] in without_whitespace("".join(lines))


async def test_cursor_steps_through_the_tokens_of_one_character(tmp_path):
    app = PplTopApp(lambda: synthetic.cjk_events(tmp_path), synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        await _scored(pilot)
        app.push_screen(DocumentScreen(app.live, "base", 0))
        await pilot.pause(0.3)
        view = app.screen.query_one(DocumentView)
        groups = view.document.groups
        zi = groups.text.index("字")  # three tokens: e5 | ad | 97
        first = int(groups.bounds[zi])
        view.move_to(first)
        await pilot.pause(0.1)
        for part in (1, 2, 3):
            detail = str(app.screen.query_one("#doc-detail", Static).render())
            assert f"text      '字'  token {part} of 3" in detail
            assert f"bytes     {groups.raw[first + part - 1].hex(' ')}" in detail
            assert "character" in detail and "over 3 tokens" in detail
            cursor = app.screen.query_one(DocumentView).get_component_rich_style(
                "document--cursor")
            strip = view.render_line(view._line_of(first) - int(view.scroll_offset.y))
            highlighted = [s.text for s in strip if s.style and s.style.reverse]
            assert highlighted == ["字"] and cursor.reverse
            await pilot.press("right")


async def test_template_tokens_left_out_of_worst_list_and_toggled(tmp_path):
    app = PplTopApp(lambda: synthetic.cjk_events(tmp_path, chat=True, mask_prompt=True),
                    synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        await _scored(pilot)
        await pilot.press("v")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, ViewerScreen) and "left out" in note_text(screen)
        worst = screen.query_one("#worst", PagedTable)
        rows = worst.fetch(0, 10)
        assert rows and not any("template" in r[1] or "<|im_" in r[1] for r in rows)
        assert any(" 1/3" in r[1] or " 2/3" in r[1] or " 3/3" in r[1] for r in rows)
        # the table pads by cells: CJK rows are as wide as ASCII ones
        assert all(cell_len(worst._format(r)) == cell_len(worst._format(rows[0]))
                   for r in rows)
        await pilot.press("T")
        await pilot.pause(0.2)
        rows = worst.fetch(0, 3)
        assert "template" in rows[0][1] and float(rows[0][0]) == pytest.approx(20.0)
        assert "included" in note_text(screen)
        await pilot.press("T")
        await pilot.pause(0.2)
        assert app.live.hide_template

"""The surprisal viewer driven by Pilot on the demo: lists, document view, detail panel."""

from __future__ import annotations

import math

import numpy as np
from textual.widgets import Static

from ppltop.ui.screens.document_screen import DocumentScreen
from ppltop.ui.screens.viewer_screen import ViewerScreen
from ppltop.ui.widgets.document_view import DocumentView
from ppltop.ui.widgets.paged_table import PagedTable
from ppltop.ui.widgets.token_detail import describe_token, prob
from support.apps import demo_app
from support.pilot import wait_for


def detail_text(app) -> str:
    return str(app.screen.query_one("#doc-detail", Static).render())


async def finished_app(pilot, app):
    await wait_for(pilot, lambda: app.live.finished is not None)
    await pilot.pause(0.3)


async def test_worst_token_of_the_run_in_two_keys(handle):
    app, _ = demo_app(handle)
    async with app.run_test(size=(120, 40)) as pilot:
        await finished_app(pilot, app)
        index = app.live.index["base"]
        worst = index.worst_tokens(1)[0]
        await pilot.press("w")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, DocumentScreen) and screen.example == worst.example
        view = screen.query_one(DocumentView)
        assert view.cursor == worst.position
        result = index.results[worst.example]
        row = worst.position - int(result.positions[0])
        text = detail_text(app)
        assert f"surprisal {-result.logprob[row] / math.log(2):.3f} bits" in text
        assert f"rank      {int(result.rank[row])}" in text
        assert f"entropy   {float(result.entropy[row]) / math.log(2):.3f} bits" in text
        top_p = math.exp(float(result.top_logprobs[row][0]))
        assert f"{top_p:7.4f}" in text and "the model preferred:" in text
        # the same words, wrapped to the panel's width
        assert text.split() == describe_token(view.document, worst.position,
                                              app.live.source.token_texts).split()


async def test_examples_list_sorts_and_opens_a_document(handle):
    app, _ = demo_app(handle)
    async with app.run_test(size=(120, 40)) as pilot:
        await finished_app(pilot, app)
        await pilot.press("v")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ViewerScreen)
        index = app.live.index["base"]
        table = app.screen.query_one("#examples", PagedTable)
        assert table.row_count == len(index.results)
        by_mean = sorted(index.results.values(), key=lambda r: -r.mean_loss)
        first = table.fetch(0, 3)
        assert [int(row[0]) for row in first] == [r.example for r in by_mean[:3]]
        await pilot.press("s")  # next sort column after mean_loss: total_loss
        await pilot.pause(0.1)
        assert table.sort_key == "total_loss"
        by_total = sorted(index.results.values(), key=lambda r: -r.loss_sum)
        assert int(table.fetch(0, 1)[0][0]) == by_total[0].example
        await pilot.press("r")
        await pilot.pause(0.1)
        assert int(table.fetch(0, 1)[0][0]) == by_total[-1].example
        await pilot.press("down", "enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, DocumentScreen)
        assert app.screen.example == by_total[-2].example


async def test_cursor_detail_threshold_jump_and_modes(handle):
    app, _ = demo_app(handle)
    async with app.run_test(size=(120, 40)) as pilot:
        await finished_app(pilot, app)
        await pilot.press("v")
        await pilot.pause(0.1)
        await pilot.press("enter")
        await pilot.pause(0.2)
        screen = app.screen
        view = screen.query_one(DocumentView)
        doc = view.document
        start = view.cursor
        await pilot.press("right", "l")
        assert view.cursor == start + 2
        await pilot.press("left")
        assert view.cursor == start + 1
        position = view.cursor
        row = int(doc.row[position])
        r = doc.result
        text = detail_text(app)
        assert f"prob      {prob(float(r.logprob[row]))}" in text
        assert f"position  {position} of {len(doc)}" in text
        # n jumps to the next token above the threshold, as the core computes it
        index = app.live.index["base"]
        screen.threshold_bits = 6.0
        want = index.next_above(screen.example, position, 6.0)
        await pilot.press("n")
        if want is None:
            assert view.cursor == position
        else:
            assert view.cursor == want and doc.bits[want] > 6.0
            between = doc.bits[position + 1:want]
            assert not np.any(between[np.isfinite(between)] > 6.0)
        await pilot.press("minus")
        assert screen.threshold_bits == 5.0
        assert view.mode == "surprisal"
        await pilot.press("m")
        assert view.mode == "rank"
        await pilot.press("m")
        assert view.mode == "entropy"
        await pilot.press("escape")
        assert isinstance(app.screen, ViewerScreen)


async def test_worst_tokens_and_by_token_lists(handle):
    app, _ = demo_app(handle)
    async with app.run_test(size=(120, 40)) as pilot:
        await finished_app(pilot, app)
        await pilot.press("v")
        await pilot.pause(0.1)
        screen = app.screen
        index = app.live.index["base"]
        worst = screen.query_one("#worst", PagedTable)
        rows = worst.fetch(0, 5)
        hits = index.worst_tokens(5)
        assert [float(r[0]) for r in rows] == [round(h.bits, 2) for h in hits]
        groups = screen.query_one("#groups", PagedTable)
        totals = [float(r[3]) for r in groups.fetch(0, 10)]
        assert totals == sorted(totals, reverse=True)
        screen.query_one("#viewer-tabs").active = "tab-worst"
        worst.focus()
        await pilot.pause(0.1)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, DocumentScreen)
        assert app.screen.query_one(DocumentView).cursor == hits[0].position

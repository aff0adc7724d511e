"""At 80x24 every figure is on screen whole: lines flow, secondary columns give way, values
wrap between words, the log wraps to its pane."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from ppltop.ui.app import PplTopApp
from ppltop.ui.text_flow import flow, wrap_value
from ppltop.ui.widgets.config_pane import ConfigPane
from ppltop.ui.widgets.event_log import EventLog
from ppltop.ui.widgets.paged_table import PagedTable
from ppltop.ui.widgets.ppl_panel import PplPanel
from support import synthetic
from support.pilot import figures_drawn, finished, scored
from support.screen_text import screen_text


def test_flow_breaks_only_between_segments():
    assert flow(["tokens 2,400/2,400", "1,200 tok/s", "elapsed 6.0s", "ETA 0s"], 35) == [
        "tokens 2,400/2,400   1,200 tok/s", "elapsed 6.0s   ETA 0s"]
    assert flow(["a" * 10], 4) == ["a" * 10]  # never cut: a line of its own


def test_values_wrap_after_slashes_and_between_words():
    assert wrap_value("/demo/docs-net, /demo/docs-math", 16) == ["/demo/docs-net,",
                                                                 "/demo/docs-math"]
    assert wrap_value("cpu · BLAS mkl 100 GFLOP/s", 15) == ["cpu · BLAS mkl", "100 GFLOP/s"]
    # a piece longer than a whole line is the one thing cut inside
    assert wrap_value("/a/very-long-folder-name/x", 10) == ["/a/", "very-long-", "folder-nam",
                                                            "e/x"]


async def test_dashboard_at_80x24_shows_loss_eta_and_whole_log_lines():
    info = dict(synthetic.INFO, data="/home/user/datasets/customer-support-chats/test.jsonl")
    app = PplTopApp(synthetic.events, info)
    async with app.run_test(size=(80, 24)) as pilot:
        await finished(pilot)
        text = screen_text(app)
        for shown in ("loss 3.0146 nats", "bits/token", "1,200 tok/s", "elapsed 00:06",
                      "ETA –", "others: docs-net 17.541", "docs-math 15.098"):
            assert shown in text, shown
        # the figures and the chart take the screen; the config and the log are a key away
        assert not app.query_one(ConfigPane).is_on_screen
        await pilot.press("o")
        await pilot.pause(0.3)
        assert not app.query_one(PplPanel).is_on_screen
        # the log: no line cut behind a horizontal scrollbar, every word of it on screen
        log = app.query_one(EventLog)
        assert log.virtual_size.width <= log.scrollable_content_region.width
        assert "longer than --max-seq-length 256: truncated" in " ".join(log.text.split())
        # the config: a path broken after a slash, never inside a folder's name
        config = app.query_one(ConfigPane)
        width = config.content_size.width
        pieces = [value for _, value in config.lines(width)]
        assert all(cell_len(key + value) <= width for key, value in config.lines(width))
        assert "customer-support-chats/" in "".join(pieces)
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.3)
        width = config.content_size.width
        pieces = [value for _, value in config.lines(width)]
        assert any(p.startswith("test.jsonl") or p.endswith("customer-support-chats/")
                   for p in pieces)
        # room to spare: the figures of a line on one line again
        assert "tokens 2,400/2,400   1,200 tok/s   elapsed 00:06   ETA –" in screen_text(app)
        assert app.query_one(ConfigPane).is_on_screen and app.query_one(PplPanel).is_on_screen


async def test_comparison_at_80x24_keeps_significance_and_hides_secondary_columns():
    app = PplTopApp(lambda: synthetic.document_events(labels=("base", "docs-net")),
                    synthetic.INFO)
    async with app.run_test(size=(80, 24)) as pilot:
        await scored(pilot)
        await pilot.press("a")
        await figures_drawn(pilot)
        header = screen_text(app).splitlines()[2]  # under the title line and a border
        for title in ("label", "loss", "Δloss", "95% CI Δloss", "wins", "sig."):
            assert title in header, title
        assert "tok/s" not in header and "bits/B" not in header
        table = app.screen.query_one("#compare-table", PagedTable)
        assert table.virtual_size.width <= table.size.width + 1
        await pilot.resize_terminal(160, 40)
        await pilot.pause(0.4)
        assert "tok/s" in screen_text(app).splitlines()[2]


def cut_texts(app) -> list[str]:
    """What a pane of the screen on top cannot show whole: a border title or legend wider
    than its border (Textual ends it with `…`), or a text taller than its pane."""
    from rich.text import Text
    from textual.widgets import Static

    cut = []
    for widget in app.screen.query("*"):
        if not widget.display or widget.region.width == 0 or not widget.is_on_screen:
            continue
        room = widget.outer_size.width - 4  # the corners and a cell either side
        for title in (widget.border_title, widget.border_subtitle):
            if title and Text.from_markup(str(title)).cell_len > room:
                cut.append(f"{widget!r}: {title}")
        if isinstance(widget, Static) and widget.styles.overflow_y != "auto":
            width = widget.content_size.width
            need = widget.get_content_height(widget.content_size, widget.content_size, width)
            if need > widget.content_size.height:
                cut.append(f"{widget!r}: {need} lines in {widget.content_size.height}")
    return cut


OPENED_AT_80x24 = {
    "dashboard": (), "config": ("o",), "viewer": ("v",), "comparison": ("2", "a"),
    "document": ("v", "enter", "right"), "diff": ("2", "v", "enter", "m", "m", "m"),
    "groups": ("g",), "help": ("question_mark",)}


@pytest.mark.parametrize("name", list(OPENED_AT_80x24))
async def test_no_pane_is_cut_at_80x24(name):
    """Every pane of the dashboard and of each screen shows its text, title and legend
    whole at 80x24 (nothing ends in `…` or below the pane's edge)."""
    from support.apps import groups_app

    app = groups_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await scored(pilot, "docs-math")  # the stream has no end event: every label scored
        for key in OPENED_AT_80x24[name]:
            await pilot.press(key)
            await pilot.pause(0.2)
        await figures_drawn(pilot)
        assert not cut_texts(app), cut_texts(app)


@pytest.mark.parametrize("which", ["checkpoint_events", "split_checkpoint_events"])
async def test_the_checkpoint_curve_is_not_cut_at_80x24(which):
    from support.pilot import finished_and_curve

    app = PplTopApp(getattr(synthetic, which), synthetic.INFO)
    async with app.run_test(size=(80, 24)) as pilot:
        await finished_and_curve(pilot)
        assert type(app.screen).__name__ == "CheckpointScreen"
        assert not cut_texts(app), cut_texts(app)


async def test_the_compact_layout_s_own_key_is_in_the_footer_while_scoring():
    """At 80x24 the footer cannot hold every dashboard key while pause and cancel are
    offered; `o` (the config and the log) comes first, so it is never the one left out."""
    import threading

    more = threading.Event()

    def scoring():  # the run goes on (the worker waits) until the test ends
        yield from synthetic.events(finish=False)
        more.wait(60)

    app = PplTopApp(scoring, synthetic.INFO)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await scored(pilot)
            await pilot.pause(0.3)
            footer = screen_text(app).splitlines()[-1]
            assert footer.startswith("o Config") and "p Pause" in footer, footer
    finally:
        more.set()

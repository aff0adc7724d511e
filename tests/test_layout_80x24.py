"""At 80x24 every figure is on screen whole: lines flow, secondary columns give way, values
wrap between words, the log wraps to its pane."""

from __future__ import annotations

import synthetic
from rich.cells import cell_len
from screen_text import screen_text
from test_keys_pilot import scored
from test_snapshots import _finished

from ppltop.ui.app import PplTopApp
from ppltop.ui.text_flow import flow, wrap_value
from ppltop.ui.widgets.config_pane import ConfigPane
from ppltop.ui.widgets.event_log import EventLog
from ppltop.ui.widgets.paged_table import PagedTable


def test_flow_breaks_only_between_segments():
    assert flow(["tokens 2,400/2,400", "1200 tok/s", "elapsed 6.0s", "ETA 0s"], 34) == [
        "tokens 2,400/2,400   1200 tok/s", "elapsed 6.0s   ETA 0s"]
    assert flow(["a" * 10], 4) == ["a" * 10]  # never cut: a line of its own


def test_values_wrap_after_slashes_and_between_words():
    assert wrap_value("/demo/docs-net, /demo/docs-math", 16) == ["/demo/docs-net,", "/demo/docs-math"]
    assert wrap_value("cpu · BLAS mkl 100 GFLOP/s", 15) == ["cpu · BLAS mkl", "100 GFLOP/s"]
    # a piece longer than a whole line is the one thing cut inside
    assert wrap_value("/a/very-long-folder-name/x", 10) == ["/a/", "very-long-", "folder-nam",
                                                            "e/x"]


async def test_dashboard_at_80x24_shows_loss_eta_and_whole_log_lines():
    info = dict(synthetic.INFO, data="/home/user/datasets/customer-support-chats/test.jsonl")
    app = PplTopApp(synthetic.events, info)
    async with app.run_test(size=(80, 24)) as pilot:
        await _finished(pilot)
        text = screen_text(app)
        for shown in ("loss 3.0146 nats", "bits/token", "tok/s", "elapsed 00:06", "ETA 00:00",
                      "others: docs-net 17.541", "docs-math 15.098"):
            assert shown in text, shown
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
        assert any(p.startswith("test.jsonl") or p.endswith("customer-support-chats/")
                   for p in pieces)
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.3)
        # room to spare: the figures of a line on one line again
        assert "tokens 2,400/2,400   1200 tok/s   elapsed 00:06   ETA 00:00" in screen_text(app)


async def test_comparison_at_80x24_keeps_significance_and_hides_secondary_columns():
    app = PplTopApp(lambda: synthetic.document_events(labels=("base", "docs-net")),
                    synthetic.INFO)
    async with app.run_test(size=(80, 24)) as pilot:
        await scored(pilot)
        await pilot.press("a")
        await pilot.pause(0.4)
        header = screen_text(app).splitlines()[2]  # under the title line and a border
        for title in ("label", "loss", "Δloss", "95% CI Δloss", "wins", "sig."):
            assert title in header, title
        assert "tok/s" not in header and "bits/B" not in header
        table = app.screen.query_one("#compare-table", PagedTable)
        assert table.virtual_size.width <= table.size.width + 1
        await pilot.resize_terminal(160, 40)
        await pilot.pause(0.4)
        assert "tok/s" in screen_text(app).splitlines()[2]

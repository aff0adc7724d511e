"""mlx-lm's own `Test loss …, Test ppl ….` line, the one users try to match, in the PPL pane
and the comparison, as `MlxLmFigure.line` writes it; the process's memory beside tok/s."""

from __future__ import annotations

from ppltop.ui.app import PplTopApp
from ppltop.view import process_memory
from ppltop.view.process_memory import MemoryUse
from support import synthetic
from support.pilot import finished
from support.screen_text import screen_text


def test_memory_segments_name_what_they_measure():
    assert MemoryUse(3 << 30, 1536 << 20).segments() == ["MLX peak 3.0 GiB",
                                                          "process 1.5 GiB"]
    assert MemoryUse(None, None).segments() == []
    assert process_memory.sample().process_bytes > 1 << 20  # this very process: real


async def test_ppl_pane_shows_mlx_lm_line_and_memory(monkeypatch):
    monkeypatch.setattr(process_memory, "sample", lambda: MemoryUse(3 << 30, 1536 << 20))
    app = PplTopApp(lambda: synthetic.events(finish=False), synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):
            if app.live.batches_done == synthetic.N_BATCHES:
                break
            await pilot.pause(0.02)
        await pilot.pause(0.3)
        assert "mlx-lm: its Test loss/ppl line at the end" in screen_text(app)
    app = PplTopApp(synthetic.events, synthetic.INFO)
    async with app.run_test(size=(80, 24)) as pilot:
        await finished(pilot)
        text = screen_text(app)
        line = app.live.finished.summaries[0].mlx_lm.line  # the core's words, not re-formatted
        assert line == "Test loss 3.025, Test ppl 20.585."
        assert f"mlx-lm: {line}" in text
        assert "MLX peak 3.0 GiB" in text and "process 1.5 GiB" in text
        await pilot.press("2")
        await pilot.pause(0.2)
        assert f"mlx-lm: {app.live.finished.summaries[1].mlx_lm.line}" in screen_text(app)


async def test_comparison_lists_every_labels_mlx_lm_line():
    labels = ("base", "docs-net")
    app = PplTopApp(lambda: synthetic.document_events(labels=labels, finish=True),
                    synthetic.INFO)
    async with app.run_test(size=(80, 24)) as pilot:
        await finished(pilot)
        await pilot.press("a")
        await pilot.pause(0.4)
        text = screen_text(app)
        for summary in app.live.finished.summaries:
            assert f"mlx-lm · {summary.label}: {summary.mlx_lm.line}" in text

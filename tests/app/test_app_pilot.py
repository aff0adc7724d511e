"""The dashboard driven by Pilot: real scoring on the demo, keys, errors, bounded redraws."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from textual.widgets import Static

from ppltop.core.store.events import BatchScored
from ppltop.themes import builtin_dir, load_themes
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.error_screen import ErrorScreen
from support import synthetic
from support.apps import demo_app
from support.pilot import wait_for


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def test_displayed_figures_equal_the_engines(handle):
    _, evaluation = demo_app(handle)
    scored = {}  # the base model's per-token results, as the engine emitted them

    def teed():
        for event in evaluation.events():
            if isinstance(event, BatchScored) and event.label == "base":
                scored.update((r.example, r) for r in event.results)
            yield event

    app = PplTopApp(teed, synthetic.INFO, request_stop=evaluation.cancel)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.finished is not None)
        await pilot.pause(0.4)
        # the loss over every scored token, from the log-probs themselves
        loss = sum(-r.logprob.astype(np.float64).sum() for r in scored.values()) \
            / sum(r.n_tokens for r in scored.values())
        assert app.displayed_ppl() == f"{math.exp(loss):.3f}"
        detail = text_of(app, "#ppl-detail")
        assert f"PPL {math.exp(loss):.3f}" in detail and f"loss {loss:.4f}" in detail
        summary = app.live.finished.summaries[0]
        assert summary.label == "base" and summary.complete
        lo, hi = summary.ppl_ci95
        assert f"[{lo:.3f}, {hi:.3f}]" in detail and lo < math.exp(loss) < hi
        assert text_of(app, "#ppl-state") == "finished"
        others = text_of(app, "#ppl-others")
        for s in app.live.finished.summaries[1:]:
            assert s.label in others
        # every batch reached the UI
        assert app.live.batches_done == app.live.plan.n_batches
        await pilot.press("q")
    assert app.return_value == 0


async def test_pause_resume_and_cancel(handle):
    _, evaluation = demo_app(handle, batch_size=1)
    scored, hold_after, gate = [0], [math.inf], threading.Event()

    def gated():  # once resumed, the stream waits after one more batch until c is pressed:
        for event in evaluation.events():  # the demo's batches take milliseconds, and the run
            yield event  # must not end before the cancel reaches it
            scored[0] += isinstance(event, BatchScored)
            if scored[0] >= hold_after[0]:
                gate.wait(120)

    app = PplTopApp(gated, synthetic.INFO, request_stop=evaluation.cancel)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.batches_done >= 1)
        await pilot.press("p")
        assert app.worker_thread.paused
        # the batch in flight ends first (seconds on a loaded machine): wait until it has
        await wait_for(pilot, lambda: app.worker_thread.holding)
        frozen = app.buffer.total
        await pilot.pause(1.0)  # a window in which nothing may be scored
        assert app.buffer.total == frozen, "no batch is scored while paused"
        assert text_of(app, "#ppl-state") == "paused"
        hold_after[0] = scored[0] + 1
        await pilot.press("p")
        await wait_for(pilot, lambda: app.buffer.total > frozen)
        await pilot.press("c")
        gate.set()
        await wait_for(pilot, lambda: app.live.finished is not None)
        cancelled = "cancelled: figures are partial"
        await wait_for(pilot, lambda: text_of(app, "#ppl-state") == cancelled)
        assert app.live.finished.cancelled
        assert app.live.batches_done < app.live.plan.n_batches
        assert app.displayed_ppl() == f"{app.live.finished.summaries[0].ppl:.3f}"


async def test_quit_while_scoring_stops_the_worker(handle):
    app, _ = demo_app(handle, batch_size=1)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.live.batches_done >= 1)
        await pilot.press("q")
    assert app.return_value == 0
    assert not app.worker_thread.is_alive()


async def test_an_error_in_the_worker_shows_a_panel_and_keeps_the_figures():
    app = PplTopApp(lambda: synthetic.failing_events(
        MemoryError("[malloc] simulated out of memory")), synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen), timeout=10)
        await wait_for(pilot, lambda: app.screen.query("#error-message"), timeout=10)
        message = str(app.screen.query_one("#error-message", Static).render())
        assert "MemoryError: [malloc] simulated out of memory" in message
        await pilot.press("escape")
        assert not isinstance(app.screen, ErrorScreen)
        assert app.live.batches_done > 0
        assert text_of(app, "#ppl-state") == "stopped by an error: figures are partial"
        assert app.displayed_ppl() != "–"


async def test_redraws_are_bounded_and_no_event_is_lost():
    def flood():
        yield from synthetic.events()

    app = PplTopApp(flood, synthetic.INFO, refresh_hz=4)
    start = time.monotonic()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.finished is not None, timeout=10)
        elapsed = time.monotonic() - start
        assert app.live.events_seen == app.buffer.total
        batches = sum(1 for e in synthetic.events() if isinstance(e, BatchScored))
        assert batches == 36
        assert app.redraws <= elapsed * 4 + 2
        assert app.redraws < batches


async def test_palette_lists_the_actions_and_keymaps_override_keys():
    app = PplTopApp(synthetic.events, synthetic.INFO, keymap={"ppltop.pause": "space"})
    async with app.run_test(size=(120, 40)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for binding in PplTopApp.BINDINGS:
            assert binding.id and binding.tooltip
            if binding.action.startswith("activate("):  # one entry per label instead
                continue
            if app.check_action(binding.action, ()) is not False:  # p, c: not once over
                assert binding.description in titles
        await wait_for(pilot, lambda: app.live.finished is not None, timeout=120)
        await pilot.press("t")
        assert app.theme != "ppltop-dark"


async def test_space_pauses_when_the_keymap_says_so(handle):
    app, _ = demo_app(handle, batch_size=1)
    app._keymap = {"ppltop.pause": "space"}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("space")
        assert app.worker_thread.paused
        await pilot.press("q")


def test_a_broken_user_theme_is_one_error_not_a_crash(tmp_path):
    (tmp_path / "broken.toml").write_text('name = "x"\n[colors]\nprimary = "red"\n')
    light = (builtin_dir() / "light.toml").read_text()
    (tmp_path / "good.toml").write_text(light.replace("ppltop-light", "mine"))
    loaded = load_themes([tmp_path])
    assert len(loaded.errors) == 1 and "broken.toml" in loaded.errors[0]
    assert "mine" in loaded.themes
    ours = {"ppltop-dark", "ppltop-light", "ppltop-high-contrast", "ppltop-mono"}
    assert ours <= set(loaded.themes)
    assert loaded.themes["ppltop-dark"].variables["surprisal-0"].startswith("#")


async def test_pause_stops_every_label_at_the_same_batch_and_freezes_the_rate(handle):
    app, _ = demo_app(handle, batch_size=1)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.batches_done >= 1)
        await pilot.press("p")
        # held between batches, and everything scored before shown (a batch in flight
        # when `p` came may take long on a busy machine)
        await wait_for(pilot, lambda: app.worker_thread.holding and not app.buffer.pending)
        throughput = text_of(app, "#ppl-throughput")
        await pilot.pause(1.5)  # a window in which the rate may not move
        batches = {label: len(series.batch_index) for label, series in app.live.labels.items()}
        assert len(set(batches.values())) == 1, f"a pause between labels: {batches}"
        assert text_of(app, "#ppl-throughput") == throughput, "the rate moved while paused"
        assert "paused" in throughput and app.sub_title == "paused"
        await pilot.press("c")
        await wait_for(pilot, lambda: app.live.finished is not None)


def footer_word(app, key: str) -> str:
    """The description the dashboard's footer shows for `key`."""
    from textual.widgets._footer import FooterKey

    return next(k.description for k in app.screen.query(FooterKey) if k.key == key)


async def test_the_footer_says_resume_while_paused_and_elapsed_goes_on_from_the_pause(handle):
    """Issue #21, 9: `p Pause` stayed in the footer while paused; and the elapsed shown is
    scoring time, the pause left out (measured with the run's own clock)."""
    from ppltop.core.figures.formats import duration as format_duration

    app, _ = demo_app(handle, batch_size=1)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.batches_done >= 1)
        assert footer_word(app, "p") == "Pause"
        in_flight = app.live.batches_done
        await pilot.press("p")
        await wait_for(pilot, lambda: footer_word(app, "p") == "Resume", timeout=5)
        assert "Resume" in [c.title for c in app.get_system_commands(app.screen)]
        # the pause holds once the batch in flight is in
        await wait_for(pilot, lambda: app.live.batches_done > in_flight)
        await pilot.press("p")
        await wait_for(pilot, lambda: footer_word(app, "p") == "Pause", timeout=5)
        await wait_for(pilot, lambda: app.live.paused_s > 0)  # the worker said how long
        await pilot.press("c")
        await wait_for(pilot, lambda: app.live.finished is not None)
        await pilot.pause(0.4)
        live = app.live
        assert live.scoring_s == pytest.approx(live.elapsed_s - live.paused_s)
        assert f"elapsed {format_duration(live.scoring_s)}" in text_of(app, "#ppl-throughput")
        assert f"(paused {format_duration(live.paused_s)})" in live.log[-1][1]

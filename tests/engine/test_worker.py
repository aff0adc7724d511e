"""The scoring loop in a worker thread: its own MLX stream, pause, cancel, errors."""

from __future__ import annotations

import threading
import time

import mlx.core as mx
import pytest

from ppltop import demo
from ppltop.core.config import EvalConfig
from ppltop.core.engine.evaluation import Evaluation
from ppltop.core.engine.worker import ScoringWorker
from ppltop.core.store.events import BatchScored, Notice, Resumed, RunFinished, RunStarted
from support.waiting import wait_until


def config(**kw):
    return EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR / "test.jsonl", **kw)


def collect(evaluation, **worker_kw):
    events, errors = [], []
    worker = ScoringWorker(evaluation.events, events.append, errors.append, **worker_kw)
    worker.start()
    return worker, events, errors


def test_the_loop_runs_on_a_stream_of_its_own_and_its_failure_reaches_on_error():
    """Why the core evaluates everything it prepares: the worker scores on a stream of its
    own, where an array evaluated on the main thread reads fine and a graph left lazy there
    fails. That failure reaches `on_error` (and `worker.error`), the events before it stay
    delivered, and the loop's generator is closed."""
    ready = mx.ones((2, 2)) * 3
    mx.eval(ready)
    lazy = mx.ones((2, 2)) * 5  # built, not evaluated, on the main thread's stream
    closed = []

    def make_events():
        try:
            yield Notice("info", f"ready {mx.sum(ready).item():g}")
            yield Notice("info", f"lazy {mx.sum(lazy).item():g}")
        finally:
            closed.append(True)

    events, errors = [], []
    worker = ScoringWorker(make_events, events.append, errors.append)
    worker.start()
    worker.join(60)
    assert not worker.is_alive()
    assert [e.message for e in events] == ["ready 12"]
    assert len(errors) == 1 and worker.error is errors[0]
    assert isinstance(errors[0], RuntimeError) and "Stream" in str(errors[0]), errors[0]
    assert closed == [True]


def test_prepared_on_main_thread_scored_on_worker(handle):
    """The dashboard prepares (model, adapters, data) on the main thread, scores on a worker."""
    adapters = list(demo.ADAPTER_DIRS.values())
    evaluation = Evaluation(config(adapters=adapters), handle)
    evaluation.prepare()
    worker, events, errors = collect(evaluation)
    worker.join(120)
    assert not errors, errors
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    assert [s.label for s in finished.summaries] == ["base", *demo.ADAPTER_DIRS]


def test_thread_gives_the_same_figures_as_the_main_thread(handle):
    main = [e for e in Evaluation(config(), handle).events() if isinstance(e, RunFinished)][0]
    worker, events, errors = collect(Evaluation(config(), handle))
    worker.join(120)
    assert not errors and not worker.is_alive()
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert events[-1].summaries[0].loss == pytest.approx(main.summaries[0].loss, rel=1e-6)
    batches = [e for e in events if isinstance(e, BatchScored)]
    assert len(batches) == events[0].plan.n_batches


def test_pause_and_cancel_between_batches(handle):
    evaluation = Evaluation(config(batch_size=2), handle)
    seen = threading.Event()
    events, errors = [], []

    first_at = []

    def on_event(event):
        first_at.append(time.monotonic())
        events.append(event)
        if isinstance(event, BatchScored):
            seen.set()

    worker = ScoringWorker(evaluation.events, on_event, errors.append,
                           request_stop=evaluation.cancel)
    worker.pause()  # takes effect after the first event
    worker.start()
    assert not seen.wait(1.0), "paused before the first batch"
    wait_until(lambda: first_at, 60, "the first event")  # late on a loaded machine
    time.sleep(0.5)  # the pause whose length the Resumed event must report, not a wait
    resume_at = time.monotonic()
    worker.resume()
    assert seen.wait(60)
    # the pause is said once, with its length, so the live rate and ETA can leave it out
    resumed = [e for e in events if isinstance(e, Resumed)]
    paused = resume_at - first_at[0]  # from the first event, after which it paused
    assert len(resumed) == 1 and paused - 0.3 < resumed[0].paused_s < paused + 0.5
    worker.cancel()
    worker.join(60)
    assert not errors
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.cancelled
    n_batches = events[0].plan.n_batches
    done = sum(1 for e in events if isinstance(e, BatchScored))
    assert 1 <= done < n_batches
    summary = finished.summaries[0]
    assert not summary.complete and summary.tokens > 0
    assert summary.explanation[0].startswith("partial")


def test_an_error_in_the_loop_reaches_on_error_and_keeps_earlier_events(handle):
    evaluation = Evaluation(config(), handle)
    evaluation.prepare()
    real = evaluation.scorer.score_label
    calls = []

    def failing(label, batch):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("[metal::malloc] simulated out of memory")
        return real(label, batch)

    evaluation.scorer.score_label = failing
    worker, events, errors = collect(evaluation)
    worker.join(60)
    assert isinstance(errors[0], MemoryError) and worker.error is errors[0]
    assert sum(1 for e in events if isinstance(e, BatchScored)) == 1


def test_a_pause_is_left_out_of_the_live_rate_and_eta():
    """The same run paused 5 s after its first batch: the loop's clock runs on, the rate
    and ETA do not."""
    import dataclasses

    from ppltop.view.live import LiveRun
    from support import synthetic

    events = [e for e in synthetic.events() if not isinstance(e, RunFinished)]
    first = next(i for i, e in enumerate(events) if isinstance(e, BatchScored))
    paused = events[:first + 1] + [Resumed(5.0)] + [
        dataclasses.replace(e, elapsed_s=e.elapsed_s + 5.0) if isinstance(e, BatchScored) else e
        for e in events[first + 1:]]
    plain, held = LiveRun(), LiveRun()
    for e in events:
        plain.apply(e)
    for e in paused:
        held.apply(e)
    assert held.elapsed_s == pytest.approx(plain.elapsed_s + 5.0)
    assert held.tokens_per_s == pytest.approx(plain.tokens_per_s)
    assert held.eta_s == pytest.approx(plain.eta_s)


def test_elapsed_is_scoring_time_and_the_finish_says_the_pause_apart():
    """Issue #21, 9: a 26 s pause after the first batch. The loop's clock jumps by it on
    resuming (00:04 -> 00:30); the elapsed shown is scoring time, the same at every event as
    the run never paused, and the run's last line gives the pause apart."""
    import dataclasses

    from ppltop.core.figures.formats import duration as format_duration
    from ppltop.view.live import LiveRun
    from support import synthetic

    events = list(synthetic.events())
    first = next(i for i, e in enumerate(events) if isinstance(e, BatchScored))
    paused = events[:first + 1] + [Resumed(26.0)] + [
        dataclasses.replace(e, elapsed_s=e.elapsed_s + 26.0)
        if isinstance(e, BatchScored | RunFinished) else e for e in events[first + 1:]]
    plain, held = LiveRun(), LiveRun()
    plain_shown = []
    for e in events:
        plain.apply(e)
        plain_shown.append(plain.scoring_s)
    held_shown = []
    for e in paused:
        held.apply(e)
        if not isinstance(e, Resumed):
            held_shown.append(held.scoring_s)
    assert held_shown == pytest.approx(plain_shown), "elapsed jumped by the pause"
    assert held.elapsed_s == pytest.approx(plain.elapsed_s + 26.0)
    scoring = format_duration(plain.elapsed_s)
    assert plain.log[-1][1] == f"run finished after {scoring}"
    assert held.log[-1][1] == f"run finished after {scoring} (paused 00:26)"

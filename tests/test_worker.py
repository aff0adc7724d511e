"""The scoring loop in a worker thread: its own MLX stream, pause, cancel, errors."""

from __future__ import annotations

import threading

import mlx.core as mx
import pytest

from ppltop import demo
from ppltop.core.config import EvalConfig
from ppltop.core.events import BatchScored, RunFinished, RunStarted
from ppltop.core.scoring import Evaluation
from ppltop.core.worker import ScoringWorker


def config(**kw):
    return EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR / "test.jsonl", **kw)


def collect(evaluation, **worker_kw):
    events, errors = [], []
    worker = ScoringWorker(evaluation.events, events.append, errors.append, **worker_kw)
    worker.start()
    return worker, events, errors


def test_mlx_needs_a_stream_per_thread():
    """Why the worker makes its own stream: MLX refuses the default one off the main thread."""
    box = {}

    def bare():
        try:
            mx.eval(mx.ones((2, 2)) @ mx.ones((2, 2)))
            box["ok"] = True
        except RuntimeError as e:
            box["error"] = str(e)

    t = threading.Thread(target=bare)
    t.start()
    t.join()
    if "ok" in box:
        pytest.skip("this MLX build serves the default stream in every thread")
    assert "no Stream" in box["error"]


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

    def on_event(event):
        events.append(event)
        if isinstance(event, BatchScored):
            seen.set()

    worker = ScoringWorker(evaluation.events, on_event, errors.append,
                           request_stop=evaluation.cancel)
    worker.pause()  # takes effect after the first event
    worker.start()
    assert not seen.wait(1.0), "paused before the first batch"
    worker.resume()
    assert seen.wait(60)
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
    real = evaluation._score_batch
    calls = []

    def failing(batch, pending):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("[metal::malloc] simulated out of memory")
        return real(batch, pending)

    evaluation._score_batch = failing
    worker, events, errors = collect(evaluation)
    worker.join(60)
    assert isinstance(errors[0], MemoryError) and worker.error is errors[0]
    assert sum(1 for e in events if isinstance(e, BatchScored)) == 1

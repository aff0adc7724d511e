"""Faults during a run (issue #8): an exception in the scoring loop at batch k, NaN logits,
a terminal too small for the layout, and a signal to the dashboard. Real components: the demo
model scores real batches, the fault is raised by the real recorder, the run directory is
read back and resumed by the real command line."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import Static

from ppltop import demo
from ppltop.core.config import EvalConfig
from ppltop.core.engine.evaluation import Evaluation
from ppltop.core.store.recorder import FAULT_ENV, recorded
from ppltop.core.store.run_dir import RunWriter, read_run
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.error_screen import ErrorScreen
from ppltop.ui.screens.too_small_screen import MIN_HEIGHT, MIN_WIDTH, TooSmallScreen
from ppltop.ui.widgets.event_log import EventLog
from support import synthetic
from support.cli import run_ppltop
from support.models import nan_model, token_of_one_example

FAULT_AT = 3
"""The batch (0-based) the injected fault stops the run in."""


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    """The first 12 demo records: 6 batches of 2, scored in seconds."""
    folder = tmp_path_factory.mktemp("data")
    lines = (demo.DATA_DIR / "test.jsonl").read_text().splitlines()[:12]
    (folder / "test.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def _args(data: Path) -> list[str]:
    return ["--model", str(demo.MODEL_DIR), "--data", str(data), "--adapter-path",
            str(demo.ADAPTER_DIRS["docs-net"]), "--batch-size", "2"]


def _figures(path: Path) -> list[dict]:
    keep = ("label", "loss", "ppl", "tokens", "examples", "stderr_loss", "ppl_ci95",
            "bits_per_byte", "mlx_lm")
    return [{k: r[k] for k in keep} for r in json.loads(path.read_text())["runs"]]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, small_data) -> list[dict]:
    tmp = tmp_path_factory.mktemp("whole")
    proc = run_ppltop(*_args(small_data), "--headless", "--run-dir", str(tmp / "run"),
                      "--json", str(tmp / "whole.json"))
    assert proc.returncode == 0, proc.stderr
    return _figures(tmp / "whole.json")


def _resume_and_check(run_dir: Path, tmp_path: Path, uninterrupted: list[dict]) -> None:
    record = read_run(run_dir)
    assert record.status == "incomplete"
    assert record.batches_done == set(range(FAULT_AT)), "batches 0..k-1, nothing of batch k"
    assert all(name.startswith(tuple(f"{b:06d}-" for b in range(FAULT_AT)))
               for name in os.listdir(run_dir / "results"))
    errors = [e for e in record.events if getattr(e, "level", None) == "error"]
    assert len(errors) == 1 and f"batch {FAULT_AT + 1} of" in errors[0].message
    out = tmp_path / "resumed.json"
    resumed = run_ppltop("resume", str(run_dir), "--headless", "--json", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert f"{FAULT_AT} of 6 batches already scored" in resumed.stderr
    assert _figures(out) == uninterrupted


def test_a_fault_in_batch_k_headless_is_one_line_and_the_run_resumes(tmp_path, small_data,
                                                                      uninterrupted):
    run_dir = tmp_path / "run"
    proc = run_ppltop(*_args(small_data), "--headless", "--run-dir", str(run_dir),
                      env={FAULT_ENV: str(FAULT_AT)})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "scoring stopped" in line]
    assert errors == [f"ppltop: scoring stopped in batch {FAULT_AT + 1} of 6 by RuntimeError: "
                      f"{FAULT_ENV}={FAULT_AT}: a fault injected in batch {FAULT_AT + 1}; the "
                      f"run directory keeps the {FAULT_AT} batches before it; continue with: "
                      f"ppltop resume {run_dir}"]
    assert proc.stdout == ""
    _resume_and_check(run_dir, tmp_path, uninterrupted)


def _model_figures(path: Path) -> list[dict]:
    keep = ("label", "model", "loss", "delta_ppl_pct", "kl_mean", "kl_ci95", "kl_percentiles",
            "kl_max", "same_top")
    return [{k: r[k] for k in keep} for r in json.loads(path.read_text())["models"]]


def test_a_run_over_two_models_stopped_in_batch_k_resumes_to_the_same_figures(
        tmp_path, small_data, quantized_model):
    """A fault in batch k of `--model A --model B`: resume reads both models' k batches back
    and scores the rest; every figure, the models table's KL and same-top too, is the
    uninterrupted run's."""
    models = ["--model", str(demo.MODEL_DIR), "--model", str(quantized_model),
              "--data", str(small_data), "--batch-size", "2", "--headless"]
    whole = run_ppltop(*models, "--run-dir", str(tmp_path / "whole"),
                       "--json", str(tmp_path / "whole.json"))
    assert whole.returncode == 0, whole.stderr
    run_dir = tmp_path / "run"
    stopped = run_ppltop(*models, "--run-dir", str(run_dir), env={FAULT_ENV: str(FAULT_AT)})
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr
    assert read_run(run_dir).batches_done == set(range(FAULT_AT))
    out = tmp_path / "resumed.json"
    resumed = run_ppltop("resume", str(run_dir), "--headless", "--json", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert f"{FAULT_AT} of 6 batches already scored" in resumed.stderr
    assert _figures(out) == _figures(tmp_path / "whole.json")
    assert _model_figures(out) == _model_figures(tmp_path / "whole.json")
    copy = json.loads(out.read_text())["models"][1]
    assert copy["label"] == "model#2" and copy["kl_mean"] > 0 and 0 < copy["same_top"] < 1


async def test_a_fault_in_batch_k_shows_the_error_panel_and_the_run_resumes(
        tmp_path, small_data, uninterrupted, handle, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, str(FAULT_AT))
    cfg = EvalConfig(model=demo.MODEL_DIR, data=small_data,
                     adapters=[demo.ADAPTER_DIRS["docs-net"]], batch_size=2)
    evaluation = Evaluation(cfg, handle)
    evaluation.prepare()
    run_dir = tmp_path / "run"
    writer = RunWriter(run_dir, evaluation.manifest())
    app = PplTopApp(lambda: recorded(evaluation.events(), writer), synthetic.INFO,
                    request_stop=evaluation.cancel)
    async with app.run_test(size=(120, 40)) as pilot:
        end = time.monotonic() + 120
        while not isinstance(app.screen, ErrorScreen):
            assert time.monotonic() < end, "no error panel"
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        message = str(app.screen.query_one("#error-message", Static).render())
        assert message.startswith(f"scoring stopped in batch {FAULT_AT + 1} of 6 by "
                                  "RuntimeError")
        assert f"ppltop resume {run_dir}" in message
        await pilot.press("escape")
        assert not isinstance(app.screen, ErrorScreen)
        assert app.live.batches_done == FAULT_AT
        assert str(app.query_one("#ppl-state", Static).render()) == \
            "stopped by an error: figures are partial"
        assert app.displayed_ppl() != "–"
        assert app.worker_thread.error is not None and not app.worker_thread.is_alive()
        await pilot.press("q")
    monkeypatch.delenv(FAULT_ENV)
    _resume_and_check(run_dir, tmp_path, uninterrupted)


async def test_nan_logits_are_reported_in_the_dashboard_and_left_out(tmp_path, small_data,
                                                                     handle):
    from ppltop.core.data.split import load_split

    split = load_split(small_data, "test", handle.tokenizer, False)
    token, poisoned = token_of_one_example(split)
    cfg = EvalConfig(model=nan_model(tmp_path, token), data=small_data, batch_size=2)
    evaluation = Evaluation(cfg)
    app = PplTopApp(evaluation.events, synthetic.INFO, request_stop=evaluation.cancel)
    async with app.run_test(size=(120, 40)) as pilot:
        end = time.monotonic() + 120
        while app.live.finished is None:
            assert time.monotonic() < end, "the run did not finish"
            await pilot.pause(0.05)
        await pilot.pause(0.4)
        summary = app.live.finished.summaries[0]
        # the log wraps long lines, and a wrap swallows the space it breaks at
        log = "".join(line.text.replace(" ", "") for line in app.query_one(EventLog).lines)
        line = split.examples[poisoned].line
        want = f"warning: [base] {small_data / 'test.jsonl'}:{line}: non-finite loss"
        assert want.replace(" ", "") in log
        assert str(app.query_one("#ppl-state", Static).render()) == \
            "finished · 1 example left out: non-finite loss (see log)"
        assert summary.nonfinite_examples == [poisoned]
        assert summary.examples == len(split.examples) - 1
        assert np.isfinite(summary.loss) and app.displayed_ppl() == f"{summary.ppl:.3f}"
        # the NaN spreads through attention (0 x NaN), so every target of the example is NaN
        tokens = split.examples[poisoned].tokens.tolist()
        first = summary.nonfinite_first[0]
        assert first == {"example": poisoned, "position": 1, "token": tokens[1]}
        excluded = summary.nonfinite_tokens
        assert excluded == len(split.examples[poisoned].tokens) - 1
        assert summary.tokens + excluded == app.live.plan.targets_per_label
        reason = next(r for r in summary.explanation if "non-finite" in r)
        assert reason.startswith(f"1 examples with a non-finite loss are left out of the ppltop "
                                 f"figure with their {excluded} targets")
        assert (f"example {poisoned} at position {first['position']} (token id "
                f"{first['token']})") in reason


async def test_a_terminal_too_small_says_so_and_the_dashboard_comes_back():
    app = PplTopApp(synthetic.events, synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.resize_terminal(60, 20)
        await pilot.pause(0.2)
        assert isinstance(app.screen, TooSmallScreen)
        text = str(app.screen.query_one("#too-small-message", Static).render())
        assert f"Terminal too small: 60x20\nppltop needs at least {MIN_WIDTH}x{MIN_HEIGHT}." in text
        await pilot.resize_terminal(MIN_WIDTH, MIN_HEIGHT - 1)
        await pilot.pause(0.2)
        text = str(app.screen.query_one("#too-small-message", Static).render())
        assert f"Terminal too small: {MIN_WIDTH}x{MIN_HEIGHT - 1}" in text
        await pilot.press("v")  # no screen opens over the message
        assert isinstance(app.screen, TooSmallScreen) and len(app.screen_stack) == 2
        await pilot.resize_terminal(MIN_WIDTH, MIN_HEIGHT)
        await pilot.pause(0.2)
        assert not isinstance(app.screen, TooSmallScreen) and len(app.screen_stack) == 1
        assert app.live.finished is not None  # scoring went on meanwhile
        assert app.displayed_ppl() == f"{app.live.finished.summaries[0].ppl:.3f}"


async def test_an_error_while_too_small_waits_for_the_terminal_to_grow():
    app = PplTopApp(lambda: synthetic.failing_events(MemoryError("simulated")), synthetic.INFO)
    async with app.run_test(size=(50, 12)) as pilot:
        end = time.monotonic() + 10
        while app.live.error is None:
            assert time.monotonic() < end
            await pilot.pause(0.05)
        await pilot.pause(0.6)
        assert isinstance(app.screen, TooSmallScreen)
        await pilot.resize_terminal(100, 30)
        await pilot.pause(0.3)
        assert isinstance(app.screen, ErrorScreen)


async def test_sigterm_stops_the_dashboard_after_the_batch_in_flight(handle):
    cfg = EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR / "test.jsonl", batch_size=1)
    evaluation = Evaluation(cfg, handle)
    app = PplTopApp(evaluation.events, synthetic.INFO, request_stop=evaluation.cancel,
                    handle_signals=True)
    async with app.run_test(size=(120, 40)) as pilot:
        end = time.monotonic() + 120
        while app.live.batches_done < 2:
            assert time.monotonic() < end
            await pilot.pause(0.05)
        os.kill(os.getpid(), signal.SIGTERM)
        end = time.monotonic() + 30
        while app.is_running:
            assert time.monotonic() < end, "still running after SIGTERM"
            await pilot.pause(0.05)
    assert app.return_value == 130 and app.stop_signal == "SIGTERM"
    assert not app.worker_thread.is_alive()
    events = app.buffer.drain()
    finished = events[-1] if events else app.live.finished
    assert finished.cancelled and finished.summaries[0].complete is False
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "handlers removed on exit"


async def test_ctrl_c_in_the_dashboard_stops_like_sigint(handle):
    cfg = EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR / "test.jsonl", batch_size=1)
    evaluation = Evaluation(cfg, handle)
    app = PplTopApp(evaluation.events, synthetic.INFO, request_stop=evaluation.cancel)
    async with app.run_test(size=(120, 40)) as pilot:
        end = time.monotonic() + 120
        while app.live.batches_done < 1:
            assert time.monotonic() < end
            await pilot.pause(0.05)
        await pilot.press("ctrl+c")
    assert app.return_value == 130 and app.stop_signal == "SIGINT"
    assert not app.worker_thread.is_alive()

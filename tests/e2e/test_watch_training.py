"""`ppltop --watch --headless` beside a real `mlx_lm.lora --train --save-every`: every
checkpoint scored exactly once, never half-written, with the figures of a separate
`ppltop --checkpoints` run afterwards."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from ppltop import demo
from support.cli import run_ppltop
from support.paths import SCRATCH

ITERS, SAVE_EVERY = 6, 2
SCORE = ["--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR), "--test-batches", "3"]


def _train(adapters) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlx_lm", "lora", "--model", str(demo.MODEL_DIR), "--train",
         "--data", str(demo.DATA_DIR), "--iters", str(ITERS), "--save-every", str(SAVE_EVERY),
         "--batch-size", "2", "--num-layers", "2", "--val-batches", "1",
         "--steps-per-eval", "1000", "--max-seq-length", "128", "--learning-rate", "1e-3",
         "--adapter-path", str(adapters)],
        capture_output=True, text=True, timeout=600, cwd=SCRATCH)


def _wait_for(predicate, timeout: float, what: str, proc) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"ppltop --watch ended early ({proc.returncode}) waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_watch_follows_a_real_training_run(tmp_path):
    adapters = tmp_path / "adapters"
    adapters.mkdir()  # the training has not written anything yet
    watch_dir, err = tmp_path / "watch", tmp_path / "watch.err"
    with open(err, "w") as err_fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ppltop", *SCORE, "--adapter-path", str(adapters),
             "--watch", "--headless", "--run-dir", str(watch_dir),
             "--json", str(tmp_path / "watch.json")],
            stdout=subprocess.PIPE, stderr=err_fh, text=True, cwd=SCRATCH,
            stdin=subprocess.DEVNULL, env={**os.environ})
        try:
            _wait_for(lambda: "waiting for new checkpoints" in err.read_text(), 300,
                      "the base model", proc)
            trained = _train(adapters)
            assert trained.returncode == 0, trained.stderr[-2000:]
            steps = list(range(SAVE_EVERY, ITERS + 1, SAVE_EVERY))
            assert sorted(p.name for p in adapters.glob("*_adapters.safetensors")) == \
                [f"{s:07d}_adapters.safetensors" for s in steps]
            _wait_for(lambda: err.read_text().count(" scored: ") == 1 + len(steps), 300,
                      "every checkpoint", proc)
            time.sleep(2)  # nothing more may come: each checkpoint once
            proc.send_signal(signal.SIGINT)
            stdout, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    log = err.read_text()
    assert proc.returncode == 0, log[-3000:]
    labels = [f"adapters@{s}" for s in steps]
    scored = re.findall(r"ppltop: watch: (\S+) scored: ", log)
    assert sorted(scored) == sorted(["base", *labels])  # each exactly once
    assert "Traceback" not in log
    # one ordinary, complete run per checkpoint in the watch's run directory
    for label in ["base", *labels]:
        opened = run_ppltop("open", str(watch_dir / label), "--headless",
                            "--json", str(tmp_path / f"{label}.json"))
        assert opened.returncode == 0, opened.stderr
        (run,) = json.loads((tmp_path / f"{label}.json").read_text())["runs"]
        assert run["label"] == label and run["complete"]
    assert "== checkpoints of adapters by iteration" in stdout
    whole = run_ppltop("open", str(watch_dir), "--headless", "--json", str(tmp_path / "o.json"))
    assert whole.returncode == 0, whole.stderr  # the watch opened as one run
    assert whole.stdout[whole.stdout.index("== checkpoints"):] == \
        stdout[stdout.index("== checkpoints"):]
    reopened = json.loads((tmp_path / "o.json").read_text())
    watched = json.loads((tmp_path / "watch.json").read_text())
    assert reopened["checkpoints"] == watched["checkpoints"]
    assert reopened["runs"] == watched["runs"]

    after = run_ppltop(*SCORE, "--adapter-path", str(adapters), "--checkpoints",
                       "--run-dir", str(tmp_path / "after"),
                       "--json", str(tmp_path / "after.json"))
    assert after.returncode == 0, after.stderr
    separate = json.loads((tmp_path / "after.json").read_text())
    by_label = {r["label"]: r for r in separate["runs"]}
    for run in watched["runs"]:  # the same figures, to the last digit
        other = by_label[run["label"]]
        for key in ("loss", "ppl", "ppl_ci95", "stderr_loss", "tokens", "iteration"):
            assert run[key] == other[key], (run["label"], key)
        assert run["mlx_lm"]["loss"] == other["mlx_lm"]["loss"]
    (w_series,) = watched["checkpoints"]["series"]
    (s_series,) = separate["checkpoints"]["series"]
    assert w_series["best"] == s_series["best"]
    separate_points = {c["label"]: c for c in s_series["checkpoints"]}
    for point in w_series["checkpoints"]:  # the final weights are the separate run's extra
        assert point == separate_points[point["label"]]
    assert [c["iteration"] for c in w_series["checkpoints"]] == steps

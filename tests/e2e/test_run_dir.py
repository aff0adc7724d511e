"""Run directories under real faults: SIGKILL at random points, resume, open, refusals."""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ppltop import demo
from ppltop.core.store.run_dir import EVENTS, read_run
from support import BLAS
from support.cli import run_ppltop

DEMO_ARGS = ["--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR),
             "--adapter-path", str(demo.ADAPTER_DIRS["docs-net"]), "--batch-size", "2"]


def figures(path: Path) -> list[dict]:
    runs = json.loads(path.read_text())["runs"]
    keep = ("label", "loss", "ppl", "tokens", "examples", "stderr_loss", "ppl_ci95",
            "bits_per_byte", "mlx_lm")
    return [{k: r[k] for k in keep} for r in runs]


def batch_lines(run_dir: Path) -> int:
    try:
        return sum(1 for line in (run_dir / EVENTS).read_text().splitlines()
                   if '"type": "batch"' in line)
    except FileNotFoundError:
        return 0


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ppltop", *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> list[dict]:
    tmp = tmp_path_factory.mktemp("whole")
    out = tmp / "whole.json"
    proc = run_ppltop(*DEMO_ARGS, "--headless", "--run-dir", str(tmp / "run"), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    return figures(out)


def test_sigkill_at_random_points_then_resume_gives_identical_figures(tmp_path, uninterrupted):
    rng = random.Random(7)
    run_dir = tmp_path / "run"
    proc = start([*DEMO_ARGS, "--headless", "--run-dir", str(run_dir)], tmp_path)
    kills = 0
    for _attempt in range(3):
        target = batch_lines(run_dir) + rng.randint(1, 5)
        deadline = time.monotonic() + 240
        while batch_lines(run_dir) < target and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.3))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        record = read_run(run_dir)  # readable after every kill
        assert record.status == "incomplete"
        proc = start(["resume", str(run_dir), "--headless"], tmp_path)
    assert kills >= 2, "the run finished before it could be killed twice"
    proc.wait(timeout=300)
    err = proc.stderr.read().decode()
    assert proc.returncode == 0, err
    # batches read back are not scoring speed (they once made this millions of tok/s)
    rates = [float(r.replace(",", "")) for r in re.findall(r"\| ([\d,]+) tok/s", err)]
    assert rates and max(rates) < 200_000, rates
    out = tmp_path / "resumed.json"
    opened = run_ppltop("open", str(run_dir), "--headless", "--json", str(out))
    assert opened.returncode == 0, opened.stderr
    assert figures(out) == uninterrupted


def test_open_follows_a_run_being_written(tmp_path, uninterrupted):
    run_dir = tmp_path / "run"
    writer = start([*DEMO_ARGS, "--headless", "--run-dir", str(run_dir)], tmp_path)
    while not (run_dir / EVENTS).exists():
        time.sleep(0.05)
    out = tmp_path / "followed.json"
    viewer = subprocess.run([sys.executable, "-m", "ppltop", "open", str(run_dir), "--json",
                             str(out)], capture_output=True, text=True, timeout=300,
                            cwd=tmp_path, stdin=subprocess.DEVNULL)
    writer.wait(timeout=300)
    assert viewer.returncode == 0, viewer.stderr
    assert figures(out) == uninterrupted


def test_resume_refuses_changed_data_and_run_dir_refusals(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    lines = (demo.DATA_DIR / "test.jsonl").read_text().splitlines()[:8]
    (data / "test.jsonl").write_text("\n".join(lines) + "\n")
    args = ["--model", str(demo.MODEL_DIR), "--data", str(data), "--headless"]
    run_dir = tmp_path / "run"
    assert run_ppltop(*args, "--run-dir", str(run_dir)).returncode == 0
    again = run_ppltop(*args, "--run-dir", str(run_dir))
    assert again.returncode == 2 and "already holds a run" in again.stderr
    assert "Traceback" not in again.stderr
    assert run_ppltop(*args, "--run-dir", str(run_dir), "--overwrite").returncode == 0
    # an unfinished run (a finished one is never resumed: it says so and changes nothing)
    events = run_dir / "events.jsonl"
    events.write_text("".join(line + "\n" for line in events.read_text().splitlines()
                              if '"finished"' not in line))
    (data / "test.jsonl").write_text("\n".join(lines[:7]) + "\n")
    changed = run_ppltop("resume", str(run_dir), "--headless")
    assert changed.returncode == 2 and "data" in changed.stderr and "changed" in changed.stderr
    # a run directory that cannot be written (its parent is a file: refused even for root)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    denied = run_ppltop(*args, "--run-dir", str(blocker / "run"))
    assert denied.returncode == 2 and "cannot write there" in denied.stderr
    assert "Traceback" not in denied.stderr


def test_runs_lists_status_and_figures(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join((demo.DATA_DIR / "test.jsonl").read_text().splitlines()[:4]))
    folder = tmp_path / "runs"
    assert run_ppltop("--model", str(demo.MODEL_DIR), "--data", str(data), "--headless",
                      "--run-dir", str(folder / "one")).returncode == 0
    listing = run_ppltop("runs", str(folder))
    assert listing.returncode == 0
    assert "one" in listing.stdout and "finished" in listing.stdout and "base ppl" in listing.stdout


def test_a_resumed_run_keeps_the_blas_it_was_scored_with(tmp_path):
    """`auto` may measure the other library faster on another day (MKL and OpenBLAS are
    close), and their float32 rounding differs: resume takes the manifest's library."""
    from ppltop.core.model import blas

    usable = [p for p in blas.candidate_libraries() if p.is_absolute() and blas.probe(p)[0]]
    if not usable:
        pytest.skip("no MKL or OpenBLAS on this machine")
    # the library auto did not take, where there are two
    chosen = next((p for p in usable if str(p) != BLAS.path), usable[0])
    run_dir = tmp_path / "r"
    crashed = run_ppltop("--headless", "--blas", str(chosen), "--run-dir", str(run_dir),
                         env={"PPLTOP_FAULT_AT_BATCH": "3"})
    assert crashed.returncode == 1, crashed.stderr
    resumed = run_ppltop("resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert f"({chosen})" in resumed.stderr and "resuming" in resumed.stderr, resumed.stderr

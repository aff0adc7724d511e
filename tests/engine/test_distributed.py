"""One evaluation sharded over two ranks of `mlx.launch` on loopback (the ring backend).

Real processes throughout: `mlx.launch -n 2 --backend ring -- ppltop --headless ...`, the same
run in one process, mlx-lm's own `evaluate()` under the same `mlx.launch`, and a rank killed
with SIGKILL mid-run. Two ranks on a 2-core machine are slower than one process, so these
tests check correctness only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ppltop import demo
from ppltop.core.store.run_dir import read_run
from support.cli import run_ppltop
from support.distributed import PPLTOP, launch, launch_cmd
from support.paths import SCRATCH

ADAPTER = demo.ADAPTER_DIRS["docs-net"]
# windows of 128 tokens (most demo records are longer), so an example's windows fall in
# several batches and on both ranks' share; batch size 2 gives many small batches
FLAGS = ["--model", str(demo.MODEL_DIR), "--adapter-path", str(ADAPTER), "--batch-size", "2",
         "--max-seq-length", "128", "--long-sequences", "window", "--loss-only"]


@pytest.fixture(scope="module")
def data_file() -> Path:
    path = SCRATCH / "distributed" / "test.jsonl"
    path.parent.mkdir(exist_ok=True)
    lines = (demo.DATA_DIR / "test.jsonl").read_text().splitlines()[:24]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def single_process(data_file) -> dict:
    """The same evaluation in one process: JSON summary and run directory."""
    run_dir = SCRATCH / "distributed" / "single"
    out = run_ppltop(*FLAGS, "--data", str(data_file), "--run-dir", str(run_dir),
                     "--json", str(run_dir) + ".json", "--overwrite")
    assert out.returncode == 0, out.stderr
    return {"json": json.loads(Path(str(run_dir) + ".json").read_text()), "dir": run_dir}


MLX_LM_SCRIPT = """
import json, sys, types
from pathlib import Path
import numpy as np
import mlx.core as mx
from mlx_lm import load
from mlx_lm.tuner.datasets import CacheDataset, create_dataset
from mlx_lm.tuner.trainer import evaluate
from mlx_lm.tuner.utils import load_adapters

model_dir, adapter, data_file = sys.argv[1:4]
group = mx.distributed.init()
np.random.seed(0)  # as mlx_lm.lora does
model, tokenizer = load(model_dir)
records = [json.loads(line) for line in Path(data_file).read_text().splitlines() if line]
dataset = CacheDataset(create_dataset(records, tokenizer, types.SimpleNamespace(mask_prompt=False)))
figures = {"base": evaluate(model, dataset, 2, -1, max_seq_length=128)}
load_adapters(model, adapter)
figures["docs-net"] = evaluate(model, dataset, 2, -1, max_seq_length=128)
if group.rank() == 0:
    print("FIGURES", json.dumps({**figures, "ranks": group.size()}))
"""


def test_two_ranks_give_the_figures_of_one_process_and_of_mlx_lm(
        ring_backend, data_file, single_process, tmp_path):
    run_dir = tmp_path / "run"
    out = launch(str(PPLTOP), "--headless", *FLAGS, "--data", str(data_file), "--run-dir",
                 str(run_dir), "--json", str(tmp_path / "two.json"), cwd=tmp_path)
    assert "[WARN]" not in out.stderr, out.stderr  # mlx.launch names a rank that failed
    # rank 0 alone prints: one summary, no line from rank 1
    assert out.stdout.count("== base ==") == 1, out.stdout
    assert "rank 1" not in out.stderr and out.stderr.count("run directory") == 1, out.stderr
    assert f"run directory {run_dir} (2 ranks)" in out.stderr
    two = {r["label"]: r for r in json.loads((tmp_path / "two.json").read_text())["runs"]}
    one = {r["label"]: r for r in single_process["json"]["runs"]}

    script = tmp_path / "mlx_lm_eval.py"
    script.write_text(MLX_LM_SCRIPT)
    ref = launch(sys.executable, str(script), str(demo.MODEL_DIR), str(ADAPTER),
                 str(data_file), cwd=tmp_path)
    lines = [line for line in ref.stdout.splitlines() if line.startswith("FIGURES ")]
    assert len(lines) == 1, ref.stdout + ref.stderr
    mlx_lm = json.loads(lines[0].split(" ", 1)[1])
    assert mlx_lm["ranks"] == 2

    assert list(two) == ["base", "docs-net"]
    for label in two:
        a, b = two[label], one[label]
        assert a["tokens"] == b["tokens"] and a["examples"] == b["examples"] == 24
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["ppl"] == pytest.approx(b["ppl"], rel=1e-5)
        assert a["stderr_loss"] == pytest.approx(b["stderr_loss"], rel=1e-4)
        assert a["bits_per_byte"] == pytest.approx(b["bits_per_byte"], rel=1e-5)
        assert a["mlx_lm"]["tokens"] == b["mlx_lm"]["tokens"]
        assert a["mlx_lm"]["loss"] == pytest.approx(b["mlx_lm"]["loss"], rel=1e-5)
        assert a["mlx_lm"]["loss"] == pytest.approx(mlx_lm[label], rel=1e-5)
        assert a["complete"]

    # rank 0 wrote the whole run: every batch, and every example's per-token arrays
    record = read_run(run_dir)
    assert record.status == "finished" and record.manifest.ranks == 2
    assert len(record.batches_done) == record.manifest.n_batches
    alone = read_run(single_process["dir"])
    for label in ("base", "docs-net"):
        assert sorted(record.results[label]) == sorted(alone.results[label]) == list(range(24))
        for i, result in record.results[label].items():
            other = alone.results[label][i]
            assert np.array_equal(result.positions, other.positions)
            assert np.array_equal(result.targets, other.targets)
            np.testing.assert_allclose(result.logprob, other.logprob, rtol=1e-4, atol=1e-4)


def test_batch_size_must_divide_by_the_ranks(tmp_path):
    """mlx-lm's rule, checked before the ranks connect: rank 0 says it in one line, exit 2;
    the other ranks exit 2 silently."""
    hostfile = tmp_path / "hosts.json"
    hostfile.write_text(json.dumps([["127.0.0.1:1"], ["127.0.0.1:2"]]))
    for rank, said in ((0, True), (1, False)):
        out = run_ppltop("--headless", "--batch-size", "3", "--run-dir", str(tmp_path / "r"),
                         env={"MLX_RANK": str(rank), "MLX_HOSTFILE": str(hostfile)},
                         timeout=120)
        assert out.returncode == 2
        assert out.stdout == ""
        if said:
            assert out.stderr.strip().splitlines() == [
                "ppltop: --batch-size 3 does not divide by the 2 ranks of mlx.launch "
                "(mlx-lm's rule); use a multiple of 2"]
        else:
            assert out.stderr == ""
    assert not (tmp_path / "r").exists()


def _rank_pid(launcher: int, rank: int) -> int | None:
    """The process mlx.launch started for `rank` (its child with MLX_RANK=rank)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == launcher and f"MLX_RANK={rank}".encode() in env:
            return int(entry.name)
    return None


def _batches_written(run_dir: Path) -> int:
    try:
        lines = (run_dir / "events.jsonl").read_text().splitlines()
    except OSError:
        return 0
    return sum(1 for line in lines if '"type": "batch"' in line)


def test_a_rank_killed_mid_run_ends_with_a_message_and_a_resumable_run(
        ring_backend, data_file, single_process, tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(launch_cmd(str(PPLTOP), "--headless", *FLAGS, "--data",
                                       str(data_file), "--run-dir", str(run_dir)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _batches_written(run_dir) < 2 * 4 and proc.poll() is None:  # 2 labels
            assert time.monotonic() < deadline, "no batch written in 120 s"
            time.sleep(0.05)
        victim = _rank_pid(proc.pid, 1)
        assert victim is not None and proc.poll() is None, "the run ended before the kill"
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "Node with rank 1 exited with code -9" in stderr  # mlx.launch's own line
    assert "lost the connection to another rank" in stderr, stderr
    assert f"continue with: ppltop resume {run_dir}" in stderr, stderr
    assert "== base ==" not in stdout  # no figures from a run that did not finish

    record = read_run(run_dir)
    assert record.status == "incomplete"
    done = len(record.batches_done)
    assert 4 <= done < record.manifest.n_batches
    assert record.manifest.ranks == 2

    out = run_ppltop("resume", str(run_dir), "--headless", "--json", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr
    assert f"{done} of {record.manifest.n_batches} batches already scored" in out.stderr
    resumed = {r["label"]: r for r in json.loads((tmp_path / "r.json").read_text())["runs"]}
    for r in single_process["json"]["runs"]:
        got = resumed[r["label"]]
        assert got["complete"] and got["examples"] == r["examples"] == 24
        assert got["loss"] == pytest.approx(r["loss"], rel=1e-5)
        assert got["mlx_lm"]["loss"] == pytest.approx(r["mlx_lm"]["loss"], rel=1e-5)


def test_a_rank_that_hangs_ends_the_run_after_the_timeout(ring_backend, data_file, tmp_path):
    """A stopped rank (SIGSTOP: its sockets stay open, like a host gone from the network)
    leaves rank 0 waiting in a collective; the watchdog ends it after PPLTOP_RANK_TIMEOUT."""
    run_dir = tmp_path / "run"
    command = launch_cmd(str(PPLTOP), "--headless", *FLAGS, "--data", str(data_file),
                         "--run-dir", str(run_dir))
    command[command.index("--"):command.index("--")] = ["--env", "PPLTOP_RANK_TIMEOUT=3"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, stdin=subprocess.DEVNULL)
    stopped = None
    try:
        deadline = time.monotonic() + 120
        while _batches_written(run_dir) < 2 * 2 and proc.poll() is None:
            assert time.monotonic() < deadline, "no batch written in 120 s"
            time.sleep(0.05)
        first, stopped = _rank_pid(proc.pid, 0), _rank_pid(proc.pid, 1)
        assert first and stopped and proc.poll() is None, "the run ended before the stop"
        os.kill(stopped, signal.SIGSTOP)
        t0 = time.monotonic()
        while Path(f"/proc/{first}").exists() and time.monotonic() - t0 < 60:
            time.sleep(0.1)
        waited = time.monotonic() - t0
    finally:
        if stopped:
            os.kill(stopped, signal.SIGKILL)  # mlx.launch waits for it
        stdout, stderr = proc.communicate(timeout=60)
    assert 3 <= waited < 30, stderr
    assert "no answer from another rank for 3 s in batch" in stderr, stderr
    assert f"continue with: ppltop resume {run_dir}" in stderr
    record = read_run(run_dir)
    assert record.status == "incomplete" and len(record.batches_done) >= 2

"""The command line refuses what it cannot do with one line and exit status 2: numeric flags
out of range, flags that need adapters, run directories that hold a run or cannot be
written. A disk that fills up mid-run stops with one line and leaves a resumable run."""

from __future__ import annotations

import json
import os
import pty
import resource
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ppltop import demo
from support.cli import run_ppltop
from support.paths import SCRATCH

MODEL = ["--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR)]


def _refusal(proc) -> str:
    """The one line a refusal prints (the BLAS notice aside)."""
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("ppltop: BLAS")]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr[-2000:]
    return lines[0]


NUMBERS = [
    (["--batch-size", "0"], "--batch-size 0: must be at least 1"),
    (["--batch-size", "-4"], "--batch-size -4: must be at least 1"),
    (["--batch-size", "2.5"], "--batch-size '2.5': expected a whole number"),
    (["--max-seq-length", "1"], "--max-seq-length 1: must be at least 2"),
    (["--max-seq-length", "lots"], "--max-seq-length 'lots': expected a whole number"),
    (["--test-batches", "0"], "--test-batches 0: must be at least 1 (or -1)"),
    (["--test-batches", "-2"], "--test-batches -2: must be at least 1 (or -1)"),
    (["--seed", "-1"], "--seed -1: must be at least 0"),
    (["--seed", str(2**32)], f"--seed {2**32}: must be at most {2**32 - 1}"),
    (["--refresh", "0"], "--refresh 0.0: must be between 0.2 and 30.0"),
    (["--refresh", "100"], "--refresh 100.0: must be between"),
    (["--refresh", "nan"], "--refresh nan: must be between"),
    (["--refresh=-inf"], "--refresh -inf: must be between"),
    (["--split", "dev"], "argument --split: invalid choice: 'dev'"),
    (["--long-sequences", "slide"], "argument --long-sequences: invalid choice"),
    (["--batch-size"], "argument --batch-size: expected one argument"),
    (["open", "somewhere", "--refresh", "0"], "--refresh 0.0: must be between"),
    (["resume", "somewhere", "--refresh", "50"], "--refresh 50.0: must be between"),
    # an unknown flag with a value is named, not its value taken for a command
    (["--headless", "--lr", "1e-5"], "ppltop: unknown flag --lr (see ppltop --help)"),
    (["--headless", "--test-batch", "1"],
     "unknown flag --test-batch (did you mean --test-batches?)"),
    (["open", "somewhere", "--nofollow"], "unknown flag --nofollow (did you mean --no-follow?)"),
]


def test_numeric_flags_out_of_range():
    for args, expected in NUMBERS:
        line = _refusal(run_ppltop(*(MODEL if args[0] not in ("open", "resume") else []),
                                   *args, "--headless"))
        assert expected in line, (args, line)
        command = f"{args[0]} " if args[0] in ("open", "resume") else ""
        assert line.endswith(f"(see ppltop {command}--help)"), line


def test_flags_that_need_adapters():
    cases = [
        (["--kl"], "--kl: needs an adapter to compare with the reference"),
        (["--no-base"], "--no-base: without --adapter-path nothing would be scored"),
        (["--checkpoints"], "--checkpoints: needs --adapter-path folders"),
        (["--kl", "--no-base", "--adapter-path", str(demo.ADAPTER_DIRS["docs-net"])],
         "--kl with --no-base and one adapter: nothing to compare it with"),
    ]
    for args, expected in cases:
        line = _refusal(run_ppltop(*MODEL, *args, "--headless"))
        assert expected in line, (args, line)
    # a label that does not exist is found once the adapters are read
    line = _refusal(run_ppltop(*MODEL, "--reference", "nope", "--headless",
                               "--adapter-path", str(demo.ADAPTER_DIRS["docs-net"])))
    assert "--reference nope: no such label" in line


def test_run_directory_refusals(tmp_path):
    held = tmp_path / "held"
    held.mkdir()
    (held / "manifest.json").write_text("{}")
    line = _refusal(run_ppltop(*MODEL, "--headless", "--run-dir", str(held)))
    assert f"--run-dir {held}: already holds a run" in line
    assert f"ppltop resume {held}" in line and "--overwrite" in line
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    line = _refusal(run_ppltop(*MODEL, "--headless", "--run-dir", str(a_file / "run")))
    assert f"cannot write there ({a_file} is a file, not a folder)" in line
    line = _refusal(run_ppltop(*MODEL, "--headless", "--run-dir", str(a_file)))
    assert f"--run-dir {a_file}: is a file" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
def test_run_directory_not_writable(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        line = _refusal(run_ppltop(*MODEL, "--headless", "--run-dir", str(locked / "run")))
    finally:
        locked.chmod(0o700)
    assert f"cannot write there (folder {locked} is not writable)" in line


def _data_with_one_long_record(folder: Path, n_short: int) -> Path:
    """Short records and one long one: with --batch-size 1 its batch alone writes a large
    file, so a per-file size limit between the two fails that batch and no other."""
    folder.mkdir()
    texts = (demo.DATA_DIR / "test.jsonl").read_text().splitlines()
    short = [json.loads(t)["text"][:60] for t in texts[:n_short]]
    long = " ".join(json.loads(t)["text"] for t in texts[:12])[:4000]
    records = [{"text": t} for t in short] + [{"text": long}]
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def _run_with_file_size_limit(args: list[str], limit: int) -> subprocess.CompletedProcess:
    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "ppltop", *args], capture_output=True,
                          text=True, cwd=SCRATCH, timeout=300, stdin=subprocess.DEVNULL,
                          preexec_fn=limit_file_size,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def test_disk_full_before_the_first_batch(tmp_path):
    """The manifest cannot be written: one line, exit 2, no half-written manifest left.
    (Intel OpenMP may warn that it cannot size its shared memory under the limit.)"""
    run_dir = tmp_path / "run"
    proc = _run_with_file_size_limit([*MODEL, "--headless", "--run-dir", str(run_dir)], 800)
    lines = [ln for ln in proc.stderr.strip().splitlines()
             if not ln.startswith(("ppltop: BLAS", "OMP: Warning"))]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert lines == [f"ppltop: --run-dir {run_dir}: cannot write there (File too large); "
                     "free some space or choose another folder"], proc.stderr[-3000:]
    assert not list(run_dir.glob("manifest.json*"))


def test_disk_full_at_the_exports_keeps_the_figures(tmp_path):
    """Every batch fits, the whole-run token export does not: a warning, the figures, the
    JSON, and a finished run directory."""
    run_dir, out = tmp_path / "run", tmp_path / "s.json"
    proc = _run_with_file_size_limit([*MODEL, "--headless", "--run-dir",
                                      str(run_dir), "--json", str(out)], 80_000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (f"ppltop: warning: could not write the exports (summary.csv, examples.csv, "
            f"tokens-*.npz) to {run_dir} (File too large)") in proc.stderr
    assert "Test loss" in proc.stdout and json.loads(out.read_text())["runs"]
    from ppltop.core.store.run_dir import read_run

    assert read_run(run_dir, with_results=False).status == "finished"


def test_disk_full_mid_run_stops_with_one_line_and_resumes(tmp_path):
    """RLIMIT_FSIZE makes writes past a size fail with EFBIG, as a full disk fails them with
    ENOSPC (Python ignores SIGXFSZ, so the write raises OSError)."""
    n_short = 11
    # the seed that puts the long record's batch in the middle of the run (batches are
    # sorted by length, then shuffled with the seed)
    seed = next(s for s in range(100)
                if 4 <= list(np.random.default_rng(s).permutation(n_short + 1)).index(n_short)
                <= 8)
    data = _data_with_one_long_record(tmp_path / "data", n_short)
    run_dir = tmp_path / "run"
    args = ["--model", str(demo.MODEL_DIR), "--data", str(data), "--batch-size", "1",
            "--seed", str(seed), "--headless", "--run-dir", str(run_dir)]
    limit = 24 << 10
    proc = _run_with_file_size_limit(args, limit)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    said = [ln for ln in lines if "File too large" in ln or "rror" in ln]
    assert said == lines[-1:], proc.stderr[-3000:]  # one line, the last
    assert said[0].startswith("ppltop: ") and f"ppltop resume {run_dir}" in said[0], said[0]
    from ppltop.core.store.run_dir import read_run

    record = read_run(run_dir)  # readable, every batch written is whole
    assert 1 <= len(record.batches_done) < n_short + 1, record.batches_done
    assert not any(p.stat().st_size > limit for p in run_dir.rglob("*.npz"))
    resumed = run_ppltop("resume", str(run_dir), "--headless")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"{n_short + 1} examples" in resumed.stdout
    assert len(read_run(run_dir).batches_done) == n_short + 1


def test_detach_with_headless_starts_and_does_not_watch(tmp_path):
    """In a terminal, --detach opens the dashboard on the background run; with --headless it
    only starts the run and says how to watch it."""
    data = _data_with_one_long_record(tmp_path / "data", 3)
    run_dir = tmp_path / "run"
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ppltop", "--model", str(demo.MODEL_DIR),
                             "--data", str(data), "--detach", "--headless", "--loss-only",
                             "--run-dir", str(run_dir)],
                            stdin=secondary, stdout=secondary, stderr=secondary, cwd=SCRATCH)
    os.close(secondary)
    output, deadline = b"", time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if select.select([primary], [], [], 0.5)[0]:
            try:
                output += os.read(primary, 65536)
            except OSError:
                break
    try:
        assert proc.wait(timeout=max(1, deadline - time.monotonic())) == 0, output[-2000:]
    finally:
        os.close(primary)
    assert f"ppltop open {run_dir}".encode() in output
    from ppltop.core.store.run_dir import read_run

    while time.monotonic() < deadline and read_run(run_dir, with_results=False).finished is None:
        time.sleep(0.5)  # the background run goes on without the terminal
    assert read_run(run_dir, with_results=False).status == "finished"

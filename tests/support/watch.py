"""`ppltop --watch` for the tests: a folder of real checkpoints, and a headless watch run
until it waits for new ones."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from ppltop import demo
from support.models import make_adapter
from support.paths import SCRATCH
from support.waiting import wait_until

SCORE = ["--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR), "--test-batches", "1"]


def written_long_ago(folder) -> None:
    """Date a checkpoint folder's files an hour back, as a finished training leaves them: a
    watch then finds them all stable at once, whatever seconds apart a loaded machine
    copied them (it waits a second for a young file, and would score them one by one)."""
    an_hour_ago = time.time() - 3600
    for path in folder.iterdir():
        os.utime(path, (an_hour_ago, an_hour_ago))


def checkpoint_folder(root) -> os.PathLike:
    """An adapter folder as `mlx_lm.lora --save-every 100` leaves it after 200 steps."""
    folder = root / "run1"
    folder.mkdir()
    for step, seed in ((100, 1), (200, 2)):
        one = make_adapter(demo.MODEL_DIR, root / f"a{step}", seed=seed)
        shutil.copy(one / "adapter_config.json", folder / "adapter_config.json")
        shutil.copy(one / "adapters.safetensors", folder / f"{step:07d}_adapters.safetensors")
    written_long_ago(folder)
    return folder


def run_watch(folder, run_dir, *flags) -> tuple[int, str, str]:
    """`ppltop --watch --headless` until it waits for new checkpoints, then Ctrl-C:
    (exit status, stdout, stderr)."""
    err = run_dir.parent / f"{run_dir.name}.err"
    with open(err, "w") as err_fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ppltop", *SCORE, "--adapter-path", str(folder), "--watch",
             "--headless", "--run-dir", str(run_dir), *flags],
            stdout=subprocess.PIPE, stderr=err_fh, text=True, cwd=SCRATCH,
            stdin=subprocess.DEVNULL, env={**os.environ})
        def waiting() -> bool:
            assert proc.poll() is None, err.read_text()
            return "waiting for new checkpoints" in err.read_text()

        try:
            wait_until(waiting, 240, "the watch to wait for new checkpoints", interval=0.2)
            proc.send_signal(signal.SIGINT)
            stdout, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    return proc.returncode, stdout, err.read_text()

"""`ppltop --watch` under the dashboard, in a real terminal: the curve comes first and grows
as a checkpoint appears, the PPL panel follows the checkpoint being scored, q ends the
watch with the figures a separate `--checkpoints` run gives."""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
import uuid

import pytest

from ppltop import demo
from support.cli import run_ppltop
from support.models import make_adapter
from support.tmux import exit_status, tmux, wait_for_screen

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

KEEP = ("label", "loss", "ppl", "ppl_ci95", "tokens", "examples", "iteration")


def _figures(path) -> list[dict]:
    return [{k: run.get(k) for k in KEEP} for run in json.loads(path.read_text())["runs"]]


def test_watch_in_the_dashboard_follows_new_checkpoints_and_q_ends_it(tmp_path):
    folder = tmp_path / "run1"
    folder.mkdir()
    later = tmp_path / "later"
    later.mkdir()
    for step, seed in ((100, 1), (200, 2), (300, 3)):
        one = make_adapter(demo.MODEL_DIR, tmp_path / f"a{step}", seed=seed)
        shutil.copy(one / "adapter_config.json", folder / "adapter_config.json")
        into = folder if step < 300 else later  # the third comes while the watch runs
        shutil.copy(one / "adapters.safetensors", into / f"{step:07d}_adapters.safetensors")
    common = ["--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR),
              "--adapter-path", str(folder), "--test-batches", "1"]
    status, watched = tmp_path / "status", tmp_path / "watch.json"
    session = f"ppltop-{uuid.uuid4().hex[:8]}"
    command = (f"cd {tmp_path} && {sys.executable} -m ppltop {' '.join(common)} --watch "
               f"--run-dir {tmp_path / 'w'} --json {watched}; echo $? > {status}; sleep 60")
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    try:
        wait_for_screen(session, "Loss by iteration", timeout=120)  # the curve first
        wait_for_screen(session, "run1@100", timeout=120)
        screen = tmux("capture-pane", "-p", "-t", session)
        assert "run1@300" not in screen
        time.sleep(1)
        shutil.copy(later / "0000300_adapters.safetensors", folder)
        deadline = time.monotonic() + 120
        while not re.search(r"300 run1@300 +[\d.]+ \[", screen):  # its row, with figures
            assert time.monotonic() < deadline, screen
            time.sleep(0.3)
            screen = tmux("capture-pane", "-p", "-t", session)
        shown = {m.group(1): m.group(2)
                 for m in re.finditer(r"\d+ (run1@\d+) +([\d.]+) \[", screen)}
        tmux("send-keys", "-t", session, "Escape")  # the dashboard: it follows the newest
        wait_for_screen(session, "Running PPL · run1@300")
        panel = tmux("capture-pane", "-p", "-t", session)
        panel_ppl = re.search(r"PPL ([\d.]+) +95% CI", panel).group(1)
        tmux("send-keys", "-t", session, "q")
        assert exit_status(status, timeout=60) == "0"
        after = tmux("capture-pane", "-p", "-t", session, "-S", "-200")
        assert "== checkpoints of run1 by iteration (best: " in after
        assert "Traceback" not in after
    finally:
        tmux("kill-session", "-t", session)
    separate = tmp_path / "separate.json"
    out = run_ppltop(*common, "--checkpoints", "--headless", "--run-dir",
                     str(tmp_path / "c"), "--json", str(separate))
    assert out.returncode == 0, out.stderr
    assert _figures(watched) == _figures(separate)
    by_label = {r["label"]: r for r in json.loads(watched.read_text())["runs"]}
    assert set(shown) == {"run1@100", "run1@200", "run1@300"}
    for label, loss in shown.items():  # the curve's table shows the JSON's own figure
        assert loss == f"{by_label[label]['loss']:.4f}"
    assert panel_ppl == f"{by_label['run1@300']['ppl']:.3f}"  # and the panel its PPL

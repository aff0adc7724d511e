"""End to end in a real terminal: tmux runs `ppltop` on the demo, we read the screen, press q."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from conftest import run_ppltop

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


SOCKET = f"ppltop-test-{uuid.uuid4().hex[:8]}"
"""A tmux server of our own (no user config), so that no other client sets the size."""


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, "-f", "/dev/null", *args],
                          capture_output=True, text=True, check=True).stdout


def test_dashboard_in_tmux_shows_the_headless_figures(tmp_path):
    headless = run_ppltop("--headless")
    assert headless.returncode == 0, headless.stderr
    base_ppl = re.search(r"== base ==\n.*\n.*\n  ppltop figure: loss [\d.]+  ppl ([\d.]+)",
                         headless.stdout).group(1)
    status = tmp_path / "status"
    session = f"ppltop-{uuid.uuid4().hex[:8]}"
    command = f"cd {tmp_path} && {sys.executable} -m ppltop; echo $? > {status}; sleep 60"
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    try:
        deadline = time.monotonic() + 300
        screen = ""
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p", "-t", session)
            if "finished" in screen and "PPL " in screen:
                break
            time.sleep(0.5)
        assert "finished" in screen, screen
        shown = re.search(r"PPL ([\d.]+)  95% CI", screen).group(1)
        assert f"{float(base_ppl):.3f}" == shown
        for pane in ("Config", "Running PPL", "Batch loss", "Log"):
            assert pane in screen
        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not status.exists():
            time.sleep(0.2)
        assert status.read_text().strip() == "0"
        after = tmux("capture-pane", "-p", "-t", session, "-S", "-60")
        assert "Test loss" in after and "Traceback" not in after
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-session", "-t", session],
                       capture_output=True)


def test_detached_run_survives_the_terminal_closing(tmp_path):
    """--detach: the scoring outlives its terminal (SIGHUP); the dashboard only watched it."""
    from ppltop import demo
    from ppltop.core.run_store import read_run

    run_dir = tmp_path / "run"
    session = f"ppltop-{uuid.uuid4().hex[:8]}"
    command = (f"cd {tmp_path} && {sys.executable} -m ppltop --detach --run-dir {run_dir} "
               f"--batch-size 1; sleep 60")
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if "Running PPL" in tmux("capture-pane", "-p", "-t", session):
                break
            time.sleep(0.3)
        assert read_run(run_dir, with_results=False).status == "incomplete"
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-session", "-t", session],
                       capture_output=True)
    deadline = time.monotonic() + 300
    while read_run(run_dir, with_results=False).status != "finished":
        assert time.monotonic() < deadline, "the detached run did not finish"
        time.sleep(0.5)
    record = read_run(run_dir)
    assert set(record.results) == {"base", *demo.ADAPTER_DIRS}
    n_examples = record.manifest["n_examples"]
    assert all(len(r) == n_examples for r in record.results.values())

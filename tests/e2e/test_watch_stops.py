"""A headless watch stopped by SIGHUP stops as a plain headless run does (issue #22, 2):
the one stop policy (`run.stops.StopPolicy`) stops it after the batch, it prints and keeps
what it scored, exits 130, and its folder opens afterwards. A real `ppltop --watch`
process on the demo model, a real signal."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time

from ppltop.run.watch_replay import read_watch
from support.cli import run_ppltop
from support.paths import SCRATCH
from support.watch import SCORE, checkpoint_folder

STOPPED = 130
"""What a stopped headless run exits with (run/score.py)."""


def _lines_of(stream) -> queue.Queue:
    """The lines of `stream`, read by a thread as they come (None at its end)."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _wait_for_line(lines: queue.Queue, text: str, seen: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {text!r} on stderr in {timeout}s:\n{''.join(seen)}"
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            continue
        assert line is not None, f"ended before {text!r}:\n{''.join(seen)}"
        seen.append(line)
        if text in line:
            return


def _hangups_by_default() -> None:
    """In the child: SIGHUP as a terminal's process gets it. A suite started under nohup
    passes SIGHUP ignored to every child, and ppltop rightly keeps a nohup'd run going."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def test_sighup_stops_a_headless_watch_as_it_stops_a_run(tmp_path):
    run_dir = tmp_path / "w"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ppltop", *SCORE, "--adapter-path",
         str(checkpoint_folder(tmp_path)), "--watch", "--headless", "--run-dir", str(run_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=SCRATCH,
        stdin=subprocess.DEVNULL, env={**os.environ}, preexec_fn=_hangups_by_default)
    seen: list[str] = []
    try:
        errors, out = _lines_of(proc.stderr), _lines_of(proc.stdout)
        _wait_for_line(errors, "waiting for new checkpoints", seen, timeout=240)
        proc.send_signal(signal.SIGHUP)
        status = proc.wait(timeout=120)
        stdout = "".join(iter(lambda: out.get(timeout=10), None))
        while (line := errors.get(timeout=10)) is not None:
            seen.append(line)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = "".join(seen)
    assert status == STOPPED, log
    assert "ppltop: watch: stopping (SIGHUP)" in log
    assert f"ppltop: watch: stopped by SIGHUP; what it scored: ppltop open {run_dir}" in log
    assert "Traceback" not in log
    assert "== checkpoints of run1 by iteration" in stdout  # the figures, still printed
    assert read_watch(run_dir).stopped_by == "SIGHUP"
    opened = run_ppltop("open", str(run_dir), "--headless")
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout[opened.stdout.index("== checkpoints"):] == \
        stdout[stdout.index("== checkpoints"):]

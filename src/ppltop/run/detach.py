"""`--detach`: the same command line scored by a background process in its own session (it
survives the terminal closing), its log in RUN_DIR/ppltop.log; the one launcher of a plain
run and of a watch."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

LOG = "ppltop.log"
STARTED_WITHIN_S = 600
"""How long a detached run may take to write its run directory before it is given up on."""


def launch(request) -> subprocess.Popen:
    """The background process: this command line without --detach, headless, in the run
    directory chosen here."""
    run_dir = Path(request.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    child_args = [a for a in request.argv if a != "--detach"]
    if not request.run_dir_given:
        child_args += ["--run-dir", str(run_dir)]
    with open(run_dir / LOG, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "ppltop", *child_args, "--headless"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, env={**os.environ})


def detach_run(request, read_back) -> int:
    """A run in the background, then its run directory watched in the dashboard (headless:
    where to watch it); `read_back`: `run_set.read_back`, the one reader of a run set."""
    run_dir = Path(request.run_dir)
    child = launch(request)
    print(f"ppltop: scoring in the background (pid {child.pid}), log in "
          f"{run_dir / LOG}", file=sys.stderr)
    deadline = time.monotonic() + STARTED_WITHIN_S
    while not _started(run_dir):
        if child.poll() is not None:
            print(f"ppltop: the background run stopped (exit {child.returncode}); see "
                  f"{run_dir / LOG}", file=sys.stderr)
            return child.returncode or 1
        if time.monotonic() > deadline:
            return 1
        time.sleep(0.2)
    if request.headless:  # started, not watched
        print(f"ppltop: watch it with: ppltop open {run_dir}")
        return 0
    from .dashboard import show_run_set

    return show_run_set(read_back(request), detached_pid=child.pid)


def _started(run_dir: Path) -> bool:
    """The run directory holds a run that has started (a run set: its first part)."""
    from ..core.errors import InputError
    from ..core.store.records import MANIFEST
    from ..core.store.run_dir import EVENTS, parts_of, read_run_set

    try:
        record = read_run_set(run_dir) if run_dir.is_dir() else None
    except InputError:  # its record half written: not yet
        return False
    parts = parts_of(run_dir, record) if record is not None else []
    first = run_dir / parts[0] if parts else run_dir
    return (first / MANIFEST).exists() and (first / EVENTS).exists()


def detach_watch(request) -> int:
    """`--watch --detach`: the watch beside the training; its log and runs in RUN_DIR."""
    run_dir = Path(request.run_dir)
    child = launch(request)
    print(f"ppltop: watching in the background (pid {child.pid}; stop it with kill "
          f"{child.pid}), log in {run_dir / LOG}; its runs: ppltop runs {run_dir}",
          file=sys.stderr)
    return 0

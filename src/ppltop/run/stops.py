"""The words of a stopped run, the same headless and in the dashboard: how to continue it,
and what a stop by each signal says at once."""

from __future__ import annotations

import signal
from pathlib import Path


def resume_hint(run_dir: Path | None) -> str:
    """What a stopped run's last line adds: how to continue it (nothing without a run
    directory to resume: `ppltop open` only followed one)."""
    if run_dir is None:
        return ""
    return (f"; the run directory keeps every finished batch; continue with: ppltop resume "
            f"{run_dir}")


def stop_words(signum: int) -> str:
    """What a stop's first line says in brackets: only Ctrl-C has a second press that quits
    at once; SIGTERM and SIGHUP are named."""
    return "Ctrl-C again to quit now" if signum == signal.SIGINT else signal.Signals(signum).name

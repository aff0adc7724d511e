"""The plain run: one evaluation in this process (`PlainRun`, the run set of one part),
prepared, its run directory opened, then shown headless or under the dashboard as every run
set is (`run_set_parts.show`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .run_set_parts import RunSet, say_loading, show

DEFAULT_RUNS_FOLDER = "ppltop-runs"
"""Where runs go unless --run-dir says otherwise (relative to the working folder)."""


def default_run_dir(model: Path) -> Path:
    name = Path(str(model)).name or "model"
    return Path(DEFAULT_RUNS_FOLDER) / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"


def _say_resumed(events, run_dir: Path):
    """The events, with a log line saying the run was resumed right after it starts."""
    from ..core.store.events import Notice, RunStarted

    for event in events:
        yield event
        if isinstance(event, RunStarted):
            yield Notice("info", f"resumed {run_dir}: the batches it kept are read back, "
                                 "the others scored now")


class PlainRun(RunSet):
    """One evaluation recorded in RUN_DIR: its one part ("") is the run itself. `writer`:
    the run directory opened already (the ranks of mlx.launch agree on it first)."""

    def __init__(self, evaluation, request, blas, resume: bool = False, writer=None):
        super().__init__(evaluation.config, request, blas)
        self.evaluation, self.resume, self.writer = evaluation, resume, writer
        self.parts = {"": evaluation.config}

    def prepare(self) -> None:
        """Prepare (bad input fails here with one line, before anything is written), then
        open the run directory."""
        from ..core.store.run_dir import RunWriter

        if self.evaluation.plan is None:
            say_loading()
            self.evaluation.prepare()
        if self.writer is None:
            self.writer = RunWriter(self.run_dir, self.evaluation.manifest(self.blas),
                                    resume=self.resume, overwrite=self.request.overwrite)
            print(f"ppltop: run directory {self.run_dir}", file=sys.stderr, flush=True)

    def events(self):
        from ..core.store.recorder import recorded

        events = self.evaluation.events()
        return recorded(_say_resumed(events, self.run_dir) if self.resume else events,
                        self.writer)

    def stop(self) -> None:
        self.evaluation.cancel()


def run_evaluation(evaluation, request, blas, resume: bool = False) -> int:
    """Prepare, open the run directory, then score headless or under the dashboard."""
    from ..core.distributed.sharding import expected_size
    from ..core.errors import InputError

    if resume and expected_size() > 1:  # every rank would write the same run directory
        raise InputError("ppltop resume runs in one process: start it without mlx.launch "
                         "(the figures are the same)")
    return show(PlainRun(evaluation, request, blas, resume=resume))

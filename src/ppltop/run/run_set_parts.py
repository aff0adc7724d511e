"""What the modes of a run set share while they score and when they are read back: the
parts scored one after another in this process (`RunSetParts`), a run set read back as one
stream (`OpenedRunSet`), and the loading hint. The modes (score, splits, watch) import this;
`run_set` dispatches to the modes, so nothing here imports them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


def say_loading() -> None:
    """A progress hint before the model loads, for people (not for logs)."""
    if sys.stderr.isatty():
        print("ppltop: loading model and data ...", file=sys.stderr, flush=True)


class RunSetParts:
    """The parts of a run set scored one at a time in this process, the model loaded once:
    each part an evaluation recorded in its own run directory RUN_DIR/<part>; `stop` ends
    the part in flight after its batch and starts no other."""

    def __init__(self, request, blas):
        self.request, self.blas = request, blas
        self.run_dir = Path(request.run_dir)
        self.current = None
        """The evaluation scoring now, None between parts."""
        self.stopping = False

    def writer_of(self, name: str, evaluation):
        """The writer of the part's run directory (refused where a run is, unless
        --overwrite)."""
        from ..core.store.run_dir import RunWriter

        return RunWriter(self.run_dir / name, evaluation.manifest(self.blas),
                         overwrite=self.request.overwrite)

    def recorded(self, evaluation, writer):
        """The part's events, each recorded in its run directory first."""
        from ..core.store.recorder import recorded

        self.current = evaluation
        try:
            yield from recorded(evaluation.events(), writer)
        finally:
            self.current = None

    def stop(self) -> None:
        self.stopping = True
        if self.current is not None:
            self.current.cancel()



@dataclass(frozen=True)
class OpenedRunSet:
    """A run set read back (`ppltop open`): the config it was scored with, the manifest of
    its first run (the machine and versions), and all of it as one stream of events."""

    config: object
    manifest: object
    events: Callable[[], Iterator]
    stop: Callable[[], None] = lambda: None
    """Stops following a run being written (nothing to stop in a finished one)."""
    printed: Callable[[object], int] | None = None
    """Headless, when it is not printed as one run's events are: a run over splits prints
    each split under its name, then the labels across them."""

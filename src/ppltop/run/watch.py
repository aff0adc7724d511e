"""`ppltop --watch`: follow adapter folders while `mlx_lm.lora --train` writes them.

The model is loaded once. The base model is scored first (unless --no-base), then every
checkpoint already in the folders, then each new one as it is complete
(`checkpoint_watch.CheckpointWatcher`), the newest waiting one first. Each is scored once,
as its own ordinary run, in a sub-folder of the watch's run directory:

    RUN_DIR/watch.json            what is watched (marks the folder as a watch)
    RUN_DIR/adapters/<label>/     the checkpoint, frozen (config + weights)
    RUN_DIR/<label>/              its run directory: `ppltop open`, `ppltop resume` work

The watch is a run set (`WatchRun`, its stream `watch_session.WatchSession.events`),
headless and under the dashboard alike. Ctrl-C (or SIGTERM) while waiting ends the watch
at once; during a checkpoint it stops after the batch in flight (that checkpoint's run
stays resumable and is left out of the curve); headless, SIGHUP stops it the same way and
it exits 130, as a stopped run does (`stops.StopPolicy`, the one policy of both). Then the
figures of everything scored are printed as one run's, with the checkpoint table, and
written with --json / --csv.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from ..core.errors import InputError
from .stops import stop_words
from .watch_replay import read_watch
from .watch_session import WatchSession


class WatchRun(WatchSession):
    """A watch started from the command line: what it says when it stops and ends."""

    def __init__(self, config, request, blas):
        super().__init__(config, request, blas, Path(request.run_dir))

    def stopping_line(self, signum: int) -> str:
        return f"ppltop: watch: stopping ({stop_words(signum)})"

    def ended_headless(self, outcome) -> int:
        """The figures of everything the watch scored, printed and written. Ending the
        watch is its normal end (0), unless it cut a checkpoint short or the terminal hung
        up: then it was stopped, as a plain run is (130)."""
        from ..headless import HeadlessPrinter
        from .outputs import write_outputs

        stops = outcome.stops
        self.cut_short = self.cut_short or outcome.interrupted
        if stops.stopped_by:
            _record_stop(self.run_dir, stops.stopped_by)
        merged = outcome.last
        if merged is None and self.finished:  # a second Ctrl-C: what is scored is kept
            merged = self.merged()
            HeadlessPrinter(self.config, self.blas, out=sys.stdout, err=sys.stderr).handle(merged)
        if merged is not None:
            write_outputs(self.request, self.config, merged, self.blas)
        else:
            print("ppltop: watch: nothing was scored", file=sys.stderr)
        if stops.hung_up:
            print(f"ppltop: watch: stopped by {stops.stopped_by}; what it scored: ppltop open "
                  f"{self.run_dir}", file=sys.stderr, flush=True)
        if outcome.failed:
            return 1
        return 130 if self.cut_short or stops.hung_up else 0

    def ended_dashboard(self, status: int) -> int:
        for line in self.left_out:  # under the figures the dashboard left on the terminal
            print(f"ppltop: watch: {line}", file=sys.stderr)
        if not self.finished:
            print("ppltop: watch: nothing was scored", file=sys.stderr)
        if status == 1:
            return 1
        # as headless: ending the watch (q, Ctrl-C, a signal) is its normal end, unless it
        # cut a checkpoint short
        return 130 if self.cut_short else 0


def _record_stop(run_dir: Path, stopped_by: str) -> None:
    """The watch's record says which signal ended it (`ppltop runs`, a later reader)."""
    from ..core.store.run_dir import write_run_set

    try:
        write_run_set(run_dir, replace(read_watch(run_dir), stopped_by=stopped_by))
    except InputError:  # the runs are all there; only this word is lost
        pass

"""Any run set headless, in one loop: its one stream printed (progress on stderr, figures on
stdout) while Ctrl-C, SIGTERM and SIGHUP stop after the batch in flight (`stops.StopPolicy`),
then what the set says at its end and --json / --csv. A stop ends with the line the
dashboard leaves, `ppltop: stopped by SIGINT; ... continue with: ppltop resume RUN_DIR`."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from .stops import StopPolicy, resume_hint


@dataclass
class Outcome:
    """What the headless loop saw of a run set's stream."""

    stops: StopPolicy
    finished: dict = field(default_factory=dict)
    """Each part's `RunFinished` (stopped or not) by split; "" when there are no splits."""
    part: str = ""
    """The split last started ("" without splits)."""
    several: bool = False
    """A run over splits: each part's figures, then the labels across them."""
    interrupted: bool = False
    """A second Ctrl-C quit at once."""
    failed: bool = False
    """Scoring failed (its line is said)."""

    def note(self, event) -> None:
        from ..core.store.events import RunFinished, SplitStarted

        if isinstance(event, SplitStarted):
            self.part, self.several = event.split, True
        elif isinstance(event, RunFinished):
            self.finished[self.part] = event

    @property
    def last(self):
        """The `RunFinished` of the part in flight last, or None."""
        return self.finished.get(self.part)


def run_headless(run_set) -> int:
    """Score (or read back) `run_set` headless; its exit status."""
    from ..core.errors import ScoringError
    from ..core.store.breakdown_events import with_breakdowns
    from ..headless import HeadlessPrinter

    printer = HeadlessPrinter(run_set.config, run_set.blas, out=sys.stdout, err=sys.stderr)
    outcome = Outcome(StopPolicy(run_set.stop, lambda signum: print(
        run_set.stopping_line(signum), file=sys.stderr, flush=True)))
    try:
        with outcome.stops:
            for event in with_breakdowns(run_set.events, run_set.config)():
                printer.handle(event)
                outcome.note(event)
    except KeyboardInterrupt:
        outcome.interrupted = True
    except ScoringError as e:
        print(f"ppltop: {e}", file=sys.stderr)
        outcome.failed = True
    return run_set.ended_headless(outcome)


def ended(run_set, outcome: Outcome) -> int:
    """The end of a run or of a run over splits: why it stopped, the parts not started,
    the labels across the splits, --json and --csv of what finished."""
    hint = resume_hint(run_set.resume_dir(outcome.part))
    last = outcome.last
    if outcome.interrupted:
        print(f"ppltop: interrupted{hint or '; the run directory keeps every finished batch'}",
              file=sys.stderr)
        status = 130
    elif outcome.failed:
        status = 1
    else:
        cancelled = any(f.cancelled for f in outcome.finished.values())
        if outcome.stops.stopped_by and last is not None and last.cancelled:
            print(f"ppltop: stopped by {outcome.stops.stopped_by}{hint}", file=sys.stderr,
                  flush=True)
        status = 130 if cancelled else 0
    left = run_set.left_line(outcome) if status else None
    if left:
        print(left, file=sys.stderr)
    write_headless_outputs(run_set, outcome)
    return status


def write_headless_outputs(run_set, outcome: Outcome) -> None:
    """--json, --csv, groups.csv of what finished; after several parts, the labels across
    them."""
    from .across_parts import across_text, write_across_outputs
    from .outputs import write_outputs

    request, config, blas, finished = run_set.request, run_set.config, run_set.blas, \
        outcome.finished
    if outcome.several:
        sys.stdout.write(across_text(run_set.record, finished, each=False))
        if finished:
            write_across_outputs(request, config, run_set.record, finished, blas)
    elif outcome.last is not None:
        write_outputs(request, config, outcome.last, blas)

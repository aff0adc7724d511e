"""One evaluation in this process: prepare it, open its run directory, then score headless
(progress on stderr, figures on stdout, Ctrl-C stops after the batch) or under the dashboard."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .stops import StopPolicy, resume_hint, stop_words

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


def run_evaluation(evaluation, request, blas, resume: bool = False) -> int:
    """Prepare, open the run directory, then score headless or under the dashboard."""
    from ..core.distributed.sharding import expected_size
    from ..core.errors import InputError
    from ..core.store.recorder import recorded
    from ..core.store.run_dir import RunWriter

    if resume and expected_size() > 1:  # every rank would write the same run directory
        raise InputError("ppltop resume runs in one process: start it without mlx.launch "
                         "(the figures are the same)")
    if evaluation.plan is None:
        from .run_set_parts import say_loading

        say_loading()
        evaluation.prepare()  # bad input fails here with one line, before anything is written
    run_dir = request.run_dir
    writer = RunWriter(run_dir, evaluation.manifest(blas), resume=resume,
                       overwrite=request.overwrite)
    print(f"ppltop: run directory {run_dir}", file=sys.stderr, flush=True)

    def make_events():
        events = evaluation.events()
        return recorded(_say_resumed(events, run_dir) if resume else events, writer)

    if request.headless:
        return run_headless(evaluation.config, request, blas, make_events, evaluation.cancel,
                            resume_dir=run_dir)
    from .dashboard import run_dashboard

    return run_dashboard(evaluation.config, request, blas, make_events, evaluation.cancel)


def run_headless(config, request, blas, make_events, cancel, resume_dir: Path | None = None) -> int:
    """Score headless, then write --json and --csv of the run (stopped or not);
    `resume_dir`: the run directory a stop is continued from (None: not resumable here)."""
    from .outputs import write_outputs

    status, finished = score_headless(config, blas, make_events, cancel, resume_dir)
    if finished is not None:
        write_outputs(request, config, finished, blas)
    return status


def score_headless(config, blas, make_events, cancel,
                   resume_dir: Path | None = None) -> tuple[int, object]:
    """The events printed (progress on stderr, figures on stdout) while Ctrl-C, SIGTERM and
    SIGHUP stop after the batch in flight: (exit status, the `RunFinished` or None). A stop
    ends with the line the dashboard leaves, `ppltop: stopped by SIGINT; ... continue with:
    ppltop resume RUN_DIR` (`resume_dir`)."""
    from ..core.errors import ScoringError
    from ..core.store.breakdown_events import with_breakdowns
    from ..core.store.events import RunFinished
    from ..headless import HeadlessPrinter

    make_events = with_breakdowns(make_events, config)
    printer = HeadlessPrinter(config, blas, out=sys.stdout, err=sys.stderr)
    hint = resume_hint(resume_dir)
    kept = "; the run stays resumable" if resume_dir is not None else ""

    def say(signum: int) -> None:
        print(f"ppltop: stopping after this batch ({stop_words(signum)}{kept})",
              file=sys.stderr, flush=True)

    finished = None
    try:
        with StopPolicy(cancel, say) as stops:
            for event in make_events():
                printer.handle(event)
                if isinstance(event, RunFinished):
                    finished = event
    except KeyboardInterrupt:
        print(f"ppltop: interrupted{hint or '; the run directory keeps every finished batch'}",
              file=sys.stderr)
        return 130, None
    except ScoringError as e:
        print(f"ppltop: {e}", file=sys.stderr)
        return 1, None
    if stops.stopped_by and finished is not None and finished.cancelled:
        print(f"ppltop: stopped by {stops.stopped_by}{hint}", file=sys.stderr, flush=True)
    return (130 if finished is not None and finished.cancelled else 0), finished

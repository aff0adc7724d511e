"""One evaluation over the ranks of `mlx.launch`: rank 0 writes the run directory and prints
as a single headless process does, the other ranks score their rows quietly."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..core.store.events import BatchScored, RunFinished

_GRACE_S = 0.5
"""How long a rank other than 0 waits before exiting with an error that rank 0 reports:
mlx.launch ends every rank as soon as one exits with an error status."""


def run_sharded(config, args, blas, run_dir) -> int:
    """One evaluation over the ranks of `mlx.launch` (see `core/distributed/sharding.py`).

    Rank 0 writes the run directory and prints as a single headless process does; the other
    ranks score their rows and print nothing but errors. All ranks load and plan, then meet
    once: an error on any rank is reported by rank 0, one line each, exit status 2.
    """
    from ..core.distributed.sharding import (
        QuietExit,
        RankLost,
        Ranks,
        Sharding,
        check_batch_size,
        env_rank,
        expected_size,
        plan_key,
    )
    from ..core.engine.evaluation import Evaluation
    from ..core.errors import InputError
    from ..core.store.recorder import recorded
    from ..core.store.run_dir import MANIFEST, RunWriter
    from .score import run_headless

    try:  # the same flags on every rank: rank 0 says what is wrong, once
        if getattr(args, "detach", False):
            raise InputError("--detach does not combine with mlx.launch: start mlx.launch "
                             "itself under nohup or tmux, and watch with ppltop open RUN_DIR")
        check_batch_size(config.batch_size, expected_size())
    except InputError:
        if env_rank():
            time.sleep(_GRACE_S)
            return 2
        raise
    ranks = Ranks.join()
    if ranks is None:
        return 2
    evaluation = Evaluation(config, sharding=Sharding(ranks))
    ranks.run_dir = run_dir
    writer, error, created = None, None, False
    try:
        evaluation.prepare()
        if ranks.rank == 0:
            created = not Path(run_dir).exists()
            writer = RunWriter(run_dir, evaluation.manifest(blas),
                               overwrite=getattr(args, "overwrite", False))
    except InputError as e:
        error = str(e)
    try:
        ranks.agree(error, "" if error else plan_key(evaluation.scoring_plan))
    except QuietExit as e:
        time.sleep(_GRACE_S)
        return e.code
    except (InputError, RankLost) as e:
        if writer is not None:  # nothing was scored: leave no run behind
            writer.close()
            _remove_unstarted(Path(run_dir), created, MANIFEST)
        if isinstance(e, RankLost):
            print(f"ppltop: {e}", file=sys.stderr)
            return 1
        raise
    if ranks.rank != 0:
        return _score_quietly(evaluation, ranks)
    print(f"ppltop: run directory {run_dir} ({ranks.size} ranks)", file=sys.stderr, flush=True)
    args.run_dir = run_dir
    try:
        return run_headless(config, args, blas, lambda: recorded(evaluation.events(), writer),
                            evaluation.cancel, resume_dir=run_dir)
    except RankLost as e:
        print(f"ppltop: {e}; the run directory keeps every batch before it; continue with: "
              f"ppltop resume {run_dir}", file=sys.stderr)
        return 1


def _remove_unstarted(run_dir: Path, created: bool, manifest: str) -> None:
    import shutil

    if created:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for name in (manifest, "events.jsonl"):
        (run_dir / name).unlink(missing_ok=True)


def _score_quietly(evaluation, ranks) -> int:
    """A rank other than 0: score this rank's rows of every batch, print only errors."""
    import signal
    import warnings

    from ..core.distributed.sharding import RankLost

    interrupts = []

    def on_signal(signum, frame):
        interrupts.append(signum)
        if len(interrupts) > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt
        evaluation.cancel()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    events = evaluation.events()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # figures of this rank's share are never shown
            for event in events:
                if (isinstance(event, BatchScored) and event.batch + 1 == event.n_batches
                        and event.label == evaluation.labels[-1]):
                    return 0  # the last batch is gathered: rank 0 does the rest
                if isinstance(event, RunFinished):
                    # stopped as agreed with rank 0: not an error (mlx.launch ends every
                    # rank when one exits with an error, rank 0 included)
                    return 0
    except RankLost as e:
        print(f"ppltop: rank {ranks.rank}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        events.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0

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


def run_sharded(config, request, blas) -> int:
    """One evaluation over the ranks of `mlx.launch` (see `core/distributed/sharding.py`).

    Rank 0 writes the run directory and prints as a single headless process does; the other
    ranks score their rows and print nothing but errors. All ranks load and plan, then meet
    once: an error on any rank is reported by rank 0, one line each, exit status 2.
    """
    from ..core.distributed.sharding import QuietExit, RankLost, Ranks
    from .headless_run import run_headless
    from .score import PlainRun

    if _refused(config, request):
        return 2
    ranks = Ranks.join()
    if ranks is None:
        return 2
    run_dir = request.run_dir
    ranks.run_dir = run_dir
    try:
        evaluation, writer = _prepare_agreed(config, request, blas, ranks)
    except QuietExit as e:
        time.sleep(_GRACE_S)
        return e.code
    except RankLost as e:
        print(f"ppltop: {e}", file=sys.stderr)
        return 1
    if ranks.rank != 0:
        return _score_quietly(evaluation, ranks)
    print(f"ppltop: run directory {run_dir} ({ranks.size} ranks)", file=sys.stderr, flush=True)
    try:
        return run_headless(PlainRun(evaluation, request, blas, writer=writer))
    except RankLost as e:
        print(f"ppltop: {e}; the run directory keeps every batch before it; continue with: "
              f"ppltop resume {run_dir}", file=sys.stderr)
        return 1


def _refused(config, request) -> bool:
    """The same flags on every rank: rank 0 says what is wrong, once (raises); the others
    wait a little and leave quietly (True)."""
    from ..core.distributed.sharding import check_batch_size, env_rank, expected_size
    from ..core.errors import InputError

    try:
        if request.detach:
            raise InputError("--detach does not combine with mlx.launch: start mlx.launch "
                             "itself under nohup or tmux, and watch with ppltop open RUN_DIR")
        check_batch_size(config.batch_size, expected_size())
    except InputError:
        if env_rank():
            time.sleep(_GRACE_S)
            return True
        raise
    return False


def _prepare_agreed(config, request, blas, ranks):
    """(evaluation, rank 0's writer) once every rank has prepared the same plan; a rank's
    error is raised on rank 0 (InputError), the others leave (QuietExit), and no run
    directory is left behind."""
    from ..core.distributed.sharding import RankLost, Sharding, plan_key
    from ..core.engine.evaluation import Evaluation
    from ..core.errors import InputError
    from ..core.store.run_dir import MANIFEST, RunWriter

    run_dir = Path(request.run_dir)
    evaluation = Evaluation(config, sharding=Sharding(ranks))
    writer, error, created = None, None, False
    try:
        evaluation.prepare()
        if ranks.rank == 0:
            created = not run_dir.exists()
            writer = RunWriter(run_dir, evaluation.manifest(blas), overwrite=request.overwrite)
    except InputError as e:
        error = str(e)
    try:
        ranks.agree(error, "" if error else plan_key(evaluation.scoring_plan))
    except (InputError, RankLost):
        if writer is not None:  # nothing was scored: leave no run behind
            writer.close()
            _remove_unstarted(run_dir, created, MANIFEST)
        raise
    return evaluation, writer


def _remove_unstarted(run_dir: Path, created: bool, manifest: str) -> None:
    import shutil

    if created:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for name in (manifest, "events.jsonl"):
        (run_dir / name).unlink(missing_ok=True)


def _score_quietly(evaluation, ranks) -> int:
    """A rank other than 0: score this rank's rows of every batch, print only errors."""
    import warnings

    from ..core.distributed.sharding import RankLost
    from .stops import StopPolicy

    events = evaluation.events()
    try:
        with StopPolicy(evaluation.cancel, lambda signum: None), warnings.catch_warnings():
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
    return 0

"""Runs as directories: `ppltop runs` lists them, `ppltop open` replays or follows one,
`ppltop resume` continues one, `--detach` starts one in the background and watches it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .score import DEFAULT_RUNS_FOLDER


def list_runs(folder: Path | None) -> int:
    """The runs in `folder` (None: ./ppltop-runs, which need not exist yet)."""
    from ..core.errors import InputError
    from ..core.store.run_liveness import list_runs as runs_in

    if folder is None:
        folder = Path(DEFAULT_RUNS_FOLDER)
        if not folder.is_dir():
            print(f"no runs yet: {folder.absolute()} does not exist (ppltop writes its runs "
                  "there; give another folder with: ppltop runs FOLDER)")
            return 0
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder; give the folder that holds run directories")
    rows = runs_in(folder)
    if not rows:
        print(f"no runs in {folder}")
        return 0
    width = max(len(path.name) for path, _, _ in rows)
    for path, status, what in rows:
        print(f"{path.name:<{width}}  {status:<10}  {what}")  # status: run_liveness words
    return 0


def _check_unchanged(record, evaluation) -> None:
    """Refuse to resume when the model, an adapter or the data changed since the run began."""
    from ..core.errors import InputError

    now = evaluation.manifest()
    then = record.manifest
    changed = []
    if now.model_fingerprint != then.model_fingerprint:
        changed.append(f"model {then.config['model']}")
    if now.data_sha256 != then.data_sha256:
        changed.append(f"data {then.data_file}")
    old = {a.label: a.fingerprint for a in then.adapters}
    for a in now.adapters:
        if old.get(a.label) != a.fingerprint:
            changed.append(f"adapter {a.path}")
    if changed:
        raise InputError(f"{record.path}: cannot resume: {', '.join(changed)} changed since the "
                         "run started; start a new run instead")


def resume(args) -> int:
    from ..core.model import blas as blas_mod
    from .score import run_evaluation

    blas = blas_mod.select(args.blas)  # before anything imports mlx.core
    if blas.notice:
        print(f"ppltop: {blas.notice}", file=sys.stderr)
    from ..core.engine.evaluation import Evaluation
    from ..core.errors import InputError
    from ..core.store.replay import config_from_manifest
    from ..core.store.run_dir import read_run
    from ..core.store.run_liveness import state_of

    record = read_run(args.run_dir, with_results=False)
    state = state_of(args.run_dir, record.events)
    if state.state == "finished":  # nothing to score: say so, write nothing
        figures = record.finished.ppl_text()
        print(f"ppltop: {args.run_dir} is finished ({figures}); nothing to resume, nothing "
              f"changed; see it with: ppltop open {args.run_dir}")
        return 0
    if state.state == "running":
        raise InputError(f"{args.run_dir}: is being scored right now ({state.why}); watch it "
                         f"with: ppltop open {args.run_dir}")
    record = read_run(args.run_dir)
    config = config_from_manifest(record.manifest)
    evaluation = Evaluation(config, resume_from=record)
    if sys.stderr.isatty():  # a progress hint for people, not for logs
        print("ppltop: loading model and data ...", file=sys.stderr, flush=True)
    evaluation.prepare()
    _check_unchanged(record, evaluation)
    args.overwrite = False
    print(f"ppltop: resuming {args.run_dir}: {len(record.batches_done)} of "
          f"{len(evaluation.batches)} batches already scored", file=sys.stderr)
    return run_evaluation(evaluation, args, blas, args.run_dir, resume=True)


def open_run(args) -> int:
    from ..core.store.replay import RunFollower
    from .score import is_headless, run_headless
    from .watch import WATCH_FILE, open_watch

    if (args.run_dir / WATCH_FILE).is_file():  # one run per checkpoint, opened as one
        return open_watch(args)
    from .splits import SPLITS_FILE, open_splits

    if (args.run_dir / SPLITS_FILE).is_file():  # one run per split, opened in order
        return open_splits(args)

    follower = RunFollower(args.run_dir, follow=not args.no_follow and not args.headless)
    if is_headless(args):
        return run_headless(follower.config, args, None, follower.events, follower.stop)
    from .dashboard import run_dashboard

    return run_dashboard(follower.config, args, None, follower.events, follower.stop,
                         recorded=follower.manifest)


def detach(argv: list[str], run_dir: Path, args) -> int:
    """Start the scoring in its own session (it survives the terminal closing), then watch
    its run directory in the dashboard."""
    import time

    from ..core.store.run_dir import EVENTS, MANIFEST
    from .score import is_headless

    run_dir.mkdir(parents=True, exist_ok=True)
    child_args = [a for a in argv if a != "--detach"]
    if args.run_dir is None:
        child_args += ["--run-dir", str(run_dir)]
    log = open(run_dir / "ppltop.log", "ab")
    child = subprocess.Popen([sys.executable, "-m", "ppltop", *child_args, "--headless"],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True, env={**os.environ})
    print(f"ppltop: scoring in the background (pid {child.pid}), log in "
          f"{run_dir / 'ppltop.log'}", file=sys.stderr)
    deadline = time.monotonic() + 600
    while not ((run_dir / MANIFEST).exists() and (run_dir / EVENTS).exists()):
        if child.poll() is not None:
            print(f"ppltop: the background run stopped (exit {child.returncode}); see "
                  f"{run_dir / 'ppltop.log'}", file=sys.stderr)
            return child.returncode or 1
        if time.monotonic() > deadline:
            return 1
        time.sleep(0.2)
    if is_headless(args):  # started, not watched
        print(f"ppltop: watch it with: ppltop open {run_dir}")
        return 0
    from ..core.store.replay import RunFollower
    from .dashboard import run_dashboard

    args.run_dir = run_dir
    follower = RunFollower(run_dir, follow=True)
    return run_dashboard(follower.config, args, None, follower.events, follower.stop,
                         detached_pid=child.pid, recorded=follower.manifest)

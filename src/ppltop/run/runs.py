"""Runs as directories: `ppltop runs` lists them (and the run sets beside them), `ppltop
resume` continues one (`run_set.open_run_set` opens any)."""

from __future__ import annotations

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
    rows = sorted(runs_in(folder) + run_sets_in(folder), key=lambda row: row[0].name)
    if not rows:
        print(f"no runs in {folder}")
        return 0
    width = max(len(path.name) for path, _, _ in rows)
    for path, status, what in rows:
        print(f"{path.name:<{width}}  {status:<10}  {what}")  # status: run_liveness words
    return 0


def run_sets_in(folder: Path) -> list[tuple[Path, str, str]]:
    """(path, kind, its runs) of each run set in `folder`: the runs screen's rows of them."""
    from ..view.run_index import run_set_rows

    return [(row.path, row.status, row.figures) for row in run_set_rows(folder)]


def _check_unchanged(record, evaluation) -> None:
    """Refuse to resume when the model, an adapter or the data changed since the run began."""
    from ..core.errors import InputError

    now = evaluation.manifest()
    then = record.manifest
    changed = []
    if now.model_fingerprint != then.model_fingerprint:
        changed.append(f"model {then.config['model']}")
    for model, was, is_now in zip(then.config.get("models", [])[1:],
                                  then.model_fingerprints[1:], now.model_fingerprints[1:]):
        if was != is_now:
            changed.append(f"model {model}")
    if now.data_sha256 != then.data_sha256:
        changed.append(f"data {then.data_file}")
    old = {a.label: a.fingerprint for a in then.adapters}
    for a in now.adapters:
        if old.get(a.label) != a.fingerprint:
            changed.append(f"adapter {a.path}")
    if changed:
        raise InputError(f"{record.path}: cannot resume: {', '.join(changed)} changed since the "
                         "run started; start a new run instead")


def _run_set_said(run_dir: Path) -> bool:
    """A run set is resumed one part at a time: the one to continue first is named in the
    refusal; one scored to its end says so (True: said, nothing to do)."""
    from ..core.errors import InputError
    from ..core.store.run_dir import parts_of, read_run_set
    from ..core.store.run_liveness import state_of

    record = read_run_set(run_dir)
    if record is None:
        return False
    left = [part for part in parts_of(run_dir, record)
            if state_of(run_dir / part).state != "finished"]
    if not left:
        print(f"ppltop: {run_dir} is {record.WHAT} scored to its end; nothing to resume, "
              f"nothing changed; see it with: ppltop open {run_dir}")
        return True
    then = f" (not finished either: {', '.join(left[1:])})" if left[1:] else ""
    raise InputError(f"{run_dir}: {record.WHAT}, one run per sub-folder: continue each on "
                     f"its own, first with: ppltop resume {run_dir / left[0]}{then}")


def _recorded_blas(run_dir) -> str | None:
    """The BLAS library the run was scored with, when neither --blas nor $PPLTOP_BLAS says
    otherwise and it is still there: `auto` measures MKL and OpenBLAS anew where its probe is
    not cached, and may take the other one, whose float32 rounding differs in the last
    digits; a resumed run keeps its figures' library."""
    import os
    from pathlib import Path

    from ..core.errors import InputError
    from ..core.model.blas import ENV_VAR
    from ..core.store.records import MANIFEST, Manifest

    if os.environ.get(ENV_VAR):
        return None
    where = Path(run_dir) / MANIFEST
    try:
        recorded = Manifest.from_json(where.read_text(), str(where)).blas or {}
    except (OSError, InputError):  # read_run says what is wrong with it, next
        return None
    path = recorded.get("path")
    # a bare library name (found by the loader's search) or a file that is still there
    return path if path and ("/" not in path or Path(path).exists()) else None


def resume(request) -> int:
    """`ppltop resume RUN_DIR`: read back every complete batch, score the rest."""
    from ..core.model import blas as blas_mod
    from .run_set_parts import say_loading
    from .score import run_evaluation

    # before anything imports mlx.core
    blas = blas_mod.select(request.blas or _recorded_blas(request.run_dir))
    if blas.notice:
        print(f"ppltop: {blas.notice}", file=sys.stderr)
    from ..core.engine.evaluation import Evaluation
    from ..core.errors import InputError
    from ..core.store.replay import config_from_manifest
    from ..core.store.run_dir import read_run
    from ..core.store.run_liveness import state_of

    run_dir = request.run_dir
    if _run_set_said(run_dir):
        return 0
    record = read_run(run_dir, with_results=False)
    state = state_of(run_dir, record.events)
    if state.state == "finished":  # nothing to score: say so, write nothing
        figures = record.finished.ppl_text()
        print(f"ppltop: {run_dir} is finished ({figures}); nothing to resume, nothing "
              f"changed; see it with: ppltop open {run_dir}")
        return 0
    if state.state == "running":
        raise InputError(f"{run_dir}: is being scored right now ({state.why}); watch it "
                         f"with: ppltop open {run_dir}")
    record = read_run(run_dir)
    config = config_from_manifest(record.manifest)
    evaluation = Evaluation(config, resume_from=record)
    say_loading()
    evaluation.prepare()
    _check_unchanged(record, evaluation)
    print(f"ppltop: resuming {run_dir}: {len(record.batches_done)} of "
          f"{len(evaluation.batches)} batches already scored", file=sys.stderr)
    return run_evaluation(evaluation, request, blas, resume=True)

"""What a finished (or stopped) run writes besides the recorder's exports: `--json`, `--csv`,
and the breakdowns' `groups.csv` in the run directory."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .. import __version__


def write_json(path: Path, config, summaries, blas, comparisons=(), checkpoints=None,
               breakdowns=None) -> None:
    payload = {**_header(config, blas), "split": config.split,
               **_run_payload(summaries, comparisons, checkpoints, breakdowns)}
    _write(path, payload)


def _header(config, blas) -> dict:
    return {
        "version": 1,
        "ppltop": __version__,
        "model": str(config.model),
        "models": [str(m) for m in config.all_models],
        "data": str(config.data),
        "config": config.to_dict(),
        "blas": blas.to_dict() if blas else None,
        "peak_memory_bytes": _peak_memory(),
    }


def _run_payload(summaries, comparisons=(), checkpoints=None, breakdowns=None) -> dict:
    """One run's figures: every label, the comparison, the groups, the checkpoint curve."""
    from ..core.checkpoint_files import label_iteration
    from ..core.figures.models import compares_models, model_rows

    payload = {
        "runs": [{**s.to_dict(), "iteration": label_iteration(s.label)} for s in summaries],
        "comparison": [c.to_dict() for c in comparisons],
        "groups": breakdowns.to_dict() if breakdowns is not None else None,
    }
    if compares_models(summaries):
        payload["models"] = [row.to_dict() for row in model_rows(summaries, comparisons)]
    if checkpoints is not None:  # a `checkpoints.CheckpointCurve`
        payload["checkpoints"] = checkpoints.to_dict()
    return payload


def write_splits_json(path: Path, config, finished_by_split: dict, blas) -> None:
    """A run over several splits: each split scored (all of them unless it was stopped)
    as one run's figures under `by_split`, and the labels across the splits
    (`side_by_side`, with the gap)."""
    from ..core.figures.splits import split_rows

    payload = {**_header(config, blas), "splits": list(config.all_splits),
               "by_split": {split: {"split": split, **_finished_payload(f)}
                            for split, f in finished_by_split.items()},
               "side_by_side": [row.to_dict() for row in split_rows(
                   {split: f.summaries for split, f in finished_by_split.items()})]}
    _write(path, payload)


def write_tokenizers_json(path: Path, config, finished_by_part: dict, blas, rows) -> None:
    """A run over several tokenizers: each part scored as one run's figures under
    `by_tokenizer` (by its first model), and every label against the reference in bits
    per byte (`across_tokenizers`: `byte_compare.ByteRow`s)."""
    payload = {**_header(config, blas), "split": config.split,
               "tokenizers": list(finished_by_part),
               "by_tokenizer": {name: _finished_payload(f)
                                for name, f in finished_by_part.items()},
               "across_tokenizers": [row.to_dict() for row in rows]}
    _write(path, payload)


def _finished_payload(finished) -> dict:
    from ..core.figures.checkpoints import curve_of_finished

    return _run_payload(finished.summaries, finished.comparisons, curve_of_finished(finished),
                        finished.breakdowns)


def _write(path: Path, payload: dict) -> None:
    from ..core.errors import InputError
    from ..core.figures.stats import finite_or_none

    path = path.expanduser()
    tmp = path.with_name(path.name + ".tmp")
    try:  # every non-finite number as null, the groups' intervals of one example too
        tmp.write_text(json.dumps(finite_or_none(payload), indent=2, allow_nan=False) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        raise InputError(f"--json {path}: cannot write ({e.strerror})") from e


def _peak_memory() -> int | None:
    """MLX's peak allocation in this process (weights included), if MLX is loaded."""
    from ..core.model.memory import process_peak

    return process_peak()


def write_outputs(request, config, finished, blas) -> None:
    """--json, --csv and groups.csv, once the run has finished (or stopped)."""
    _groups_csv(request, finished, "")
    if request.json is not None:
        from ..core.figures.checkpoints import curve_of_finished

        write_json(request.json, config, finished.summaries, blas, finished.comparisons,
                   curve_of_finished(finished), finished.breakdowns)
    if request.csv is not None:
        from ..core.store.export import write_summary_csv

        write_summary_csv(request.csv.expanduser(), finished.summaries, finished.comparisons)


def write_split_outputs(request, config, finished_by_split: dict, blas, across=None) -> None:
    """--json, --csv and each part's groups.csv, for a run set of several parts: splits,
    or with `across` (its `ByteRow`s) several tokenizers."""
    for split, finished in finished_by_split.items():
        _groups_csv(request, finished, split)
    if request.json is not None and across is not None:
        write_tokenizers_json(request.json, config, finished_by_split, blas, across)
    elif request.json is not None:
        write_splits_json(request.json, config, finished_by_split, blas)
    if request.csv is not None:
        from ..core.store.export import write_splits_csv

        write_splits_csv(request.csv.expanduser(), finished_by_split)


def _groups_csv(request, finished, sub_folder: str) -> None:
    """The breakdowns' groups.csv in the run directory (or its `sub_folder`: a split's)."""
    if finished.breakdowns is not None and request.run_dir is not None \
            and not request.opened:  # open leaves a run as it is
        write_groups_csv(Path(request.run_dir) / sub_folder / GROUPS_CSV, finished.breakdowns)


GROUPS_CSV = "groups.csv"


def write_groups_csv(path: Path, breakdowns) -> None:
    """One row per breakdown, group and label (`Breakdowns.rows`); a warning if it cannot
    be written (the run directory has everything else)."""
    import csv

    rows = breakdowns.rows()
    if not rows:
        return
    try:
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    except OSError as e:
        print(f"ppltop: warning: could not write {path} ({e.strerror})", file=sys.stderr)

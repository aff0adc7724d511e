"""What a finished (or stopped) run writes besides its run directory: `--json` and `--csv`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .. import __version__


def write_json(path: Path, config, summaries, blas, comparisons=()) -> None:
    from ..core.errors import InputError

    payload = {
        "version": 1,
        "ppltop": __version__,
        "model": str(config.model),
        "data": str(config.data),
        "split": config.split,
        "config": config.to_dict(),
        "blas": blas.to_dict() if blas else None,
        "peak_memory_bytes": _peak_memory(),
        "runs": [s.to_dict() for s in summaries],
        "comparison": [c.to_dict() for c in comparisons],
    }
    path = path.expanduser()
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        raise InputError(f"--json {path}: cannot write ({e.strerror})")


def _peak_memory() -> int | None:
    """MLX's peak allocation in this process (weights included), if MLX is loaded."""
    mx = sys.modules.get("mlx.core")
    return int(mx.get_peak_memory()) if mx is not None else None


def write_outputs(args, config, finished, blas) -> None:
    """--json and --csv, once the run has finished (or stopped)."""
    if getattr(args, "json", None) is not None:
        write_json(args.json, config, finished.summaries, blas, finished.comparisons)
    if getattr(args, "csv", None) is not None:
        from ..core.store.export import write_summary_csv

        write_summary_csv(args.csv.expanduser(), finished.summaries, finished.comparisons)

"""One batch of 4 x 512 tokens through each part of ppltop's scoring, timed one after the
other: the body (with and without the CPU kernels), the output projection, ppltop's
statistics, mlx-lm's cross-entropy replayed from them (what a run computes on the CPU for
float32 logits) and MLX's own cross-entropy it replaces (timed beside, not counted). The
profile behind the README's per-part table; best of two runs per part.

    python benchmarks/profile_batch.py --model ~/.cache/ppltop/real-model/smollm2-135m-f32
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def best_of(fn, runs: int = 2):
    best, result = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def batch_of(handle, data: Path, rows: int, length: int):
    import mlx.core as mx
    import numpy as np

    text = " ".join(json.loads(line)["text"] for line in data.read_text().splitlines())
    ids = handle.tokenizer.encode(text)
    ids = ids * (rows * length // len(ids) + 1)
    return mx.array(np.array([ids[i * length:(i + 1) * length] for i in range(rows)],
                             np.int32))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, default=ROOT / "tests/data/real/text/test.jsonl")
    p.add_argument("--blas", default="auto")
    args = p.parse_args()
    from ppltop.core.model import blas

    print(blas.select(args.blas).describe())
    import numpy as np

    from ppltop.core import mlx_lm
    from ppltop.core.engine import token_stats
    from ppltop.core.engine.forward import SplitForward
    from ppltop.core.model.loader import ModelHandle

    handle = ModelHandle.load(args.model)
    inputs = batch_of(handle, args.data, 4, 512)
    forward = SplitForward(handle.model)
    rows, cols = np.repeat(np.arange(4), 511), np.tile(np.arange(511), 4)
    targets = np.array(inputs)[:, 1:].reshape(-1)
    parts = {}
    parts["body"], project = best_of(lambda: forward.rows(inputs, rows, cols))
    active, forward.kernels.active = forward.kernels.active, False
    parts["body, MLX's own ops"], _ = best_of(lambda: forward.rows(inputs, rows, cols), 1)
    forward.kernels.active = active
    parts["output projection"], logits = best_of(lambda: _evaluated(project(0, len(targets))))
    parts["ppltop's statistics"], _ = best_of(lambda: token_stats.stats_numpy(logits, targets))
    parts["+ mlx-lm's CE replayed"], _ = best_of(
        lambda: token_stats.stats_numpy(logits, targets, mlx_lm_ce=True))
    parts["+ mlx-lm's CE replayed"] -= parts["ppltop's statistics"]
    parts["MLX's cross-entropy"], _ = best_of(lambda: mlx_lm.token_ce(logits, targets))
    for name, seconds in parts.items():
        print(f"{name:<28}{seconds:7.2f} s")
    # a run replays mlx-lm's cross-entropy on float32 logits on the CPU (mlx_lm.ce_from_exps)
    # and runs MLX's own only elsewhere: neither side-by-side row is in the batch's time
    aside = ("body, MLX's own ops", "MLX's cross-entropy")
    total = sum(v for k, v in parts.items() if k not in aside)
    print(f"{'one batch':<28}{total:7.2f} s  ({len(targets) / total:.0f} positions/s)")


def _evaluated(array):
    import mlx.core as mx

    mx.eval(array)
    return array


if __name__ == "__main__":
    main()

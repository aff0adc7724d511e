"""What the breakdowns cost next to scoring, measured side by side in one process.

Scores the bundled demo (base model and both adapters; `--repeat N` scores its test set N
times over, as N times as many examples) with all per-token statistics, timing the scoring
loop from the first batch to the finished event, then times the breakdowns of the finished
run (`--group-by source` plus role, turn, template and position, every paired bootstrap
included, the token marks made from scratch) on the same results, and prints the ratio.
Usage: python benchmarks/bench_breakdowns.py [--repeat N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def repeated_data(folder: Path, repeat: int) -> Path:
    from ppltop import demo

    lines = [line for line in (demo.DATA_DIR / "test.jsonl").read_text().splitlines() if line]
    (folder / "test.jsonl").write_text("\n".join(lines * repeat) + "\n")
    return folder


def one_round(data: Path) -> tuple[float, float, int, int]:
    """(scoring seconds, breakdown seconds, examples, tokens per label)."""
    from ppltop import demo
    from ppltop.core.config import EvalConfig
    from ppltop.core.engine.evaluation import Evaluation
    from ppltop.core.figures.breakdowns import compute_breakdowns
    from ppltop.core.store.breakdown_events import group_input
    from ppltop.core.store.events import BatchScored, RunFinished, RunStarted

    config = EvalConfig(model=demo.MODEL_DIR, data=data,
                        adapters=list(demo.ADAPTER_DIRS.values()), group_by=("source",))
    evaluation = Evaluation(config)
    evaluation.prepare()
    started = finished = None
    first_batch = None
    for event in evaluation.events():
        if isinstance(event, RunStarted):
            started = event
        elif isinstance(event, BatchScored) and first_batch is None:
            first_batch = time.perf_counter()
        elif isinstance(event, RunFinished):
            finished = event
    scoring = time.perf_counter() - first_batch
    t0 = time.perf_counter()
    inputs = group_input(config, started)
    found = compute_breakdowns(finished.results, started.plan.labels, started.plan.reference,
                               inputs)
    cost = time.perf_counter() - t0
    assert found.breakdowns, "no breakdowns"
    return scoring, cost, started.plan.n_examples, started.plan.targets_per_label


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=1, help="score the demo test set N times over")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    from ppltop.core.model import blas

    blas.select()
    with tempfile.TemporaryDirectory() as tmp:
        data = repeated_data(Path(tmp), args.repeat)
        rows = [one_round(data) for _ in range(args.rounds)]
    for scoring, cost, examples, tokens in rows:
        print(f"{examples} examples x 3 labels, {tokens:,} tokens each: scoring {scoring:.2f} s, "
              f"breakdowns {cost * 1000:.0f} ms = {cost / scoring:.2%} of the scoring time")
    ratios = sorted(cost / scoring for scoring, cost, _, _ in rows)
    print(json.dumps({"median_ratio": ratios[len(ratios) // 2],
                      "scoring_s": [round(r[0], 3) for r in rows],
                      "breakdowns_s": [round(r[1], 4) for r in rows]}))


if __name__ == "__main__":
    main()

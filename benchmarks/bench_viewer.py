"""The surprisal viewer at scale: 20,000 examples and 1,000,000 scored tokens.

Builds a synthetic run of that size (real demo tokenizer, made-up numbers), then measures,
in the core and in the real app driven by Pilot: folding the results into the index, opening
the examples list, sorting it by each column, the worst-token and by-token lists, and opening
a 2,000-token document. Usage: python benchmarks/bench_viewer.py [--examples N --tokens N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def build(n_examples: int, n_tokens: int, doc_tokens: int):
    from mlx_lm.utils import load_tokenizer

    from ppltop import demo
    from ppltop.core.data.split import Example
    from ppltop.core.data.token_text import TokenTexts
    from ppltop.core.engine.token_stats import StatsBlock
    from ppltop.core.figures.results import ExampleResult, compact
    from ppltop.core.mlx_lm import MlxLmPart
    from ppltop.core.store.events import BatchScored, DocumentSource, RunPlan, RunStarted

    tokenizer = load_tokenizer(demo.MODEL_DIR)
    vocab = len(tokenizer._tokenizer) if hasattr(tokenizer, "_tokenizer") else 1000
    rng = np.random.default_rng(0)
    lengths = rng.multinomial(n_tokens - doc_tokens, np.ones(n_examples - 1) / (n_examples - 1))
    lengths = np.concatenate([[doc_tokens], np.maximum(lengths, 2)])
    examples, results = [], []
    for i, n in enumerate(lengths):
        tokens = rng.integers(3, vocab, n + 1).astype(np.int32)
        examples.append(Example(i, i + 1, tokens, 0))
        logprob = -rng.exponential(3.0, n).astype(np.float32)
        block = StatsBlock(
            logprob, rng.exponential(3.0, n).astype(np.float32),
            np.minimum(np.exp(-logprob), vocab - 1).astype(np.int32) + 1,
            rng.integers(3, vocab, (n, 5)).astype(np.int32),
            np.sort(-rng.exponential(2.0, (n, 5)).astype(np.float32), axis=1)[:, ::-1])
        results.append(ExampleResult(i, 1, **compact(block, tokens[1:], vocab),
                                     n_bytes=4 * n, truncated=0,
                                     mlx_lm=MlxLmPart(np.zeros(n, np.int16), 0.0)))
    total = int(lengths.sum())
    plan = RunPlan(["base"], [None], n_examples, 1, total, "synthetic", "text", 0.0)
    source = DocumentSource(examples, TokenTexts(tokenizer), 1 << 20, "synthetic")
    events = [RunStarted(plan, source),
              BatchScored("base", 0, 1, float(sum(r.loss_sum for r in results)), total, results,
                          total, total, 1.0)]
    return events, total


def timer():
    start = time.perf_counter()
    return lambda: time.perf_counter() - start


def core_figures(events) -> dict:
    from ppltop.view.live import LiveRun

    out = {}
    live = LiveRun()
    t = timer()
    for e in events:
        live.apply(e)
    out["fold 1M tokens into the index"] = t()
    index = live.index["base"]
    t = timer()
    order = index.example_order("mean_loss", descending=True)
    index.example_rows(order, 0, 50)
    out["examples list: first page"] = t()
    for column in ("tokens", "total_loss", "worst_bits"):
        t = timer()
        index.example_rows(index.example_order(column, descending=True), 0, 50)
        out[f"examples list: sort by {column}"] = t()
    t = timer()
    index.worst_tokens(1000)
    out["worst 1,000 tokens"] = t()
    t = timer()
    index.by_token(count=2000)
    out["loss by token"] = t()
    t = timer()
    live.document("base", 0)
    out["2,000-token document: layout data"] = t()
    return out, live


async def app_figures(events) -> dict:
    from ppltop.ui.app import PplTopApp
    from ppltop.ui.screens.document_screen import DocumentScreen
    from ppltop.ui.screens.viewer_screen import ViewerScreen

    out = {}
    app = PplTopApp(lambda: iter(events), {"model": "synthetic"})
    async with app.run_test(size=(120, 40)) as pilot:
        while app.live.finished is None and not app.live.index.get("base"):
            await pilot.pause(0.05)
        while len(app.live.index["base"]) < len(events[1].results):
            await pilot.pause(0.05)
        t = timer()
        await pilot.press("v")
        while not isinstance(app.screen, ViewerScreen):
            await pilot.pause(0.01)
        await pilot.pause(0)
        out["app: open the viewer (examples list drawn)"] = t()
        t = timer()
        await pilot.press("s")
        await pilot.pause(0)
        out["app: sort the examples list"] = t()
        t = timer()
        app.push_screen(DocumentScreen(app.live, "base", 0))
        await pilot.pause(0)
        await pilot.press("pagedown")
        out["app: open a 2,000-token document and page"] = t()
        await pilot.press("escape", "escape", "q")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=20_000)
    p.add_argument("--tokens", type=int, default=1_000_000)
    p.add_argument("--doc-tokens", type=int, default=2_000)
    args = p.parse_args()
    t = timer()
    events, total = build(args.examples, args.tokens, args.doc_tokens)
    print(f"synthetic run: {args.examples:,} examples, {total:,} tokens (built in {t():.1f}s)")
    core, live = core_figures(events)
    stored = sum(r.nbytes_stored() for r in live.index["base"].results.values())
    for name, seconds in core.items():
        print(f"{name:<46}{seconds * 1000:9.1f} ms")
    print(f"{'per-token arrays in memory':<46}{stored / total:9.1f} bytes/token")
    for name, seconds in asyncio.run(app_figures(events)).items():
        print(f"{name:<46}{seconds * 1000:9.1f} ms")


if __name__ == "__main__":
    main()

"""A fixed, clock-free event stream for snapshot tests: the same screen on every machine."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ppltop.core.figures.results import ExampleResult
from ppltop.core.figures.summary import RunSummary
from ppltop.core.mlx_lm import MlxLmFigure, MlxLmPart
from ppltop.core.store.events import (
    BatchScored,
    ModelFacts,
    Notice,
    RunFinished,
    RunPlan,
    RunStarted,
)

LABELS = ["base", "docs-net", "docs-math"]
N_BATCHES = 12
EXAMPLES_PER_BATCH = 4
TOKENS_PER_EXAMPLE = 50


def _result(index: int, loss: float) -> ExampleResult:
    n = TOKENS_PER_EXAMPLE
    z = np.zeros(n, dtype=np.int32)
    return ExampleResult(index, 1, z,
                         np.full(n, -loss, dtype=np.float32), np.ones(n, dtype=np.float32),
                         np.ones(n, dtype=np.int32), np.zeros((n, 5), np.int32),
                         np.zeros((n, 5), np.float32), 4 * n, 0,
                         MlxLmPart(np.zeros(n, np.int16), 5.0))


def example_result(index: int, logprob, targets, first=1) -> ExampleResult:
    """One example's result with the given log-probs and targets (entropy 1, rank = position,
    no top-5): for the statistics behind the viewer and the comparisons."""
    n = len(logprob)
    return ExampleResult(index, first,
                         np.asarray(targets, np.int32), np.asarray(logprob, np.float32),
                         np.ones(n, np.float32), np.arange(1, n + 1, dtype=np.int32),
                         np.zeros((n, 5), np.int32), np.zeros((n, 5), np.float32), n, 0,
                         MlxLmPart(np.zeros(n, np.int16), 0.0))


def _loss(label_index: int, batch: int, example: int) -> float:
    return 3.0 - 0.15 * label_index + 0.4 * math.sin(1.7 * batch + example)


def _summary(label_index: int, label: str | None = None) -> RunSummary:
    losses = [_loss(label_index, b, e) for b in range(N_BATCHES) for e in range(EXAMPLES_PER_BATCH)]
    loss = float(np.mean(losses))
    adapter = None if label_index == 0 else f"/demo/{LABELS[label_index]}"
    return RunSummary(label or LABELS[label_index], adapter,
                      loss, math.exp(loss), len(losses) * TOKENS_PER_EXAMPLE, len(losses), 0.05,
                      (math.exp(loss - 0.1), math.exp(loss + 0.1)), loss / math.log(2), 1.1,
                      1000.0, 0, 0, [], True,
                      MlxLmFigure(loss + 0.01, math.exp(loss + 0.01), 2300, 44, 4, 200, 44, 5.0),
                      ["a reason"])


def events(finish: bool = True):
    total = N_BATCHES * EXAMPLES_PER_BATCH * TOKENS_PER_EXAMPLE
    yield RunStarted(RunPlan(list(LABELS), [None, "/demo/docs-net", "/demo/docs-math"],
                             N_BATCHES * EXAMPLES_PER_BATCH, N_BATCHES, total, "/demo/test.jsonl",
                             "text", 0.125))
    yield Notice("warning", "3 examples are longer than --max-seq-length 256: truncated")
    for b in range(N_BATCHES):
        for li, label in enumerate(LABELS):
            results = [_result(b * EXAMPLES_PER_BATCH + e, _loss(li, b, e))
                       for e in range(EXAMPLES_PER_BATCH)]
            loss_sum = sum(r.loss_sum for r in results)
            done = (b + 1) * EXAMPLES_PER_BATCH * TOKENS_PER_EXAMPLE
            yield BatchScored(label, b, N_BATCHES, loss_sum,
                              EXAMPLES_PER_BATCH * TOKENS_PER_EXAMPLE, results, done, total,
                              0.5 * (b + 1))
    if finish:
        yield RunFinished([_summary(i) for i in range(len(LABELS))], False, 0.5 * N_BATCHES)


def failing_events(error: BaseException, at: int = 12):
    """The same stream, raising `error` at event number `at` (after some batches)."""
    for i, event in enumerate(events(finish=False)):
        if i == at:
            raise error
        yield event


INFO = {
    "model": "/demo/model",
    "adapters": "/demo/docs-net, /demo/docs-math",
    "data": "/demo/data [test]",
    "batch size": "4",
    "max seq length": "2048 (truncate)",
    "mask prompt": "no",
    "device": "cpu · BLAS mkl 100 GFLOP/s",
    "versions": "mlx 0.0.0 · mlx-lm 0.0.0",
}


def tokenizer_events(real_model, reference: str | None = None):
    """A run over two tokenizers (the demo model's, then the real model's): each part the
    demo examples under its tokenizer with fixed made-up numbers, finished; `reference`
    as `--reference` would give it."""
    from ppltop import demo
    from ppltop.core.store.events import SplitStarted

    for index, (label, folder) in enumerate((("demo", demo.MODEL_DIR), ("smollm2", real_model))):
        yield SplitStarted(label, index, 2, "tokenizer of", reference)
        yield from document_events(labels=(label,), finish=True, model_dir=folder)


def document_events(max_examples: int = 6, labels=("base",), finish: bool = False,
                    model_dir=None):
    """Real demo examples and tokenizer (or `model_dir`'s), fixed made-up numbers: a
    deterministic viewer; `finish`: then a RunFinished whose summaries carry made-up mlx-lm
    figures."""
    from mlx_lm.utils import load_tokenizer

    from ppltop import demo
    from ppltop.core.data.split import load_split
    from ppltop.core.data.token_text import TokenTexts
    from ppltop.core.store.events import DocumentSource

    tokenizer = load_tokenizer(model_dir or demo.MODEL_DIR)
    split = load_split(demo.DATA_DIR, "test", tokenizer, False)
    examples = split.examples[:max_examples]
    total = sum(len(e.tokens) - 1 for e in examples)
    plan = RunPlan(list(labels), [None] * len(labels), len(examples), 1, total, str(split.path),
                   "text", 0.0)
    yield RunStarted(plan, DocumentSource(split.examples, TokenTexts(tokenizer), 2048,
                                          str(split.path)))
    for li, label in enumerate(labels):
        results = []
        for e in examples:
            n = len(e.tokens) - 1
            phase = np.arange(n, dtype=np.float64)
            bits = 1.0 + 7.0 * (1 + np.sin(0.7 * phase + e.index)) + (phase % 11 == 3) * 6
            bits = np.maximum(0.05, bits - li * (1.0 + np.cos(1.3 * phase + e.index)))
            logprob = (-bits * math.log(2)).astype(np.float32)
            rank = np.minimum(2 ** bits.astype(np.int64), 50000).astype(np.int32)
            top_ids = np.tile(np.array([5, 6, 7, 8, 9], np.int32), (n, 1))
            top_lp = np.tile(np.log(np.array([0.3, 0.2, 0.1, 0.05, 0.02], np.float32)), (n, 1))
            results.append(ExampleResult(e.index, 1,
                                         e.tokens[1:].astype(np.int32), logprob,
                                         (0.5 * bits).astype(np.float32) * np.float32(math.log(2)),
                                         rank, top_ids, top_lp, 4 * n, 0,
                                         MlxLmPart(np.zeros(n, np.int16), 0.0)))
        loss_sum = float(sum(r.loss_sum for r in results))
        yield BatchScored(label, 0, 1, loss_sum, total, results, total, total, 1.0)
    if finish:
        yield RunFinished([_summary(i, name) for i, name in enumerate(labels)], False, 1.0)


CJK_LONG_LINE = ("机器学习模型的评估需要仔细查看每一个词元的惊讶度，"
                 "中文字符常被拆成两三个字节级词元，"
                 "表情符号😀也是如此；这一行很长，在终端里必须折行而不是被截断，最后几个字是结尾。")
CJK_RECORDS = [
    {"text": "中文字😀 the thing\n    indented 中文\n" + CJK_LONG_LINE + "\n最后一行：中文。"},
    {"text": "纯中文的第二条记录：中文字中文字。"},
    {"text": "plain ASCII record, nothing split"},
]
CJK_CHAT = [
    {"messages": [{"role": "user", "content": "中文是什么？"},
                  {"role": "assistant", "content": "中文字😀 是" + CJK_LONG_LINE}]},
    {"messages": [{"role": "user", "content": "再说一次"},
                  {"role": "assistant", "content": "好的：中文。"}]},
]


def cjk_events(folder, chat: bool = False, mask_prompt: bool = False):
    """Chinese records through the hand-built byte-level tokenizer of `tiny_bpe` (CJK
    characters split over 2 and 3 tokens), with fixed made-up numbers; template tokens get
    the highest surprisal, as they often do in real runs."""
    import json
    from pathlib import Path

    from ppltop.core.data.split import load_split
    from ppltop.core.data.token_text import TokenTexts
    from ppltop.core.store.events import DocumentSource
    from support import tiny_bpe

    folder = Path(folder)
    tokenizer = tiny_bpe.load(tiny_bpe.build(folder / "tokenizer"))
    data = folder / ("chat.jsonl" if chat else "cjk.jsonl")
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                            for r in (CJK_CHAT if chat else CJK_RECORDS)), encoding="utf-8")
    split = load_split(data, "test", tokenizer, mask_prompt)
    texts = TokenTexts(tokenizer)
    total = sum(len(e.tokens) - max(1, e.offset) for e in split.examples)
    plan = RunPlan(["base"], [None], len(split.examples), 1, total, str(data),
                   "chat" if chat else "text", 0.0)
    yield RunStarted(plan, DocumentSource(split.examples, texts, 2048, str(data)))
    results = []
    for e in split.examples:
        first = max(1, e.offset)
        n = len(e.tokens) - first
        phase = np.arange(n, dtype=np.float64)
        bits = 1.0 + 5.0 * (1 + np.sin(0.9 * phase + e.index))
        bits[texts.template_mask(e.tokens)[first:]] = 20.0
        logprob = (-bits * math.log(2)).astype(np.float32)
        rank = np.minimum(2 ** bits.astype(np.int64), 50000).astype(np.int32)
        top_ids = np.tile(np.array([259, 260, 261, 243, 263], np.int32), (n, 1))
        top_lp = np.tile(np.log(np.array([0.3, 0.2, 0.1, 0.05, 0.02], np.float32)), (n, 1))
        results.append(ExampleResult(e.index, first, e.tokens[first:].astype(np.int32), logprob,
                                     (0.5 * bits).astype(np.float32) * np.float32(math.log(2)),
                                     rank, top_ids, top_lp, 4 * n, 0,
                                     MlxLmPart(np.zeros(n, np.int16), 0.0)))
    loss_sum = float(sum(r.loss_sum for r in results))
    yield BatchScored("base", 0, 1, loss_sum, total, results, total, total, 1.0)


CHECKPOINT_LABELS = ["base", "run1@100", "run1@200", "run1@300", "run1@400", "run1@500"]
_CURVE = [3.2, 2.9, 2.7, 2.66, 2.68, 2.8]
"""Mean loss per label: training helps, the best is at 300, then it overfits."""


def split_checkpoint_events():
    """A --checkpoints run over two splits (`--split valid,test`): validation's curve
    falls to the end, test's is the U of `checkpoint_events`, higher."""
    from ppltop.core.store.events import SplitStarted

    yield SplitStarted("valid", 0, 2)
    yield from checkpoint_events(shift=-0.6, slope=-0.15)
    yield SplitStarted("test", 1, 2)
    yield from checkpoint_events()


def checkpoint_events(shift: float = 0.0, slope: float = 0.0):
    """A --checkpoints run with a fixed U-shaped test-loss curve: per-example noise that
    differs between labels, so neighbours of the best come out "as good"; `shift` moves
    the curve, `slope` tilts it by label (the base model first)."""
    n_batches, per_batch = 6, 4
    total = n_batches * per_batch * TOKENS_PER_EXAMPLE
    paths = [None] + ["/train/run1"] * (len(CHECKPOINT_LABELS) - 1)
    yield RunStarted(RunPlan(list(CHECKPOINT_LABELS), paths, n_batches * per_batch, n_batches,
                             total, "/demo/test.jsonl", "text", 0.1, reference="base"))
    results = {label: {} for label in CHECKPOINT_LABELS}
    for b in range(n_batches):
        for li, label in enumerate(CHECKPOINT_LABELS):
            scored = []
            for e in range(per_batch):
                index = b * per_batch + e
                loss = (_CURVE[li] + shift + slope * li + 0.4 * math.sin(1.7 * b + e)
                        + 0.08 * math.sin(2.3 * li + 1.1 * index))
                scored.append(_result(index, loss))
            for r in scored:
                results[label][r.example] = r
            done = (b + 1) * per_batch * TOKENS_PER_EXAMPLE
            yield BatchScored(label, b, n_batches, sum(r.loss_sum for r in scored),
                              per_batch * TOKENS_PER_EXAMPLE, scored, done, total, 0.5 * (b + 1))
    summaries = []
    for li, label in enumerate(CHECKPOINT_LABELS):
        sums = [r.loss_sum for r in results[label].values()]
        loss = sum(sums) / total
        summaries.append(RunSummary(
            label, paths[li], loss, math.exp(loss), total, n_batches * per_batch, 0.05,
            (math.exp(loss - 0.1), math.exp(loss + 0.1)), loss / math.log(2), 1.1, 1000.0, 0,
            0, [], True, MlxLmFigure(loss + 0.03, math.exp(loss + 0.03), total + 24, 24, 0,
                                     0, 24, 5.0), []))
    yield RunFinished(summaries, False, 0.5 * n_batches, [], results)


WATCH_CURVE = {"base": 3.2, "run1@10": 2.9, "run1@20": 2.6}
"""Mean loss per label of `watch_events`: run1@20, scored in part, is lower than run1@10."""


def watch_events(partial_batches: int = 2):
    """`--watch` as the dashboard folds it while a checkpoint is scored: the base model and
    run1@10 scored to their end (`LabelFinished`), then run1@20 added and `partial_batches`
    of its 6 batches scored; no `RunFinished` (the watch goes on)."""
    from ppltop.core.store.events import LabelAdded, LabelFinished

    n_batches, per_batch = 6, 4
    total = n_batches * per_batch * TOKENS_PER_EXAMPLE
    yield RunStarted(RunPlan(["base"], [None], n_batches * per_batch, n_batches, total,
                             "/demo/test.jsonl", "text", 0.1, reference="base"))
    for li, (label, level) in enumerate(WATCH_CURVE.items()):
        if li:
            yield LabelAdded(label, "/train/run1")
        scored_all = []
        for b in range(n_batches if li < 2 else partial_batches):
            scored = [_result(b * per_batch + e, level + 0.4 * math.sin(1.7 * b + e)
                              + 0.05 * math.sin(2.3 * li + 1.1 * (b * per_batch + e)))
                      for e in range(per_batch)]
            scored_all += scored
            done = (b + 1) * per_batch * TOKENS_PER_EXAMPLE
            yield BatchScored(label, b, n_batches, sum(r.loss_sum for r in scored),
                              per_batch * TOKENS_PER_EXAMPLE, scored, done, total, 0.5 * (b + 1))
        if li < 2:
            loss = sum(r.loss_sum for r in scored_all) / total
            yield LabelFinished(RunSummary(
                label, None if li == 0 else "/train/run1", loss, math.exp(loss), total,
                len(scored_all), 0.05, (math.exp(loss - 0.1), math.exp(loss + 0.1)),
                loss / math.log(2), 1.1, 1000.0, 0, 0, [], True,
                MlxLmFigure(loss + 0.03, math.exp(loss + 0.03), total + 24, 24, 0, 0, 24, 5.0),
                []))


MODEL_LABELS = ("smollm2-f32", "smollm2-8bit", "smollm2-4bit")
"""A quantization comparison: the float copy (the reference) and two quantized ones."""
MODEL_FACTS = [ModelFacts("smollm2-f32", "/models/smollm2-f32", "float32", "float32",
                          538_000_000, 538_000_000),
               ModelFacts("smollm2-8bit", "/models/smollm2-8bit", "8-bit", "float32",
                          144_000_000, 538_000_000),
               ModelFacts("smollm2-4bit", "/models/smollm2-4bit", "4-bit", "float32",
                          76_000_000, 538_000_000)]


def model_events():
    """`document_events` as a run over three models: each label its own model, a KL from
    the reference per token (growing with the quantization), the comparisons made by the
    core's one function, so the comparison screen shows KL and the same-top share."""
    from ppltop.core.figures.compare import compare_labels

    done: dict[str, dict[int, ExampleResult]] = {label: {} for label in MODEL_LABELS}
    for event in document_events(labels=MODEL_LABELS):
        if isinstance(event, RunStarted):
            event = dataclasses.replace(event, plan=dataclasses.replace(
                event.plan, model_paths=[m.path for m in MODEL_FACTS], models=MODEL_FACTS))
        elif isinstance(event, BatchScored):
            step = MODEL_LABELS.index(event.label)
            results = [dataclasses.replace(r, kl=(step * 0.01 * (1 + np.sin(
                np.arange(r.n_tokens) + r.example)) if step else None), top_ids=(
                r.top_ids if step < 2 else np.roll(r.top_ids, r.example % 2, axis=1)))
                for r in event.results]
            done[event.label].update({r.example: r for r in results})
            event = dataclasses.replace(event, results=results)
        yield event
    summaries = [_summary_of(done[label], _summary(i, label), m.path)
                 for i, (label, m) in enumerate(zip(MODEL_LABELS, MODEL_FACTS))]
    yield RunFinished(summaries, False, 1.0, compare_labels(done, list(MODEL_LABELS),
                                                            MODEL_LABELS[0]), done)


def _summary_of(results: dict[int, ExampleResult], made_up: RunSummary, model: str
                ) -> RunSummary:
    """`made_up` with the loss, PPL and its interval of `results` (mlx-lm's 0.01 above), so
    that a summary's columns agree with the comparison's on the same screen."""
    tokens = sum(r.n_tokens for r in results.values())
    loss = sum(r.loss_sum for r in results.values()) / tokens
    return dataclasses.replace(made_up, adapter=None, model=model, loss=loss,
                               ppl=math.exp(loss), tokens=tokens, examples=len(results),
                               ppl_ci95=(math.exp(loss - 0.1), math.exp(loss + 0.1)),
                               bits_per_token=loss / math.log(2),
                               mlx_lm=dataclasses.replace(made_up.mlx_lm, loss=loss + 0.01,
                                                          ppl=math.exp(loss + 0.01)))


def _model_info_entry(key: str, value: str) -> tuple[str, str]:
    if key == "model":
        return "models", f"{len(MODEL_LABELS)}, on the same tokens"
    return key, "none" if key == "adapters" else value


MODEL_INFO = dict(_model_info_entry(key, value) for key, value in INFO.items())
"""The config pane's first lines for `model_events`, as `describe_config` writes them."""

"""The `mlx_lm` figure reproduces mlx-lm's own `evaluate()` to 1e-5 relative, quirks included."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ppltop import demo
from ppltop.core.config import EvalConfig
from ppltop.core.engine.evaluation import Evaluation
from ppltop.core.store.events import RunFinished
from support import BLAS
from support.cli import run_ppltop
from support.mlx_lm_reference import mlx_lm_evaluate
from support.models import make_adapter


def score(model, data, handle=None, **kw):
    evaluation = Evaluation(EvalConfig(model=Path(model), data=Path(data), **kw), handle)
    finished = [e for e in evaluation.events() if isinstance(e, RunFinished)]
    return {s.label: s for s in finished[0].summaries}


CASES = [
    # (id, data file, kwargs)
    ("text", demo.DATA_DIR / "test.jsonl", {}),
    ("text-bs3-not-dividing", demo.DATA_DIR / "test.jsonl", {"batch_size": 3}),
    ("text-truncated", demo.DATA_DIR / "test.jsonl", {"max_seq_length": 128}),
    ("chat", demo.CHAT_DATA_DIR / "test.jsonl", {}),
    ("chat-mask-prompt", demo.CHAT_DATA_DIR / "test.jsonl", {"mask_prompt": True}),
    ("completions", demo.COMPLETIONS_DATA_DIR / "test.jsonl", {"batch_size": 2}),
    ("completions-mask-truncated", demo.COMPLETIONS_DATA_DIR / "test.jsonl",
     {"mask_prompt": True, "max_seq_length": 48}),
]


def got_eval_examples(data, kw):
    msl = kw.get("max_seq_length", 2048)
    lines = [line for line in data.read_text().splitlines() if line.strip()]
    if not kw.get("mask_prompt"):
        return lines
    from ppltop.core.data.split import load_split
    from support.models import demo_tokenizer

    split = load_split(data, "test", demo_tokenizer(), True)
    return [e for e in split.examples if e.offset < min(len(e.tokens), msl)]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_base_model_matches_mlx_lm_evaluate(case, handle):
    _, data, kw = case
    want = mlx_lm_evaluate(demo.MODEL_DIR, data, **kw)
    got = score(demo.MODEL_DIR, data, handle, **kw)["base"]
    assert got.mlx_lm.loss == pytest.approx(want, rel=1e-5)
    # the headline is a different, honest figure: it scores every example with a target left
    assert got.examples == len(got_eval_examples(data, kw))


def test_test_batches_picks_the_same_batches_as_mlx_lm(handle, demo_test_file):
    want = mlx_lm_evaluate(demo.MODEL_DIR, demo_test_file, test_batches=3)
    got = score(demo.MODEL_DIR, demo_test_file, handle, test_batches=3)["base"]
    assert got.mlx_lm.loss == pytest.approx(want, rel=1e-5)
    assert got.mlx_lm.examples == 12
    # ppltop scores the same 12 examples: the 39 others are no difference between the figures
    assert got.examples == 12
    assert ("--test-batches 3: both figures cover the 12 examples of the batches it picks; "
            "the other 39 records are scored by neither") in got.explanation
    assert not any("ppltop scores them" in line for line in got.explanation)


def test_lora_adapters_match_mlx_lm_and_swap_in_place(handle, demo_test_file):
    adapters = list(demo.ADAPTER_DIRS.values())
    got = score(demo.MODEL_DIR, demo_test_file, handle, adapters=adapters)
    assert list(got) == ["base", *[a.name for a in adapters]]
    for adapter in adapters:
        want = mlx_lm_evaluate(demo.MODEL_DIR, demo_test_file, adapter=adapter)
        assert got[adapter.name].mlx_lm.loss == pytest.approx(want, rel=1e-5)
    # the base model is restored after the adapters: scoring again gives the same figure
    again = score(demo.MODEL_DIR, demo_test_file, handle)["base"]
    assert again.loss == pytest.approx(got["base"].loss, rel=1e-6)


def test_dora_adapter_matches_mlx_lm(handle, dora_adapter, demo_test_file):
    want = mlx_lm_evaluate(demo.MODEL_DIR, demo_test_file, adapter=dora_adapter)
    got = score(demo.MODEL_DIR, demo_test_file, handle, adapters=[dora_adapter], no_base=True)
    assert got["dora"].mlx_lm.loss == pytest.approx(want, rel=1e-5)


@pytest.mark.slow  # quantized and half-precision matmuls are slow on a CPU: 3 batches only
def test_quantized_model_with_adapter_matches_mlx_lm(quantized_model, tmp_path, demo_test_file):
    """Kept quantized (--dequantize off) the figure is mlx-lm's to 1e-5; dequantized (the
    default on the CPU backend) it agrees within 1e-4 and the summary says why it may not
    be exact."""
    adapter = make_adapter(quantized_model, tmp_path / "q-lora")
    few = {"max_seq_length": 256, "test_batches": 3}
    got = score(quantized_model, demo_test_file, adapters=[adapter], dequantize="off", **few)
    assert got["base"].mlx_lm.loss == pytest.approx(
        mlx_lm_evaluate(quantized_model, demo_test_file, **few), rel=1e-5)
    assert got["q-lora"].mlx_lm.loss == pytest.approx(
        mlx_lm_evaluate(quantized_model, demo_test_file, adapter=adapter, **few), rel=1e-5)
    assert not any("dequantized" in line for line in got["base"].explanation)
    fast = score(quantized_model, demo_test_file, adapters=[adapter], **few)
    for label in ("base", "q-lora"):
        assert fast[label].loss == pytest.approx(got[label].loss, abs=1e-4)
        assert fast[label].mlx_lm.loss == pytest.approx(got[label].mlx_lm.loss, abs=1e-4)
    assert any("quantized layers dequantized" in line and "--dequantize off" in line
               for line in fast["base"].explanation)


@pytest.mark.slow  # quantized and half-precision matmuls are slow on a CPU: 3 batches only
def test_half_precision_model_in_float32_or_as_stored(tmp_path, demo_test_file):
    """--dtype model reproduces mlx-lm on a float16 model; the default on the CPU backend
    computes in float32, close to it, and says so."""
    from mlx_lm import convert

    model = tmp_path / "f16"
    convert(str(demo.MODEL_DIR), mlx_path=str(model), dtype="float16")
    few = {"max_seq_length": 256, "test_batches": 3}
    stored = score(model, demo_test_file, dtype="model", **few)["base"]
    assert stored.mlx_lm.loss == pytest.approx(
        mlx_lm_evaluate(model, demo_test_file, **few), rel=1e-5)
    f32 = score(model, demo_test_file, **few)["base"]
    assert f32.loss == pytest.approx(stored.loss, rel=2e-3)
    assert f32.loss != stored.loss
    assert any("computed in float32" in line and "float16" in line for line in f32.explanation)


def test_printed_line_equals_mlx_lm_lora_test_output():
    """The real `mlx_lm.lora --test` command and `ppltop --headless` print the same line."""
    adapter = next(iter(demo.ADAPTER_DIRS.values()))
    common = ["--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR),
              "--adapter-path", str(adapter)]
    env = {**os.environ, **({"LD_PRELOAD": BLAS.path} if BLAS.path else {})}
    theirs = subprocess.run([sys.executable, "-m", "mlx_lm", "lora", *common, "--test",
                             "--test-batches", "-1"], capture_output=True, text=True,
                            timeout=300, env=env)
    assert theirs.returncode == 0, theirs.stderr
    line = re.search(r"Test loss [\d.]+, Test ppl [\d.]+\.", theirs.stdout).group(0)
    ours = run_ppltop(*common, "--no-base", "--headless")
    assert ours.returncode == 0, ours.stderr
    assert line in ours.stdout.splitlines()

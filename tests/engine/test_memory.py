"""--max-memory: batches that would not fit run in micro-batches, with the same figures."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from ppltop import demo
from ppltop.core.config import EvalConfig
from ppltop.core.engine.evaluation import Evaluation
from ppltop.core.errors import InputError
from ppltop.core.model import memory
from ppltop.core.store.events import BatchScored, RunFinished
from support.cli import run_ppltop

BUDGET = 28 << 20
"""The demo at --batch-size 16 peaks near 45 MiB unsplit (its rows packed without their
padding, and the CPU attention holding no full score matrix); split, it fits in 28 MiB."""


def _json_run(tmp_path, name, *extra):
    out = tmp_path / f"{name}.json"
    proc = run_ppltop("--headless", "--batch-size", "16", "--json", str(out), *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), proc.stderr


def test_a_run_over_budget_is_split_fits_and_gives_the_same_figures(tmp_path):
    whole, err = _json_run(tmp_path, "whole")
    assert "micro-batches" not in err
    assert whole["peak_memory_bytes"] > 1.5 * BUDGET  # the unsplit run would not fit
    split, err = _json_run(tmp_path, "split", "--max-memory", str(BUDGET))
    assert "micro-batches" in err and "same figures" in err
    assert split["peak_memory_bytes"] <= BUDGET
    for a, b in zip(whole["runs"], split["runs"]):
        assert a["label"] == b["label"]
        # fewer rows per matmul may round differently in float32: equal to its precision
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-6)
        assert b["mlx_lm"]["loss"] == pytest.approx(a["mlx_lm"]["loss"], rel=1e-6)


def test_two_models_loaded_together_stay_under_the_budget(tmp_path):
    """`--model` twice: both models' weights count, the batches split to fit beside them,
    and every figure (the losses, the KL and same-top of the copy) is the unsplit run's."""
    models = ["--model", str(demo.MODEL_DIR), "--model", str(demo.MODEL_DIR),
              "--data", str(demo.DATA_DIR)]
    whole, err = _json_run(tmp_path, "whole", *models)
    assert "micro-batches" not in err
    assert whole["peak_memory_bytes"] > 1.25 * BUDGET  # would not fit unsplit
    split, err = _json_run(tmp_path, "split", *models, "--max-memory", str(BUDGET))
    assert "micro-batches" in err
    assert split["peak_memory_bytes"] <= BUDGET
    assert [r["label"] for r in split["runs"]] == ["model", "model#2"]
    for a, b in zip(whole["runs"], split["runs"]):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-6)
    copy = {m["label"]: m for m in split["models"]}["model#2"]
    assert copy["kl_mean"] == pytest.approx(0.0, abs=1e-6) and copy["same_top"] == 1.0


def test_a_budget_too_small_for_one_sequence_is_one_line_and_exit_2():
    proc = run_ppltop("--headless", "--max-memory", "6M")
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("ppltop: BLAS")]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "--max-memory 6.0 MiB: one sequence of" in lines[0]
    assert "raise --max-memory or lower --max-seq-length" in lines[0]


def test_micro_batches_give_the_same_per_token_values(handle):
    def results(max_memory):
        ev = Evaluation(EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR, batch_size=8,
                                   max_memory=max_memory), handle)
        events = list(ev.events())
        assert isinstance(events[-1], RunFinished)
        return ev, {r.example: r for e in events if isinstance(e, BatchScored) for r in e.results}

    _, whole = results(None)
    ev, split = results(BUDGET)
    assert ev.memory_note is not None
    for i, r in whole.items():  # other row counts per matmul round differently (float32)
        np.testing.assert_allclose(split[i].logprob, r.logprob, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(split[i].rank, r.rank)


def test_a_budget_too_small_for_two_models_even_one_at_a_time_is_one_line():
    proc = run_ppltop("--headless", "--model", str(demo.MODEL_DIR), "--model",
                      str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR), "--max-memory", "6M")
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("ppltop: BLAS")]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "(the largest model's weights and the reference's kept log-probabilities " in lines[0]
    assert lines[0].endswith("the models one at a time); raise --max-memory or lower "
                             "--max-seq-length, or score fewer examples (--test-batches)")


@pytest.mark.parametrize("text,expected", [("8G", 8 << 30), ("512m", 512 << 20),
                                           ("1.5GiB", 3 << 29), ("2000000", 2000000)])
def test_sizes_parse(text, expected):
    assert memory.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "-1G", "8X", "1k", "lots"])
def test_bad_sizes_name_the_flag(text):
    with pytest.raises(InputError, match="--max-memory"):
        memory.parse_size(text)


def test_the_estimate_grows_with_rows_width_and_vocabulary():
    shape = memory.Shape.from_config({"hidden_size": 4096, "intermediate_size": 14336,
                                      "num_attention_heads": 32, "num_hidden_layers": 32,
                                      "vocab_size": 128256})
    assert shape.body_bytes(4, 2048) > 2 * shape.body_bytes(2, 2048) * 0.99
    assert shape.body_bytes(1, 4096) > 3 * shape.body_bytes(1, 2048)
    # the example: 262k vocabulary, batch 4, length 2048 would be 8.6 GB of logits
    big = memory.Shape.from_config({"hidden_size": 2560, "vocab_size": 262144})
    assert big.body_bytes(4, 2048, full_logits=True) > 8.5e9
    split = memory.plan_split(big, 4, 2048, 5 << 30, 12 << 30, 4096, targets=4 * 2048)
    assert split.micro_rows < 4 and split.peak_bytes <= 12 << 30


def test_the_cpu_attention_is_counted_by_its_blocks_not_the_whole_score_matrix():
    """ppltop's CPU attention holds one block of queries' scores per core, so its width
    costs linearly; MLX's own holds batch x heads x width x width three times over."""
    config = {"hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9,
              "num_hidden_layers": 30, "vocab_size": 49152}
    mlx_own = memory.Shape.from_config(config)
    blocked = memory.Shape.from_config(config, attention_block=128)
    activations = 4 * 2048 * (8 * 576 + 3 * 1536) * 4
    assert mlx_own.body_bytes(4, 2048) - activations == 3 * 4 * 9 * 2048 * 2048 * 4
    cores = min(os.cpu_count() or 1, 4 * 9)
    assert blocked.body_bytes(4, 2048) - activations == 2 * cores * 9 * 128 * 2048 * 4
    # at this width the blocked scores are a small part of the estimate, and no micro-batch
    # is needed where MLX's own attention would need several
    assert blocked.body_bytes(4, 2048) < mlx_own.body_bytes(4, 2048) / 3
    weights, budget = 540 << 20, 1280 << 20
    assert memory.plan_split(blocked, 4, 2048, weights, budget, 64, targets=8188
                             ).micro_rows == 4
    assert memory.plan_split(mlx_own, 4, 2048, weights, budget, 64, targets=8188
                             ).micro_rows == 1

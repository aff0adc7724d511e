"""The real command line, in subprocesses: the demo run, --json, and every bad input."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import mlx.core as mx
import pytest

from ppltop import demo
from support.cli import run_ppltop
from support.models import make_adapter, nan_model, token_of_one_example


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "summary.json"
    proc = run_ppltop("--headless", "--json", str(out))
    return proc, json.loads(out.read_text()) if out.exists() else None


def test_demo_prints_both_figures_and_why_they_differ(demo_run):
    proc, _ = demo_run
    assert proc.returncode == 0, proc.stderr
    labels = ["base", *demo.ADAPTER_DIRS]
    for label in labels:
        assert f"== {label}" in proc.stdout
    assert len(re.findall(r"^Test loss \d+\.\d{3}, Test ppl \d+\.\d{3}\.$", proc.stdout,
                          re.M)) == len(labels)
    assert proc.stdout.count("why they differ:") == len(labels)
    assert "mlx-lm never scores the last" in proc.stdout
    assert "phantom targets" in proc.stdout
    assert re.search(r"^\[\d+/\d+\] base loss", proc.stderr, re.M), proc.stderr
    assert "Traceback" not in proc.stderr


def test_json_summary_has_the_documented_schema(demo_run):
    _, summary = demo_run
    assert summary["version"] == 1 and summary["split"] == "test"
    assert summary["model"] == str(demo.MODEL_DIR) and summary["data"] == str(demo.DATA_DIR)
    runs = summary["runs"]
    assert [r["label"] for r in runs] == ["base", *demo.ADAPTER_DIRS]
    assert runs[0]["adapter"] is None and runs[1]["adapter"].endswith(runs[1]["label"])
    for r in runs:
        for key in ("loss", "ppl", "tokens", "examples", "stderr_loss", "ppl_ci95",
                    "bits_per_token", "bits_per_byte", "tokens_per_s", "mlx_lm"):
            assert key in r
        assert r["ppl"] == pytest.approx(math.exp(r["loss"]))
        lo, hi = r["ppl_ci95"]
        assert lo < r["ppl"] < hi
        for key in ("loss", "ppl", "tokens", "dropped_examples", "pad_targets"):
            assert key in r["mlx_lm"]
        assert r["mlx_lm"]["dropped_examples"] > 0 and r["mlx_lm"]["pad_targets"] > 0
    losses = [r["loss"] for r in runs]
    assert len(set(round(x, 4) for x in losses)) == 3, "the adapters change the loss"


def test_fewer_examples_than_batch_size_are_scored(tmp_path):
    lines = (demo.DATA_DIR / "test.jsonl").read_text().splitlines()[:3]
    (tmp_path / "test.jsonl").write_text("\n".join(lines) + "\n")
    proc = run_ppltop("--model", str(demo.MODEL_DIR), "--data", str(tmp_path), "--headless")
    assert proc.returncode == 0, proc.stderr
    assert "mlx-lm would refuse" in proc.stderr
    assert "mlx-lm stops with a ValueError: 3 examples" in proc.stdout
    assert "3 examples" in proc.stdout


def _model_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(demo.MODEL_DIR, dst)
    return dst


def _bad_inputs(tmp_path: Path):
    """(name, extra args, expected stderr fragment) for every bad input the CLI must name."""
    data = ["--data", str(demo.DATA_DIR)]
    model = ["--model", str(demo.MODEL_DIR)]
    no_config = tmp_path / "no-config"
    no_config.mkdir()
    unsupported = _model_copy(tmp_path / "u")
    cfg = json.loads((unsupported / "config.json").read_text())
    cfg["model_type"] = "nonexistent_arch"
    (unsupported / "config.json").write_text(json.dumps(cfg))
    wrong_adapter = make_adapter(demo.MODEL_DIR, tmp_path / "wrong", rank=4)
    w = mx.load(str(wrong_adapter / "adapters.safetensors"))
    w = {k: mx.concatenate([v, v], axis=0) if k.endswith("lora_a") else v for k, v in w.items()}
    mx.save_safetensors(str(wrong_adapter / "adapters.safetensors"), w)
    split_less = tmp_path / "split-less"
    split_less.mkdir()
    (split_less / "train.jsonl").write_text('{"text": "a b c"}\n')
    malformed = tmp_path / "malformed.jsonl"
    malformed.write_text('{"text": "fine"}\n{"text": oops}\n')
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text('{"body": "x"}\n')
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    return [
        ("model missing", ["--model", str(tmp_path / "nope"), *data], "no such folder"),
        ("no config.json", ["--model", str(no_config), *data], "no config.json"),
        ("unsupported", ["--model", str(unsupported), *data], "nonexistent_arch"),
        ("adapter missing", [*model, *data, "--adapter-path", str(tmp_path / "x")],
         "--adapter-path"),
        ("adapter mismatch", [*model, *data, "--adapter-path", str(wrong_adapter)],
         "was it trained for this model?"),
        ("no split", [*model, "--data", str(split_less)], "no test.jsonl"),
        ("malformed", [*model, "--data", str(malformed)], "malformed.jsonl:2: invalid JSON"),
        ("no known format", [*model, "--data", str(unknown)], "unknown.jsonl:1: record of no"),
        ("empty split", [*model, "--data", str(empty)], "split is empty"),
        ("untokenizable record", [*model, "--data", str(chat), "--mask-prompt"],
         "chat.jsonl:1: could not tokenize this record"),
        ("model without data", model, "--data is missing"),
        ("bad number", [*model, *data, "--batch-size", "0"], "--batch-size 0: must be at least 1"),
        ("bad test-batches", [*model, *data, "--test-batches", "-3"], "--test-batches -3"),
        ("json folder", [*model, *data, "--json", str(tmp_path / "no" / "x.json")],
         "does not exist"),
        ("mask-prompt on text", [*model, *data, "--mask-prompt"], "holds text records"),
    ]


def test_every_bad_input_gets_one_line_and_exit_2(tmp_path):
    cases = _bad_inputs(tmp_path)
    for name, args, expected in cases:
        proc = run_ppltop(*args, "--headless")
        err_lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("ppltop: BLAS")]
        assert proc.returncode == 2, (name, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr, name
        assert len(err_lines) == 1, (name, proc.stderr)
        assert expected in err_lines[0], (name, err_lines[0])
    assert len(cases) == 15


def test_nan_loss_is_reported_with_its_example(tmp_path):
    """A NaN input-embedding row poisons exactly the examples that contain that token."""
    from ppltop.core.data.split import load_split
    from ppltop.core.model.loader import ModelHandle

    handle = ModelHandle.load(demo.MODEL_DIR)
    split = load_split(demo.DATA_DIR, "test", handle.tokenizer, False)
    token, owner = token_of_one_example(split)
    owners = [owner]
    model = nan_model(tmp_path, token)
    out = tmp_path / "s.json"
    proc = run_ppltop("--model", str(model), "--data", str(demo.DATA_DIR), "--headless",
                      "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    line = split.examples[owners[0]].line
    assert f"test.jsonl:{line}: non-finite loss" in proc.stderr
    run = json.loads(out.read_text())["runs"][0]
    assert run["nonfinite_examples"] == owners
    assert run["loss"] is not None and math.isfinite(run["loss"])
    assert run["examples"] == len(split.examples) - 1
    assert run["nonfinite_tokens"] == len(split.examples[owner].tokens) - 1
    assert "left out of the ppltop figure with their" in proc.stdout

"""Damaged models and adapters through the real command line: each stops with one line that
names the file and what does not fit, exit status 2; a DoRA adapter and a full fine-tune
(fine_tune_type "full") score. The demo model is copied before anything is damaged."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlx.core as mx
import pytest

from ppltop import demo
from support.cli import run_ppltop
from support.models import make_adapter


def _model_copy(dst: Path) -> Path:
    shutil.copytree(demo.MODEL_DIR, dst)
    return dst


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(json.dumps(data))


def _truncate(path: Path) -> Path:
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])
    return path


def _full_fine_tune(dst: Path, fine_tune_type: str) -> Path:
    """What `mlx_lm.lora --fine-tune-type full` writes: every weight of the model."""
    dst.mkdir()
    weights = mx.load(str(demo.MODEL_DIR / "model.safetensors"))
    mx.save_safetensors(str(dst / "adapters.safetensors"),
                        {k: v * 1.01 for k, v in weights.items()})
    (dst / "adapter_config.json").write_text(json.dumps(
        {"fine_tune_type": fine_tune_type, "num_layers": 4,
         "lora_parameters": {"rank": 4, "scale": 10.0, "dropout": 0.0}}))
    return dst


def _bad_models(tmp: Path):
    """(name, --model folder, expected fragments of the one stderr line)."""
    cases = []
    m = _model_copy(tmp / "truncated")
    _truncate(m / "model.safetensors")
    cases.append(("truncated weights", m, ["truncated/model.safetensors: truncated ("]))
    m = _model_copy(tmp / "no-tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (m / name).unlink()
    cases.append(("missing tokenizer", m, ["no-tokenizer: no tokenizer in this folder"]))
    m = _model_copy(tmp / "hidden")
    _edit_json(m / "config.json", hidden_size=256)
    cases.append(("hidden_size changed", m, [
        "hidden: config.json does not match the weights", "model.embed_tokens.weight has shape "
        "(1024, 128) in the weights, but config.json implies (1024, 256)",
        "check hidden_size=256"]))
    return cases


def _bad_adapters(tmp: Path):
    """(name, --adapter-path folder, expected fragments of the one stderr line)."""
    cases = []
    a = make_adapter(demo.MODEL_DIR, tmp / "a-truncated")
    _truncate(a / "adapters.safetensors")
    cases.append(("truncated adapter", a, ["a-truncated/adapters.safetensors: truncated ("]))
    a = make_adapter(demo.MODEL_DIR, tmp / "a-layers")
    _edit_json(a / "adapter_config.json", num_layers=8)
    cases.append(("more layers than the model", a, [
        "a-layers: adapter_config.json names num_layers=8, but the model has 4"]))
    a = _full_fine_tune(tmp / "a-full-as-lora", "lora")
    cases.append(("full fine-tune given as LoRA", a, [
        "a-full-as-lora/adapters.safetensors: tensor", "not an adapter parameter",
        "a full fine-tune's weights? set fine_tune_type to full"]))
    return cases


def _one_line(proc) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if not ln.startswith("ppltop: BLAS")]


def test_bad_models_and_adapters_get_one_line_naming_the_file(tmp_path):
    data = ["--data", str(demo.DATA_DIR), "--headless"]
    jobs = [(name, ["--model", str(m), *data], expected)
            for name, m, expected in _bad_models(tmp_path)]
    jobs += [(name, ["--model", str(demo.MODEL_DIR), "--adapter-path", str(a), *data], expected)
             for name, a, expected in _bad_adapters(tmp_path)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        procs = list(pool.map(lambda job: run_ppltop(*job[1]), jobs))
    for (name, _, expected), proc in zip(jobs, procs):
        assert proc.returncode == 2, (name, proc.returncode, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, name
        lines = _one_line(proc)
        assert len(lines) == 1, (name, proc.stderr[-2000:])
        for fragment in expected:
            assert fragment in lines[0], (name, fragment, lines[0])
    assert len(jobs) == 6
    # the demo model itself was never touched
    assert (demo.MODEL_DIR / "model.safetensors").stat().st_size > 1_000_000


def test_more_damage_in_process(tmp_path):
    """Further variants, against the core functions the command line calls (faster)."""
    from ppltop.core.errors import InputError
    from ppltop.core.model.loader import ModelHandle, load_base, read_adapter

    def refusal(call, *args) -> str:
        with pytest.raises(InputError) as info:
            call(*args)
        assert "\n" not in str(info.value)
        return str(info.value)

    m = _model_copy(tmp_path / "bad-header")
    raw = (m / "model.safetensors").read_bytes()
    (m / "model.safetensors").write_bytes(raw[:8] + b"{broken" + raw[15:])
    assert "bad-header/model.safetensors: damaged safetensors header" in refusal(load_base, m)
    (m / "model.safetensors").write_bytes(b"")
    assert "bad-header/model.safetensors: not a safetensors file" in refusal(load_base, m)
    (m / "model.safetensors").write_bytes(b"\x00" * 8 + b"not a tensor file" * 50)
    assert "bad-header/model.safetensors: not a safetensors file" in refusal(load_base, m)
    m = _model_copy(tmp_path / "deeper")
    _edit_json(m / "config.json", num_hidden_layers=6)
    message = refusal(load_base, m)
    assert "deeper: config.json does not match the weights: 18 parameters" in message
    assert "first: model.layers.4." in message
    m = _model_copy(tmp_path / "shallower")
    _edit_json(m / "config.json", num_hidden_layers=2)
    assert "the weights hold 18 parameters that config.json does not describe" in refusal(
        load_base, m)
    m = _model_copy(tmp_path / "vocab")
    _edit_json(m / "config.json", vocab_size=2048)
    assert "config.json implies (2048, 128) (check vocab_size=2048)" in refusal(load_base, m)

    a = make_adapter(demo.MODEL_DIR, tmp_path / "a")
    (a / "adapters.safetensors").rename(tmp_path / "good.safetensors")
    (a / "adapters.safetensors").write_bytes(b"PK\x03\x04 a zip file, say" * 9)
    assert "a/adapters.safetensors: not a safetensors file" in refusal(read_adapter, a)
    (tmp_path / "good.safetensors").rename(a / "adapters.safetensors")
    config = json.loads((a / "adapter_config.json").read_text())
    for changes, expected in [
        ({"lora_parameters": None}, "a/adapter_config.json: no lora_parameters"),
        ({"lora_parameters": {"rank": "8", "scale": 1.0, "dropout": 0.0}},
         "lora_parameters.rank must be a positive whole number, got '8'"),
        ({"lora_parameters": {"rank": 4, "dropout": 0.0}}, "lora_parameters.scale must be"),
        ({"num_layers": None}, "num_layers must be a whole number, got None"),
        ({"fine_tune_type": "qlora"}, "unknown fine_tune_type 'qlora'"),
    ]:
        (a / "adapter_config.json").write_text(json.dumps({**config, **changes}))
        assert expected in refusal(read_adapter, a), changes
    (a / "adapter_config.json").write_text("[1, 2]")
    assert "adapter_config.json: expected a JSON object" in refusal(read_adapter, a)

    handle = ModelHandle.load(demo.MODEL_DIR)  # its own: activations that fail are tested
    deeper = make_adapter(demo.MODEL_DIR, tmp_path / "a-deeper-model")
    w = mx.load(str(deeper / "adapters.safetensors"))
    mx.save_safetensors(str(deeper / "adapters.safetensors"),
                        {k.replace("layers.3.", "layers.7."): v for k, v in w.items()})
    message = refusal(handle.activate, read_adapter(deeper))
    assert "a-deeper-model/adapters.safetensors: tensor model.layers.7." in message
    assert "is not an adapter parameter of this model" in message
    full = _full_fine_tune(tmp_path / "a-full-wrong", "full")
    w = mx.load(str(full / "adapters.safetensors"))
    w["model.layers.0.self_attn.q_proj.weight"] = mx.zeros((3, 3))
    mx.save_safetensors(str(full / "adapters.safetensors"), w)
    assert ("tensor model.layers.0.self_attn.q_proj.weight has shape (3, 3) but the model "
            "expects (128, 128)") in refusal(handle.activate, read_adapter(full))
    assert handle.active is None  # the failed activations left the base model


def test_dora_and_full_fine_tune_adapters_score(tmp_path, dora_adapter):
    full = _full_fine_tune(tmp_path / "full", "full")
    out = tmp_path / "s.json"
    data = tmp_path / "data"
    data.mkdir()
    lines = (demo.DATA_DIR / "test.jsonl").read_text().splitlines()[:8]
    (data / "test.jsonl").write_text("\n".join(lines) + "\n")
    proc = run_ppltop("--model", str(demo.MODEL_DIR), "--data", str(data),
                      "--adapter-path", str(dora_adapter), "--adapter-path", str(full),
                      "--headless", "--loss-only", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = {r["label"]: r for r in json.loads(out.read_text())["runs"]}
    assert set(runs) == {"base", "dora", "full"}
    losses = [runs[label]["loss"] for label in ("base", "dora", "full")]
    assert len({round(x, 5) for x in losses}) == 3, losses
    assert proc.stdout.count("Test loss") == 3

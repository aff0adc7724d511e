"""Models made for a test: adapters with random weights, a model with a NaN embedding, and
the real pretrained model's script."""

from __future__ import annotations

import functools
import importlib.util
import json
import shutil
import sys
import types
from pathlib import Path

import mlx.core as mx
import numpy as np

from ppltop import demo
from support.paths import ROOT


@functools.cache
def real_model_script() -> types.ModuleType:
    """scripts/real_model.py, imported as a module."""
    path = ROOT / "scripts" / "real_model.py"
    spec = importlib.util.spec_from_file_location("real_model", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def demo_tokenizer():
    """The demo model's tokenizer, loaded as mlx-lm loads it."""
    from mlx_lm.utils import load_tokenizer

    return load_tokenizer(demo.MODEL_DIR)


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


ARCHITECTURES = {
    "llama": {},
    "qwen2": {"num_key_value_heads": 2},
    "gemma3_text": {"head_dim": 16, "sliding_window": 8, "sliding_window_pattern": 2,
                    "query_pre_attn_scalar": 16, "num_key_value_heads": 2},
}


def tiny_model(folder: Path, model_type: str) -> Path:
    """A random model of this architecture with the demo's tokenizer, as mlx-lm saves one."""
    from mlx.utils import tree_flatten

    vocab = json.loads((demo.MODEL_DIR / "config.json").read_text())["vocab_size"]
    config = {"model_type": model_type, "hidden_size": 64, "num_hidden_layers": 4,
              "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 4,
              "vocab_size": vocab, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
              "rope_theta": 10000.0, **ARCHITECTURES[model_type]}
    module = importlib.import_module(f"mlx_lm.models.{model_type}")
    mx.random.seed(7)
    model = module.Model(module.ModelArgs.from_dict(config))
    folder.mkdir(parents=True)
    mx.save_safetensors(str(folder / "model.safetensors"), dict(tree_flatten(model.parameters())))
    (folder / "config.json").write_text(json.dumps(config))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(demo.MODEL_DIR / name, folder / name)
    return folder

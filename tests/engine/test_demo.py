"""The bundled demo (built by scripts/make_demo.py) is a real, working mlx-lm setup."""

from __future__ import annotations

import json
import math
import types

import pytest

from ppltop import demo

mx = pytest.importorskip("mlx.core")
mlx_lm = pytest.importorskip("mlx_lm")

from mlx_lm.tuner.datasets import CacheDataset, create_dataset, load_local_dataset  # noqa: E402
from mlx_lm.tuner.trainer import evaluate  # noqa: E402
from mlx_lm.tuner.utils import load_adapters  # noqa: E402

# Adapter checks score the first records of the test split, truncated, to stay fast on
# MLX's reference BLAS. (A subset via evaluate's num_batches would not do: mlx-lm visits
# batches in random order, so each call would score different records.)
ADAPTER_EVAL_RECORDS = 24
ADAPTER_EVAL_MAX_LEN = 128


def _records(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def base():
    model, tokenizer = mlx_lm.load(str(demo.MODEL_DIR))
    return model, tokenizer


@pytest.fixture(scope="module")
def test_set(base):
    _, tokenizer = base
    _, _, test = load_local_dataset(demo.DATA_DIR, tokenizer, types.SimpleNamespace())
    return CacheDataset(test)


@pytest.fixture(scope="module")
def log_vocab():
    config = json.loads((demo.MODEL_DIR / "config.json").read_text())
    return math.log(config["vocab_size"])


def _loss(model, dataset, max_seq_length=2048):
    """Mean loss per token over the whole dataset, as `mlx_lm lora --test` computes it."""
    return evaluate(model, dataset, batch_size=4, num_batches=-1,
                    max_seq_length=max_seq_length)


def test_paths_exist():
    assert demo.MODEL_DIR.is_dir() and demo.DEMO_DIR == demo.MODEL_DIR.parent
    assert list(demo.ADAPTER_DIRS) == ["docs-net", "docs-math"]
    for path in demo.ADAPTER_DIRS.values():
        assert sorted(p.name for p in path.iterdir()) == ["adapter_config.json",
                                                          "adapters.safetensors"]
    for folder in (demo.DATA_DIR, demo.CHAT_DATA_DIR, demo.COMPLETIONS_DATA_DIR):
        for split in ("train", "valid", "test"):
            assert (folder / f"{split}.jsonl").is_file(), folder / f"{split}.jsonl"
    assert (demo.DEMO_DIR / "README.md").is_file()


def test_demo_folder_is_small():
    files = [p for p in demo.DEMO_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert sum(p.stat().st_size for p in files) < 8 * 1024 * 1024


def test_adapter_configs_name_no_local_paths():
    for path in demo.ADAPTER_DIRS.values():
        config = json.loads((path / "adapter_config.json").read_text())
        assert config["fine_tune_type"] == "lora"
        assert config["num_layers"] == 4
        assert not str(config.get("model", "")).startswith("/")
        assert not str(config.get("adapter_path", "")).startswith("/")


def test_model_loads_as_llama_with_tokenizer(base):
    model, tokenizer = base
    config = json.loads((demo.MODEL_DIR / "config.json").read_text())
    assert config["model_type"] == "llama" and config["tie_word_embeddings"] is True
    assert model.model.embed_tokens.weight.dtype == mx.float32
    assert model.model.embed_tokens.weight.shape[0] == config["vocab_size"]
    assert (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    ids = tokenizer.encode("Return the cosine of x.")
    assert ids[0] == tokenizer.bos_token_id and 0 not in ids
    assert tokenizer.decode(ids[1:]) == "Return the cosine of x."


def test_chat_template_roles_and_generation_prompt(base):
    _, tokenizer = base
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What does `os.sep` do?"},
                {"role": "assistant", "content": "It names the path separator."}]
    full = tokenizer.apply_chat_template(messages, return_dict=False)
    prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True,
                                           return_dict=False)
    assert full[:len(prompt)] == prompt and len(full) > len(prompt)
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    for marker in ("<|system|>", "<|user|>", "<|assistant|>"):
        assert marker in text


def test_base_loss_well_below_uniform(base, test_set, log_vocab):
    model, _ = base
    loss = _loss(model, test_set)
    assert 1.0 < loss < 0.75 * log_vocab, (loss, log_vocab)


def _record_losses(model, dataset, max_len):
    """Mean loss per token of each record (first `max_len` tokens)."""
    import mlx.nn as nn

    out = []
    for i in range(len(dataset)):
        tokens = mx.array(dataset[i][0][:max_len])[None]
        ce = nn.losses.cross_entropy(model(tokens[:, :-1]), tokens[:, 1:])
        out.append(ce.mean().item())
    return out


def test_adapters_change_loss_and_differ(base):
    """Per record, not in aggregate: an adapter helps its own domain and hurts others,
    so on a mixed subset its mean loss can land on the base model's by chance."""
    model, tokenizer = base
    records = _records(demo.DATA_DIR / "test.jsonl")[:ADAPTER_EVAL_RECORDS]
    subset = CacheDataset(create_dataset(records, tokenizer, types.SimpleNamespace()))
    base_losses = _record_losses(model, subset, ADAPTER_EVAL_MAX_LEN)
    losses = {}
    for name, path in demo.ADAPTER_DIRS.items():
        fresh, _ = mlx_lm.load(str(demo.MODEL_DIR))
        fresh = load_adapters(fresh, str(path))
        losses[name] = _record_losses(fresh, subset, ADAPTER_EVAL_MAX_LEN)
        shift = sum(abs(a - b) for a, b in zip(losses[name], base_losses)) / len(records)
        assert shift > 0.1, (name, shift)
        # Some records get easier, some harder.
        assert min(a - b for a, b in zip(losses[name], base_losses)) < -0.1, name
        assert max(a - b for a, b in zip(losses[name], base_losses)) > 0.1, name
    net, math_ = losses["docs-net"], losses["docs-math"]
    assert sum(abs(a - b) for a, b in zip(net, math_)) / len(records) > 0.1


@pytest.mark.parametrize("folder", ["CHAT_DATA_DIR", "COMPLETIONS_DATA_DIR"])
def test_prompt_masking_gives_offsets(base, folder):
    _, tokenizer = base
    config = types.SimpleNamespace(mask_prompt=True)
    splits = load_local_dataset(getattr(demo, folder), tokenizer, config)
    assert all(len(split) > 0 for split in splits)
    for split in splits:
        for i in range(len(split)):
            tokens, offset = split.process(split[i])
            assert 0 < offset < len(tokens)


def test_test_split_shows_dropping_and_truncation(test_set):
    n = len(test_set)
    assert 40 <= n <= 60 and n % 4 != 0
    lengths = [len(test_set[i][0]) for i in range(n)]
    assert sum(length > 256 for length in lengths) >= 3
    # text records, each naming its slice (mlx-lm ignores the key; --group-by source uses it)
    assert all(set(r) == {"text", "source"} for r in _records(demo.DATA_DIR / "test.jsonl"))

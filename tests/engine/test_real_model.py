"""A real pretrained model (SmolLM2-135M-Instruct, built by scripts/real_model.py) works in
mlx-lm: its weights, its rebuilt tokenizer, its half-precision, 4-bit and LoRA copies."""

from __future__ import annotations

import json
import math

import pytest

from support.mlx_lm_reference import mlx_lm_evaluate_loaded, mlx_lm_lora_test_line
from support.models import real_model_script
from support.paths import REAL_DATA

mx = pytest.importorskip("mlx.core")
nn = pytest.importorskip("mlx.nn")
mlx_lm = pytest.importorskip("mlx_lm")

SHORT_TEXT = ("The kettle clicked off just as the rain began, and for a moment the kitchen was "
              "full of two kinds of hissing.")
LOSS_SETTINGS = {"batch_size": 4, "max_seq_length": 128}
"""Scoring settings of the loss checks: truncated, to stay fast on 2 CPU cores."""


def _texts(name: str) -> list[str]:
    lines = (REAL_DATA / name / "test.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines]


@pytest.fixture(scope="module")
def f32(real_models):
    return mlx_lm.load(str(real_models.f32))


@pytest.fixture(scope="module")
def text_loss(f32) -> float:
    return mlx_lm_evaluate_loaded(*f32, REAL_DATA / "text" / "test.jsonl", **LOSS_SETTINGS)


def _short_text_loss(model, tokenizer) -> float:
    tokens = mx.array(tokenizer.encode(SHORT_TEXT))[None]
    logits = model(tokens[:, :-1]).astype(mx.float32)
    return mx.mean(nn.losses.cross_entropy(logits, tokens[:, 1:])).item()


@pytest.mark.parametrize("heads", [9, 3])
def test_rotary_permutation_is_undone_exactly(heads):
    """llama.cpp's converter turns each head's rows (halves: h0 h1) into pairs (p0 p1 ...):
    rows.reshape(heads, 2, d/2, cols).swapaxes(1, 2). The script's inverse restores them."""
    np = pytest.importorskip("numpy")
    rows, cols = heads * 64, 10
    weight = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols)
    permuted = weight.reshape(heads, 2, 32, cols).swapaxes(1, 2).reshape(rows, cols)
    assert not np.array_equal(permuted, weight)
    assert np.array_equal(real_model_script().undo_rotary_permutation(permuted, heads), weight)


@pytest.mark.parametrize("gguf_name, hf_name", [
    ("token_embd.weight", "model.embed_tokens.weight"),
    ("output_norm.weight", "model.norm.weight"),
    ("output.weight", "lm_head.weight"),
    ("blk.7.attn_k.weight", "model.layers.7.self_attn.k_proj.weight"),
    ("blk.29.attn_output.weight", "model.layers.29.self_attn.o_proj.weight"),
    ("blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight"),
    ("blk.3.ffn_norm.weight", "model.layers.3.post_attention_layernorm.weight"),
])
def test_tensor_names(gguf_name, hf_name):
    assert real_model_script().hf_name(gguf_name) == hf_name


def test_float32_folder_is_the_135m_llama(real_models, f32):
    model, _ = f32
    config = json.loads((real_models.f32 / "config.json").read_text())
    assert (config["model_type"], config["num_hidden_layers"], config["hidden_size"]) == (
        "llama", 30, 576)
    assert config["tie_word_embeddings"] and config["num_key_value_heads"] == 3
    assert model.model.embed_tokens.weight.dtype == mx.float32


ROUND_TRIP = {"english": "Plain English, with digits 1234 and  two spaces.\n",
              "emoji": "Emoji 🚀🔥👩‍💻 and a flag 🇫🇷",
              **{f"zh-text-{i}": text for i, text in enumerate(_texts("zh-text"))}}


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_tokenizer_round_trips_byte_exact(f32, name):
    _, tokenizer = f32
    text = ROUND_TRIP[name]
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids).encode("utf-8") == text.encode("utf-8")


def test_chat_template_and_special_tokens(f32):
    _, tokenizer = f32
    ids = tokenizer.apply_chat_template([{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "Hi"}],
                                        add_generation_prompt=True)
    text = tokenizer.decode(ids)
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                    "<|im_start|>assistant\n")
    assert ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3
    assert tokenizer.eos_token_ids == {tokenizer.convert_tokens_to_ids("<|im_end|>")}
    assert tokenizer.encode("Hello")[0] != tokenizer.bos_token_id  # no BOS, as in the GGUF


def test_answer_is_coherent(real_models, f32):
    model, tokenizer = f32
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True)
    answer = mlx_lm.generate(model, tokenizer, prompt, max_tokens=12)
    assert "Paris" in answer
    assert "Paris" in real_models.answer


def test_english_loss_is_that_of_a_small_pretrained_model(text_loss):
    assert 2.5 < text_loss < 4.0


@pytest.mark.parametrize("copy, tolerance", [("f16", 0.02), ("bf16", 0.1), ("q4", 0.6)])
def test_copies_load_and_score_near_float32(real_models, f32, copy, tolerance):
    reference = _short_text_loss(*f32)
    model, tokenizer = mlx_lm.load(str(getattr(real_models, copy)))
    assert _short_text_loss(model, tokenizer) == pytest.approx(reference, abs=tolerance)


def test_adapter_changes_the_loss_and_mlx_lm_prints_it(real_models, text_loss):
    flags = ["--batch-size", LOSS_SETTINGS["batch_size"],
             "--max-seq-length", LOSS_SETTINGS["max_seq_length"], "--test-batches", -1]
    line = mlx_lm_lora_test_line(real_models.f32, REAL_DATA / "text", *flags,
                                 adapter=real_models.lora)
    loss, ppl = (float(word.rstrip(",.")) for word in line.split()[2::3])
    assert ppl == pytest.approx(math.exp(loss), rel=2e-3)
    assert abs(loss - text_loss) > 0.02

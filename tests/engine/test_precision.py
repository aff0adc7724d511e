"""Dequantizing and casting the model before scoring (`--dequantize`, `--dtype`)."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from ppltop.core.errors import InputError
from ppltop.core.model import precision
from ppltop.core.model.loader import load_base


def test_dequantized_layers_compute_what_the_quantized_ones_did(quantized_model):
    model, _, _ = load_base(quantized_model)
    tokens = mx.array(np.arange(3, 67, dtype=np.int32)[None])
    want = np.array(model(tokens))
    p = precision.apply(model, "on", "model", on_cpu=True)
    assert p.quantized_layers > 0 and p.dequantized_layers == p.quantized_layers
    assert not precision._quantized(model)
    np.testing.assert_allclose(np.array(model(tokens)), want, atol=1e-4)
    assert p.differs_from_mlx_lm and "dequantized" in p.explanation()


def test_auto_leaves_the_model_alone_on_a_gpu_or_when_it_would_not_fit(quantized_model):
    model, _, _ = load_base(quantized_model)
    on_gpu = precision.apply(model, on_cpu=False)
    assert on_gpu.dequantized_layers == 0 and on_gpu.explanation() is None
    need = precision.converted_bytes(model, True, mx.float32)
    tight = precision.apply(model, on_cpu=True, memory_bytes=need)  # needs half the RAM at most
    assert tight.dequantized_layers == 0
    assert any(n.startswith("kept quantized") for n in tight.notes)
    roomy = precision.apply(model, on_cpu=True, memory_bytes=4 * need)
    assert roomy.dequantized_layers == roomy.quantized_layers > 0


def test_a_bad_choice_names_the_flag(quantized_model):
    model, _, _ = load_base(quantized_model)
    with pytest.raises(InputError, match="--dtype float64"):
        precision.apply(model, "auto", "float64")


def test_a_model_scored_by_a_later_part_keeps_the_precision_it_was_loaded_in(quantized_model,
                                                                             demo_test_file):
    """A run set's second part (the next split, the next tokenizer) scores the handles the
    first converted: its precision still says they were stored quantized and dequantized,
    not float32 as the converted weights now read."""
    from ppltop.core.config import EvalConfig
    from ppltop.core.engine.models import make_ready, open_models

    config = EvalConfig(model=quantized_model, data=demo_test_file, dequantize="on")
    handles, chosen, _ = open_models(config)
    first = make_ready(handles[0], config)
    assert first == chosen[0]  # as chosen from the shapes, before any weight was read
    assert first.quantized_layers > 0 and first.dequantized_layers > 0
    _, again, _ = open_models(config, handles)
    assert again[0] == first and make_ready(handles[0], config) == first

"""The numeric form the model computes in: dequantized or not, and in which float dtype.

On MLX's CPU backend, `quantized_matmul` and float16/bfloat16 matmuls never reach BLAS:
they run scalar loops (a quantized matmul measured about 45x slower than a float32 one of
the same shape, half-precision matmuls 2.5-4 GFLOP/s). So on the CPU ppltop by default
turns quantized layers back into float layers and computes in float32, when that copy of
the weights fits in memory; on a GPU the model stays as stored. Either change moves
mlx-lm's figure in its last digits, so it is recorded and said in the summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

from ..config import DEQUANTIZE, DTYPES
from ..errors import InputError
from .memory import physical_memory

CHOICES = {"--dequantize": DEQUANTIZE, "--dtype": DTYPES}
MEMORY_SHARE = 0.5
"""`auto` converts only when the converted weights take at most this share of the RAM."""


@dataclass
class Precision:
    """What was done to the model before scoring, and what mlx-lm would compute in."""

    model_dtype: str
    """Float dtype of the stored weights (what `mlx_lm.lora --test` computes in)."""
    compute_dtype: str
    quantized_layers: int
    dequantized_layers: int = 0
    notes: list[str] = field(default_factory=list)
    """Why a choice was made, or why `auto` left the model as it was."""

    @property
    def differs_from_mlx_lm(self) -> bool:
        return self.dequantized_layers > 0 or self.compute_dtype != self.model_dtype

    def explanation(self) -> str | None:
        """One line for the summary when mlx-lm would compute differently, else None."""
        if not self.differs_from_mlx_lm:
            return None
        done = []
        if self.dequantized_layers:
            done.append(f"{self.dequantized_layers} quantized layers dequantized")
        if self.compute_dtype != self.model_dtype:
            done.append(f"computed in {self.compute_dtype}")
        return (f"{' and '.join(done)} (mlx-lm computes in the stored {self.model_dtype}"
                f"{', quantized' if self.quantized_layers else ''}): both figures may differ "
                "from mlx_lm.lora's in the last digits; --dequantize off --dtype model "
                "reproduces it exactly")

    @classmethod
    def from_dict(cls, data: dict | None) -> Precision | None:
        """Read back `to_dict`'s output (None for runs written before it was recorded)."""
        if not data:
            return None
        return cls(data["model_dtype"], data["compute_dtype"], data["quantized_layers"],
                   data.get("dequantized_layers", 0), list(data.get("notes", [])))

    def to_dict(self) -> dict[str, Any]:
        return {"model_dtype": self.model_dtype, "compute_dtype": self.compute_dtype,
                "quantized_layers": self.quantized_layers,
                "dequantized_layers": self.dequantized_layers, "notes": list(self.notes)}


def _quantized(model: nn.Module) -> list[tuple[str, nn.Module]]:
    kinds = (nn.QuantizedLinear, nn.QuantizedEmbedding)
    return [(name, m) for name, m in model.named_modules() if isinstance(m, kinds)]


def stored_dtype(model: nn.Module) -> mx.Dtype:
    """The float dtype holding most of the model's float parameters."""
    sizes: dict[str, Any] = {}
    for _, p in tree_flatten(model.parameters()):
        if mx.issubdtype(p.dtype, mx.floating):
            sizes[p.dtype] = sizes.get(p.dtype, 0) + p.size
    return max(sizes, key=sizes.get) if sizes else mx.float32


def converted_bytes(model: nn.Module, dequantize: bool, dtype: mx.Dtype | None) -> int:
    """Bytes of the weights after dequantizing and/or casting to `dtype`."""
    total = 0
    quantized = dict(_quantized(model)) if dequantize else {}
    for module in quantized.values():
        out_dims, packed = module.weight.shape
        elements = out_dims * packed * 32 // module.bits
        total += elements * (dtype or module.scales.dtype).size
    for key, p in tree_flatten(model.parameters()):
        if key.rsplit(".", 1)[0] in quantized:  # counted above, as float weights
            continue
        float_param = mx.issubdtype(p.dtype, mx.floating)
        total += p.size * (dtype.size if dtype is not None and float_param else p.dtype.size)
    return total


def dequantize_layers(model: nn.Module) -> int:
    """Replace every quantized linear/embedding layer by a float one with the same values."""
    replaced = []
    for name, q in _quantized(model):
        w = mx.dequantize(q.weight, q.scales, q.get("biases"), q.group_size, q.bits,
                          mode=getattr(q, "mode", "affine"))
        if isinstance(q, nn.QuantizedEmbedding):
            layer = nn.Embedding(*w.shape)
        else:
            layer = nn.Linear(w.shape[1], w.shape[0], bias="bias" in q)
            if "bias" in q:
                layer.bias = q.bias
        layer.weight = w
        replaced.append((name, layer))
    if replaced:
        model.update_modules(tree_unflatten(replaced))
        mx.eval(model.parameters())
    return len(replaced)


@dataclass
class Choice:
    """What `apply` will do to a model, decided from its shapes alone (a lazily loaded
    model's weights are not read): the precision it will be scored in, and its bytes then."""

    dequantize: bool
    float32: bool
    precision: Precision
    converted_bytes: int


def choose(model: nn.Module, dequantize: str = "auto", dtype: str = "auto",
           on_cpu: bool | None = None, memory_bytes: int | None = None) -> Choice:
    """Decide how to dequantize and/or cast `model` as the flags ask; `auto` decides by
    device and by whether the converted weights fit in `MEMORY_SHARE` of `memory_bytes`
    (the RAM). Nothing is converted."""
    for flag, value in (("--dequantize", dequantize), ("--dtype", dtype)):
        if value not in CHOICES[flag]:
            raise InputError(f"{flag} {value}: use one of {', '.join(CHOICES[flag])}")
    on_cpu = (mx.default_device() == mx.cpu) if on_cpu is None else on_cpu
    memory_bytes = physical_memory() if memory_bytes is None else memory_bytes
    model_dtype = stored_dtype(model)
    n_quantized = len(_quantized(model))
    result = Precision(_name(model_dtype), _name(model_dtype), n_quantized)

    want_deq = n_quantized > 0 and (dequantize == "on" or (dequantize == "auto" and on_cpu))
    want_f32 = model_dtype != mx.float32 and (dtype == "float32" or (dtype == "auto" and on_cpu))
    need = converted_bytes(model, want_deq, mx.float32 if want_f32 else None)
    if dequantize == "auto" or dtype == "auto":
        room = int(MEMORY_SHARE * memory_bytes)
        if memory_bytes and need > room:
            gib = (f"{need / 2**30:.1f} GiB, more than half of the "
                   f"{memory_bytes / 2**30:.1f} GiB RAM")
            if dequantize == "auto" and want_deq:
                want_deq = False
                result.notes.append(f"kept quantized: dequantized weights would take {gib}")
            if dtype == "auto" and want_f32:
                want_f32 = False
                result.notes.append(f"kept {result.model_dtype}: float32 weights would take {gib}")
            need = converted_bytes(model, want_deq, mx.float32 if want_f32 else None)
    if want_deq:
        result.dequantized_layers = n_quantized
        result.notes.append(f"dequantized {n_quantized} layers "
                            "(quantized matmuls are slow on the CPU backend)")
    if want_f32:
        result.compute_dtype = "float32"
        result.notes.append(f"computing in float32 instead of {result.model_dtype} "
                            "(half-precision matmuls are slow on the CPU backend)")
    return Choice(want_deq, want_f32, result, need)


def apply(model: nn.Module, dequantize: str = "auto", dtype: str = "auto",
          on_cpu: bool | None = None, memory_bytes: int | None = None) -> Precision:
    """Dequantize and/or cast `model` in place as `choose` decides."""
    choice = choose(model, dequantize, dtype, on_cpu, memory_bytes)
    if choice.dequantize:
        dequantize_layers(model)
    if choice.float32:
        model.set_dtype(mx.float32)
        mx.eval(model.parameters())
    return choice.precision


def _name(dtype: mx.Dtype) -> str:
    return str(dtype).rsplit(".", 1)[-1]

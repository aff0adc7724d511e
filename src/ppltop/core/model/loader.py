"""Load a model once and swap LoRA/DoRA adapters in place.

The base weights are loaded once with `mlx_lm.load`. Each adapter's tensors are read once
into memory; activating one unwraps whatever adapter layers are present, wraps the layers
the adapter's config names (with mlx-lm's own `linear_to_lora_layers`) and loads its
tensors. The base model is the unwrapped model.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

from ..errors import InputError

if TYPE_CHECKING:
    from .precision import Precision

ADAPTER_LEAVES = {"lora_a", "lora_b", "m"}


@dataclass
class Adapter:
    """An adapter folder read into memory."""

    label: str
    path: Path
    config: dict[str, Any]
    weights: dict[str, mx.array] = field(repr=False)

    @property
    def fine_tune_type(self) -> str:
        kind: str = self.config.get("fine_tune_type", "lora")
        return kind


def _check_model_folder(path: Path) -> None:
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InputError(f"--model {path}: no config.json in this folder; "
                             "point --model at an mlx-lm model folder")
        if not any(path.glob("*.safetensors")):
            raise InputError(f"--model {path}: no .safetensors weights in this folder; "
                             "point --model at an mlx-lm model folder")
    elif path.exists():
        raise InputError(f"--model {path}: is a file; point --model at a model folder")
    elif str(path).startswith((".", "/", "~")) or str(path).count("/") != 1:
        raise InputError(f"--model {path}: no such folder; give a local model folder "
                         "or a Hugging Face repo id already in your cache")


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tiktoken.model")


def check_safetensors(path: Path, advice: str = "re-download or re-convert the model") -> None:
    """Refuse a truncated or damaged .safetensors file with one line naming it, before MLX
    reads it (MLX's own message is long and may not name the file). Reads only the header."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            length = int.from_bytes(head, "little") if len(head) == 8 else 0
            if length < 2 or 8 + length > size:
                raise InputError(f"{path}: not a safetensors file, or cut short ({size:,} bytes; "
                                 f"no complete header); {advice}")
            header = json.loads(fh.read(length))
        end = max((int(info["data_offsets"][1]) for name, info in header.items()
                   if name != "__metadata__"), default=0)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror}); "
                         "check the file and permissions") from e
    except (ValueError, UnicodeDecodeError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise InputError(f"{path}: damaged safetensors header (not the JSON table of tensors); "
                         f"{advice}") from exc
    if 8 + length + end > size:
        raise InputError(f"{path}: truncated ({size:,} bytes, but its header describes "
                         f"{8 + length + end:,}); {advice}")


def _config_mismatch(path: Path, message: str) -> str | None:
    """One line for mlx-lm's errors about weights that do not fit config.json, else None."""
    lines = [ln.strip().rstrip(",") for ln in message.splitlines()]
    first = next((ln for ln in lines[1:] if ln), "?")
    where = f"--model {path}: config.json does not match the weights"
    fix = "restore the config.json that came with the weights"
    shape = re.match(r"Expected shape \(([^)]*)\) but received shape \(([^)]*)\) "
                     r"for parameter (\S+)", lines[0] if lines else "")
    if shape:
        expected, got, name = shape.groups()
        try:
            config = json.loads((path / "config.json").read_text())
        except (OSError, ValueError):
            config = {}
        sizes = {k: v for k, v in config.items() if type(v) is int}
        suspects = [f"{k}={v}" for k, v in sizes.items()
                    if str(v) in expected.split(", ") and str(v) not in got.split(", ")]
        check = f" (check {', '.join(suspects)})" if suspects else ""
        return (f"{where}: {name} has shape ({got}) in the weights, but config.json implies "
                f"({expected}){check}; {fix}")
    missing = re.match(r"Missing (\d+) parameters", lines[0] if lines else "")
    if missing:
        return (f"{where}: {missing.group(1)} parameters that config.json implies are not in "
                f"the weights (first: {first}); check num_hidden_layers and the sizes, or {fix}")
    extra = re.match(r"Received (\d+) parameters not in model", lines[0] if lines else "")
    if extra:
        return (f"{where}: the weights hold {extra.group(1)} parameters that config.json does "
                f"not describe (first: {first}); check num_hidden_layers, or {fix}")
    return None


def load_base(path: str | Path, lazy: bool = False) -> tuple[nn.Module, Any, dict[str, Any]]:
    """Load model and tokenizer with mlx-lm. Returns (model, tokenizer, config dict);
    `lazy`: the weights are read when first computed with, not now."""
    from mlx_lm import load

    path = Path(path).expanduser()
    _check_model_folder(path)
    if path.is_dir():
        for weights in sorted(path.glob("model*.safetensors")):
            check_safetensors(weights)
        if not any((path / name).is_file() for name in TOKENIZER_FILES) and not any(
                path.glob("*.tiktoken")):
            raise InputError(f"--model {path}: no tokenizer in this folder (no tokenizer.json or "
                             "tokenizer.model); copy the tokenizer files of the original model")
    try:
        # its annotations give two results; return_config=True adds the third
        model, tokenizer, config = load(str(path), return_config=True,  # type: ignore[misc]
                                        lazy=lazy)
    except ValueError as e:
        explained = _config_mismatch(path, str(e))
        if explained:
            raise InputError(explained) from e
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "not supported" in msg.lower():
            raise InputError(f"--model {path}: {msg}; upgrade mlx-lm or convert the model") from e
        raise InputError(f"--model {path}: cannot load ({msg[:160]})") from e
    except FileNotFoundError as e:
        raise InputError(f"--model {path}: {str(e).splitlines()[0][:160]}") from e
    except Exception as e:  # tokenizer files, network for hub ids, corrupt weights
        msg = (str(e).splitlines() or [type(e).__name__])[0][:160]
        raise InputError(f"--model {path}: cannot load ({type(e).__name__}: {msg})") from e
    model.eval()
    return model, tokenizer, config


def checkpoint_files(folder: Path) -> list[Path]:
    """`mlx_lm.lora`'s checkpoints in an adapter folder (`0001000_adapters.safetensors`),
    by step, then the final `adapters.safetensors` if present."""
    steps = sorted(folder.glob("*_adapters.safetensors"),
                   key=lambda p: (len(p.name), p.name))
    final = folder / "adapters.safetensors"
    return steps + ([final] if final.is_file() else [])


def read_adapter(path: str | Path, label: str | None = None,
                 weights_file: Path | None = None) -> Adapter:
    """Read an adapter folder (adapter_config.json + adapters.safetensors, or the given
    checkpoint file of that folder) into memory."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise InputError(f"--adapter-path {path}: no such folder; give the folder "
                         "mlx_lm.lora wrote (with adapter_config.json)")
    config_file = path / "adapter_config.json"
    weights_file = weights_file or path / "adapters.safetensors"
    for needed in (config_file, weights_file):
        if not needed.is_file():
            raise InputError(f"--adapter-path {path}: missing {needed.name}; "
                             "give the folder mlx_lm.lora wrote")
    try:
        config = json.loads(config_file.read_text())
    except (ValueError, OSError) as e:
        raise InputError(f"{config_file}: not valid JSON ({e}); "
                         "restore the file mlx_lm.lora wrote") from e
    _check_adapter_config(config, config_file)
    check_safetensors(weights_file, "copy it again from the folder mlx_lm.lora wrote")
    try:
        weights = mx.load(str(weights_file))
        # evaluate here: a lazy array made on this thread's stream cannot be evaluated on
        # the scoring thread ("There is no Stream(cpu, 0) in current thread")
        mx.eval(weights)
    except Exception as e:
        raise InputError(f"{weights_file}: cannot read ({str(e)[:120]}); "
                         "the file may be truncated or not safetensors") from e
    # mx.load of a .safetensors file: a dict of arrays (its annotations allow other files)
    return Adapter(label or path.name, path, config, weights)  # type: ignore[arg-type]


def _check_adapter_config(config: dict[str, Any], config_file: Path) -> None:
    """The fields mlx-lm reads from adapter_config.json, with the types it needs."""
    fix = "restore the file mlx_lm.lora wrote"
    if not isinstance(config, dict):
        raise InputError(f"{config_file}: expected a JSON object; {fix}")
    kind = config.get("fine_tune_type", "lora")
    if kind not in ("lora", "dora", "full"):
        raise InputError(f"{config_file}: unknown fine_tune_type {kind!r} "
                         "(mlx-lm knows lora, dora and full)")
    if kind == "full":
        return
    layers = config.get("num_layers")
    if type(layers) is not int:
        raise InputError(f"{config_file}: num_layers must be a whole number, got {layers!r}; {fix}")
    params = config.get("lora_parameters")
    if not isinstance(params, dict):
        raise InputError(f"{config_file}: no lora_parameters (rank, scale, dropout) for this "
                         f"{kind} adapter; {fix}")
    for key in ("rank", "scale", "dropout"):
        value = params.get(key)
        if type(value) not in (int, float) or (key == "rank" and not (
                type(value) is int and value > 0)):
            raise InputError(f"{config_file}: lora_parameters.{key} must be a "
                             f"{'positive whole number' if key == 'rank' else 'number'}, "
                             f"got {value!r}; {fix}")


HOLD_ENV = "PPLTOP_HOLD_LOAD"
"""`PPLTOP_HOLD_LOAD=FILE`: loading waits until FILE exists, so that a test can interrupt a
run while its model loads (the demo's loads in a second, too fast to aim at)."""


def _hold_for_tests() -> None:
    hold = os.environ.get(HOLD_ENV)
    while hold and not os.path.exists(hold):
        time.sleep(0.05)


class ModelHandle:
    """A loaded base model whose active adapter can be switched in place."""

    def __init__(self, model: nn.Module, tokenizer: Any, config: dict[str, Any], path: Path):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.path = path
        self.active: Adapter | None = None
        self.opened_in = threading.get_ident()
        """The thread whose MLX stream its arrays were made on."""
        self._base_params: dict[str, mx.array] | None = None
        self.precision: tuple[tuple[str, str], Precision] | None = None
        """((--dequantize, --dtype), the precision it is scored in) once
        `engine.models.make_ready` has applied them: once per model, however many parts
        of a run set score it (applied again, its weights would read as already
        converted)."""

    @classmethod
    def load(cls, path: str | Path, lazy: bool = False) -> ModelHandle:
        """`lazy`: open the model without reading its weights (they are read when it first
        computes, or when `engine.models.make_ready` makes it ready)."""
        _hold_for_tests()
        model, tokenizer, config = load_base(path, lazy)
        return cls(model, tokenizer, config, Path(path))

    def reopen(self) -> None:
        """Free the weights: the model is opened again lazily from its folder, in its stored
        form, on this thread (MLX cannot read a lazy array opened on another thread's
        stream), to be made ready again when it is scored."""
        self.model = load_base(self.path, lazy=True)[0]
        self.active, self._base_params, self.precision = None, None, None
        self.opened_in = threading.get_ident()

    @property
    def unread(self) -> bool:
        """Opened lazily and not converted yet: its weights may not have been read."""
        return self.precision is None

    def weights_bytes(self) -> int:
        """Its parameters' bytes in memory as they are now (after any dequantizing or
        cast; an active adapter's included)."""
        flat: list[tuple[str, mx.array]] = tree_flatten(  # type: ignore[assignment]
            self.model.parameters())
        return sum(w.nbytes for _, w in flat)

    def activate(self, adapter: Adapter | None, evaluate: bool = True) -> None:
        """Make `adapter` (None: the base model) the one the model computes with;
        `evaluate=False` leaves a lazily opened model's weights unread (a fit check)."""
        if adapter is self.active:
            return
        self._restore_base()
        if adapter is not None:
            try:
                self._apply(adapter)
            except InputError:
                self._restore_base()
                raise
        self.model.eval()
        if evaluate:
            mx.eval(self.model.parameters())  # nothing lazy may cross to another thread
        self.active = adapter

    def _restore_base(self) -> None:
        unwrapped = []
        for name, module in self.model.named_modules():
            if "lora_a" in module and ("linear" in module or "embedding" in module):
                base = module["linear"] if "linear" in module else module["embedding"]
                unwrapped.append((name, base))
        if unwrapped:
            self.model.update_modules(tree_unflatten(unwrapped))
        if self._base_params is not None:
            self.model.load_weights(list(self._base_params.items()), strict=False)
            self._base_params = None
        self.active = None

    def _apply(self, adapter: Adapter) -> None:
        from mlx_lm.tuner.utils import linear_to_lora_layers

        kind = adapter.fine_tune_type
        cfg = types.SimpleNamespace(**adapter.config)
        where = f"--adapter-path {adapter.path}"
        if kind not in ("lora", "dora", "full"):
            raise InputError(f"{where}: unknown fine_tune_type {kind!r} in adapter_config.json")
        if kind != "full":
            layers = getattr(cfg, "num_layers", None)
            n_model = len(self.model.layers)
            if not isinstance(layers, int) or layers > n_model:
                raise InputError(f"{where}: adapter_config.json names num_layers={layers}, "
                                 f"but the model has {n_model}; was it trained for this model?")
            try:
                linear_to_lora_layers(self.model, layers, cfg.lora_parameters,
                                      use_dora=(kind == "dora"))
            except (KeyError, ValueError, AttributeError) as e:
                raise InputError(f"{where}: cannot apply the adapter config ({e})") from e
        params = dict(tree_flatten(self.model.parameters()))
        if kind == "full":
            allowed = params
        else:
            allowed = {k: v for k, v in params.items() if k.rsplit(".", 1)[-1] in ADAPTER_LEAVES}
        for name, w in adapter.weights.items():
            if name not in allowed:
                hint = (" (a full fine-tune's weights? set fine_tune_type to full)"
                        if kind != "full" and name in params else "")
                raise InputError(f"{adapter.path / 'adapters.safetensors'}: tensor {name} is not "
                                 f"an adapter parameter of this model{hint}; "
                                 "was it trained for this model?")
            if w.shape != allowed[name].shape:
                weights_file = adapter.path / "adapters.safetensors"
                raise InputError(f"{weights_file}: tensor {name} has shape "
                                 f"{tuple(w.shape)} but the model expects "
                                 f"{tuple(allowed[name].shape)}; was it trained for this model?")
        if kind == "full":
            self._base_params = {k: params[k] for k in adapter.weights}
        self.model.load_weights(list(adapter.weights.items()), strict=False)

"""Several models in one run (`--model` repeated): loading them, checking that they read
the data as the same token ids, and which adapters apply to which model.

Models are compared on the same tokens, so their tokenizers must agree on every example:
this is checked on the data itself, not assumed from the tokenizer files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..config import EvalConfig
from ..data.split import Split, load_split
from ..errors import InputError
from ..model import precision
from ..model.loader import Adapter, ModelHandle
from ..model.precision import Precision
from ..store.events import ModelFacts
from .plan import model_labels


def load_models(config: EvalConfig, loaded: Sequence[ModelHandle] = ()
                ) -> tuple[list[ModelHandle], list[Precision], list[str]]:
    """Every model of the run, in order, each in the precision it is scored in; `loaded`
    are the first of them, already loaded. Also the precision notes of the models after
    the first, each under its label (the first's are said as for one model)."""
    models = config.all_models
    handles = list(loaded) + [ModelHandle.load(path) for path in models[len(loaded):]]
    precisions = []
    for handle in handles:
        handle.activate(None)  # convert the base layers, before any adapter wraps them
        precisions.append(precision.apply(handle.model, config.dequantize, config.dtype))
    names = model_labels(models)
    notes = [f"[{names[i]}] {note}" for i, p in enumerate(precisions) if i for note in p.notes]
    return handles, precisions, notes


def check_same_tokens(config: EvalConfig, split: Split, handles: list[ModelHandle],
                      vocab_sizes: list[int]) -> None:
    """Refuse, in one line, a model whose tokenizer gives any example other token ids (or
    another prompt length) than the first model's, or whose vocabulary differs."""
    models = config.all_models
    different = ("comparing models with different tokenizers is not supported yet; "
                 "give models that share one tokenizer")
    for index, handle in enumerate(handles[1:], start=1):
        theirs = load_split(config.data, config.split, handle.tokenizer, config.mask_prompt,
                            config.features)
        if len(theirs.examples) != len(split.examples):
            raise InputError(f"--model {models[index]}: its tokenizer reads "
                             f"{len(theirs.examples)} examples from {split.path}, --model "
                             f"{models[0]}'s {len(split.examples)}; {different}")
        for mine, other in zip(split.examples, theirs.examples):
            if other.offset != mine.offset or not _same_ids(mine.tokens, other.tokens):
                raise InputError(f"--model {models[index]}: its tokenizer gives other token ids "
                                 f"than --model {models[0]}'s ({split.path}:{mine.line}); "
                                 f"{different}")
        if vocab_sizes[index] != vocab_sizes[0]:
            raise InputError(f"--model {models[index]}: a vocabulary of {vocab_sizes[index]:,} "
                             f"but --model {models[0]} has {vocab_sizes[0]:,}; {different}")


def _same_ids(a: np.ndarray, b: np.ndarray) -> bool:
    return len(a) == len(b) and bool((a == b).all())


def fit_adapters(config: EvalConfig, handles: list[ModelHandle], adapters: list[Adapter]
                 ) -> tuple[dict[tuple[int, str], bool], list[str]]:
    """Which adapter applies to which model (its shapes and layers checked by activating
    it), and one note per adapter saying the pairs scored. With one model, an adapter that
    does not fit is refused; with several, one that fits none of them."""
    fits: dict[tuple[int, str], bool] = {}
    notes = []
    names = model_labels(config.all_models)
    for adapter in adapters:
        refusals: list[InputError] = []
        for index, handle in enumerate(handles):
            try:
                handle.activate(adapter)
                fits[(index, adapter.label)] = True
            except InputError as e:
                if len(handles) == 1:
                    raise
                fits[(index, adapter.label)] = False
                refusals.append(e)
            finally:
                handle.activate(None)
        if len(refusals) == len(handles):
            raise refusals[0]
        if len(handles) > 1:
            notes.append(_pairs_note(adapter, names, fits, refusals))
    return fits, notes


def _pairs_note(adapter: Adapter, names: list[str], fits: dict[tuple[int, str], bool],
                refusals: list[InputError]) -> str:
    applied = [name for i, name in enumerate(names) if fits[(i, adapter.label)]]
    skipped = [name for i, name in enumerate(names) if not fits[(i, adapter.label)]]
    note = f"adapter {adapter.label} scored with {', '.join(applied)}"
    if skipped:
        why = str(refusals[0]).split(": ", 1)[-1]
        note += f"; not with {', '.join(skipped)} (it does not fit: {why})"
    return note


def model_facts(config: EvalConfig, handles: Sequence[ModelHandle],
                precisions: Sequence[Precision]) -> list[ModelFacts]:
    """Each model's stored form, compute dtype and size on disk and in memory (after
    `load_models` converted it), for a run over several models; none for one."""
    if len(handles) < 2:
        return []
    facts = []
    for name, path, handle, p in zip(model_labels(config.all_models), config.all_models,
                                     handles, precisions):
        bits = (handle.config.get("quantization") or {}).get("bits")
        stored = f"{bits}-bit" if p.quantized_layers and bits else p.model_dtype
        facts.append(ModelFacts(name, str(path), stored, p.compute_dtype,
                                _weight_files_bytes(Path(path)), handle.weights_bytes()))
    return facts


def _weight_files_bytes(folder: Path) -> int:
    """The weight files' bytes in a model folder (0 where there is no such folder here)."""
    return sum(f.stat().st_size for f in folder.glob("*.safetensors")) if folder.is_dir() \
        else 0

"""Several models in one run (`--model` repeated): loading them, checking that they read
the data as the same token ids, and which adapters apply to which model.

Models are compared token by token where their tokenizers agree on every example (checked
on the data itself, not assumed from the tokenizer files); `tokenizer_groups` sorts them,
and models of different tokenizers are compared per example, in bits per byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import mlx.core as mx
import numpy as np

from ..config import EvalConfig
from ..data.split import Split, load_split
from ..errors import InputError
from ..model import precision
from ..model.loader import Adapter, ModelHandle
from ..model.precision import Precision
from ..store.events import ModelFacts
from .plan import label_pairs, model_names, names_models, read_adapters


def open_models(config: EvalConfig, loaded: Sequence[ModelHandle] = ()
                ) -> tuple[list[ModelHandle], list[Precision], list[str]]:
    """Every model of the run, in order: `loaded` first, the others opened lazily (their
    weights unread until `make_ready`, so that models which do not fit in memory together
    can be scored one at a time); the precision each is scored in, chosen from its shapes;
    and the precision notes of the models after the first, each under its label (the
    first's are said as for one model)."""
    models = config.all_models
    handles = list(loaded) + [ModelHandle.load(path, lazy=True)
                              for path in models[len(loaded):]]
    precisions = [planned(handle, config).precision for handle in handles]
    names = model_names(config)
    notes = [f"[{names[i]}] {note}" for i, p in enumerate(precisions) if i for note in p.notes]
    return handles, precisions, notes


def planned(handle: ModelHandle, config: EvalConfig) -> precision.Choice:
    """What `make_ready` does (or did) to `handle` under the run's --dequantize and --dtype."""
    wanted = (config.dequantize, config.dtype)
    if handle.precision is not None and handle.precision[0] == wanted:  # converted already
        return precision.Choice(False, False, handle.precision[1], handle.weights_bytes())
    return precision.choose(handle.model, *wanted)


def make_ready(handle: ModelHandle, config: EvalConfig) -> Precision:
    """Read `handle`'s weights and convert them to the precision it is scored in, once per
    model however many parts of a run set score it (converted again, its weights would
    read as float32 already)."""
    wanted = (config.dequantize, config.dtype)
    if handle.precision is None or handle.precision[0] != wanted:
        handle.activate(None)  # convert the base layers, before any adapter wraps them
        handle.precision = wanted, precision.apply(handle.model, *wanted)
        mx.eval(handle.model.parameters())  # all read here: none left lazy for another thread
    return handle.precision[1]


def check_same_tokens(config: EvalConfig, split: Split, handles: list[ModelHandle],
                      vocab_sizes: list[int]) -> None:
    """Refuse, in one line, a model whose tokenizer gives any example other token ids (or
    another prompt length) than the first model's, or whose vocabulary differs: one
    evaluation scores one tokenization (a run over several is `tokenizer_groups`' parts)."""
    models = config.all_models
    different = ("models with different tokenizers are compared in a run of their own: "
                 "start it with ppltop, not mlx.launch or resume")
    for index, handle in enumerate(handles[1:], start=1):
        theirs = load_split(config.data, config.split, handle.tokenizer, config.mask_prompt,
                            config.features)
        why = _reads_otherwise(split, theirs, vocab_sizes[0], vocab_sizes[index])
        if why:
            raise InputError(f"--model {models[index]}: {why} than --model {models[0]}'s "
                             f"({split.path}); {different}")


def tokenizer_groups(config: EvalConfig, handles: list[ModelHandle]) -> list[list[int]]:
    """The models (indices in `config.all_models`) grouped by how they read the data:
    those of one group give every example the same token ids and prompt length and have
    one vocabulary size, so they are compared token by token; groups by their first model."""
    groups: list[tuple[Split, int, list[int]]] = []
    for index, handle in enumerate(handles):
        split = load_split(config.data, config.split, handle.tokenizer, config.mask_prompt,
                           config.features)
        vocab = vocab_size(handle)
        for first, first_vocab, members in groups:
            if not _reads_otherwise(first, split, first_vocab, vocab):
                members.append(index)
                break
        else:
            groups.append((split, vocab, [index]))
    return [members for _, _, members in groups]


def tokenizer_parts(config: EvalConfig, handles: list[ModelHandle], groups: list[list[int]]
                    ) -> dict[str, EvalConfig]:
    """A run over several tokenizers as its parts, each named by its first model: the
    config that scores the models of one tokenizer (named as in the whole run) with the
    adapter folders that fit one of them, and --reference where it names one of its
    labels. `handles` are every model, ready (`make_ready`); an adapter that fits no
    model at all is refused here."""
    fit_adapters(config, handles, read_adapters(config.adapters, config.checkpoints,
                                                config.checkpoint_choice))
    names, models = model_names(config), config.all_models
    parts = {}
    for members in groups:
        mine = [handles[i] for i in members]
        folders = [f for f in config.adapters if _fits_one(config, f, mine)]
        part = replace(config, model=models[members[0]],
                       models=tuple(models[i] for i in members) if len(members) > 1 else (),
                       model_names=tuple(names[i] for i in members), adapters=folders)
        labels = label_pairs(part, read_adapters(folders, config.checkpoints,
                                                 config.checkpoint_choice))
        parts[names[members[0]]] = replace(part, reference=config.reference
                                           if config.reference in labels else None)
    return parts


def _fits_one(config: EvalConfig, folder: Path, handles: list[ModelHandle]) -> bool:
    """The adapter folder has an adapter that applies to one of `handles`."""
    for adapter in read_adapters([folder], config.checkpoints, config.checkpoint_choice):
        for handle in handles:
            try:
                handle.activate(adapter)
                return True
            except InputError:
                continue
            finally:
                handle.activate(None)
    return False


def _reads_otherwise(mine: Split, theirs: Split, my_vocab: int, their_vocab: int) -> str:
    """How the second tokenization differs from the first ("": it does not)."""
    if len(theirs.examples) != len(mine.examples):
        return f"its tokenizer reads {len(theirs.examples)} examples, not {len(mine.examples)},"
    for a, b in zip(mine.examples, theirs.examples):
        if b.offset != a.offset or not _same_ids(a.tokens, b.tokens):
            return f"its tokenizer gives other token ids at line {a.line}"
    if their_vocab != my_vocab:
        return f"a vocabulary of {their_vocab:,}, not {my_vocab:,},"
    return ""


def vocab_size(handle: ModelHandle) -> int:
    """The model's vocabulary (its output's width)."""
    args = getattr(handle.model, "args", None)
    return int(getattr(args, "vocab_size", 0) or handle.config.get("vocab_size", 0) or 262144)


def _same_ids(a: np.ndarray, b: np.ndarray) -> bool:
    return len(a) == len(b) and bool((a == b).all())


def fit_adapters(config: EvalConfig, handles: list[ModelHandle], adapters: list[Adapter]
                 ) -> tuple[dict[tuple[int, str], bool], list[str]]:
    """Which adapter applies to which model (its shapes and layers checked by activating
    it), and one note per adapter saying the pairs scored. With one model, an adapter that
    does not fit is refused; with several, one that fits none of them."""
    fits: dict[tuple[int, str], bool] = {}
    notes = []
    names = model_names(config)
    for adapter in adapters:
        refusals: list[InputError] = []
        for index, handle in enumerate(handles):
            try:  # shapes only: a lazily opened model's weights stay unread
                handle.activate(adapter, evaluate=False)
                fits[(index, adapter.label)] = True
            except InputError as e:
                if len(handles) == 1:
                    raise
                fits[(index, adapter.label)] = False
                refusals.append(e)
            finally:
                handle.activate(None, evaluate=False)
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


def model_facts(config: EvalConfig, handles: Sequence[ModelHandle]) -> list[ModelFacts]:
    """Each model's stored form, compute dtype and size on disk and in memory (once
    `make_ready` converted it), for a run over several models; none for one."""
    if not names_models(config):
        return []
    facts = []
    for name, path, handle in zip(model_names(config), config.all_models, handles):
        choice = planned(handle, config)
        p = choice.precision
        bits = (handle.config.get("quantization") or {}).get("bits")
        stored = f"{bits}-bit" if p.quantized_layers and bits else p.model_dtype
        facts.append(ModelFacts(name, str(path), stored, p.compute_dtype,
                                _weight_files_bytes(Path(path)), choice.converted_bytes))
    return facts


def _weight_files_bytes(folder: Path) -> int:
    """The weight files' bytes in a model folder (0 where there is no such folder here)."""
    return sum(f.stat().st_size for f in folder.glob("*.safetensors")) if folder.is_dir() \
        else 0

"""Checkpoint files and labels: which iteration a file is, its label, which files to score.

`mlx_lm.lora --train --save-every N` writes `0000100_adapters.safetensors`,
`0000200_adapters.safetensors`, ... into the adapter folder, and rewrites
`adapters.safetensors` (the latest weights) at each save and at the end. A checkpoint's
label is `folder@iteration` (`folder@final` for `adapters.safetensors`). Imports neither
numpy nor mlx: the command line checks `--checkpoints` with it before MLX is loaded.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

FINAL = "final"
"""The step part of the label of `adapters.safetensors`."""
CHECKPOINT_FILE = re.compile(r"^(\d+)_adapters\.safetensors$")
_LABEL = re.compile(r"^(?P<folder>.+)@(?P<step>\d+|final)(?:#\d+)?$")


def file_iteration(path: Path) -> int | None:
    """The training iteration in a checkpoint's file name (`0000100_...` -> 100); None for
    `adapters.safetensors` or any other name."""
    found = CHECKPOINT_FILE.match(Path(path).name)
    return int(found.group(1)) if found else None


def checkpoint_label(folder: Path, weights: Path) -> str:
    """`folder@100` for `folder/0000100_adapters.safetensors`, `folder@final` for
    `folder/adapters.safetensors`."""
    iteration = file_iteration(weights)
    return f"{Path(folder).name}@{FINAL if iteration is None else iteration}"


def parse_label(label: str) -> tuple[str, int | None] | None:
    """(folder name, iteration or None for the final weights) of a checkpoint label, or
    None when the label is not a checkpoint's (`base`, a plain adapter)."""
    found = _LABEL.match(label)
    if found is None:
        return None
    step = found.group("step")
    return found.group("folder"), None if step == FINAL else int(step)


def label_iteration(label: str) -> int | None:
    """The iteration of a checkpoint label, else None (for `--csv`'s iteration column)."""
    parsed = parse_label(label)
    return parsed[1] if parsed else None


def label_order(label: str) -> tuple[int, str, float, str]:
    """Sort key of labels: the base model, other labels, then checkpoints by folder and
    iteration (the final weights last)."""
    if label == "base":
        return (0, "", 0, label)
    parsed = parse_label(label)
    if parsed is None:
        return (1, "", 0, label)
    folder, iteration = parsed
    return (2, folder, math.inf if iteration is None else iteration, label)


def check_choice(text: str) -> str:
    """`all`, `every=N` or `last=K` (N, K whole numbers from 1), as given; a ValueError
    says what is wrong."""
    kind, _, number = text.partition("=")
    if text == "all":
        return text
    if kind not in ("every", "last") or not number.isdigit() or int(number) < 1:
        raise ValueError(f"{text!r}: use all, every=N (the checkpoints whose iteration is a "
                         "multiple of N) or last=K (the K latest), N and K from 1")
    return text


def choose_files(files: list[Path], choice: str) -> list[Path]:
    """The checkpoint files `choice` keeps (see `check_choice`); the final
    `adapters.safetensors` is always kept."""
    if choice == "all":
        return list(files)
    kind, _, number = choice.partition("=")
    steps = [f for f in files if file_iteration(f) is not None]
    final = [f for f in files if file_iteration(f) is None]
    if kind == "every":
        steps = [f for f in steps if _step_of(f) % int(number) == 0]
    else:
        steps = sorted(steps, key=_step_of)[-int(number):]
    return sorted(steps, key=_step_of) + final


def _step_of(step_file: Path) -> int:
    """The iteration of a file known to have one."""
    return file_iteration(step_file) or 0

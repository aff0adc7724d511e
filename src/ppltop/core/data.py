"""Read an mlx-lm data split and tokenize it exactly as `mlx_lm.lora` does.

Token streams come from mlx-lm's own dataset classes (`create_dataset` and their
`process`), so chat templates, EOS handling and prompt offsets are mlx-lm's. What this
module adds is validation: every problem is an `InputError` naming file, line and fix.
"""

from __future__ import annotations

import json
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError

SPLITS = ("test", "valid", "train")


@dataclass
class Example:
    """One record of the split, tokenized."""

    index: int
    """Position in the split (0-based, blank lines not counted), as mlx-lm numbers records."""
    line: int
    """1-based line in the .jsonl file, for messages."""
    tokens: np.ndarray
    """All token ids (int32), before any truncation."""
    offset: int
    """First target position that counts (the prompt length under --mask-prompt, else 0)."""


@dataclass
class Split:
    """A tokenized split and what was noticed while reading it."""

    path: Path
    format: str
    """`text`, `chat` or `completions`."""
    examples: list[Example]
    warnings: list[str] = field(default_factory=list)


def resolve_split_file(data: Path, split: str) -> Path:
    """The .jsonl file for `split`: `data/<split>.jsonl`, or `data` itself if it is a file."""
    if not data.exists():
        raise InputError(f"--data {data}: no such file or folder; give a folder with "
                         f"{split}.jsonl or a .jsonl file")
    if data.is_file():
        return data
    path = data / f"{split}.jsonl"
    if not path.is_file():
        present = sorted(p.name for p in data.glob("*.jsonl")) or ["no .jsonl files"]
        raise InputError(f"--data {data}: no {split}.jsonl in this folder "
                         f"(found: {', '.join(present)}); choose another --split or add the file")
    return path


def read_records(path: Path) -> tuple[list[dict], list[int], list[str]]:
    """Parse a .jsonl file: (records, 1-based line numbers, warnings).

    Blank lines are skipped with a warning (mlx-lm would stop with a JSONDecodeError).
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror}); check the path and permissions")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    records, lines, blank = [], [], []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            if line or number < raw.count(b"\n") + 1:
                blank.append(number)
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"{path}:{number}: not valid UTF-8 (byte {e.start + 1}); "
                             "re-encode the file as UTF-8")
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{number}: invalid JSON ({e.msg} at column {e.colno}); "
                             "each line must be one JSON object")
        except RecursionError:
            raise InputError(f"{path}:{number}: JSON nested too deeply; "
                             "each line must be one flat JSON object")
        if not isinstance(record, dict):
            raise InputError(f"{path}:{number}: expected a JSON object, got "
                             f"{type(record).__name__}; each line must be one JSON object")
        records.append(record)
        lines.append(number)
    warnings = []
    if blank:
        shown = ", ".join(map(str, blank[:5])) + (" ..." if len(blank) > 5 else "")
        warnings.append(f"{path}: skipped {len(blank)} blank line(s) (line {shown})")
    return records, lines, warnings


def detect_format(record: dict, path: Path, line: int) -> str:
    """The format mlx-lm would pick for this record, by the same key precedence."""
    if "prompt" in record and "completion" in record:
        return "completions"
    if "messages" in record:
        return "chat"
    if "text" in record:
        return "text"
    keys = ", ".join(sorted(record)[:6]) or "none"
    raise InputError(f"{path}:{line}: record of no known format (keys: {keys}); use "
                     '{"text": ...}, {"messages": [...]} or {"prompt": ..., "completion": ...}')


def _check_record(record: dict, fmt: str, path: Path, line: int) -> None:
    where = f"{path}:{line}"
    if fmt == "text":
        if not isinstance(record.get("text"), str):
            raise InputError(f'{where}: expected a string "text" like the first record of the file')
    elif fmt == "completions":
        for key in ("prompt", "completion"):
            if not isinstance(record.get(key), str):
                raise InputError(f'{where}: expected string "prompt" and "completion" '
                                 "like the first record of the file")
    else:
        messages = record.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InputError(f'{where}: expected a non-empty "messages" list like the first record')
        for m in messages:
            if not (isinstance(m, dict) and isinstance(m.get("role"), str)
                    and isinstance(m.get("content"), str)):
                raise InputError(f'{where}: each message needs string "role" and "content"')


def load_split(data: Path, split: str, tokenizer, mask_prompt: bool) -> Split:
    """Read, validate and tokenize one split with mlx-lm's dataset classes."""
    from mlx_lm.tuner.datasets import create_dataset

    path = resolve_split_file(Path(data), split)
    records, lines, warnings = read_records(path)
    if not records:
        raise InputError(f"{path}: the {split} split is empty; add at least one JSON record")
    fmt = detect_format(records[0], path, lines[0])
    for record, line in zip(records, lines):
        _check_record(record, fmt, path, line)
    if mask_prompt and fmt == "text":
        raise InputError(f"--mask-prompt: {path} holds text records, which have no prompt; "
                         "drop --mask-prompt or use chat or prompt/completion data")
    config = types.SimpleNamespace(mask_prompt=mask_prompt)
    dataset = create_dataset(records, tokenizer, config)
    examples = []
    for index, (record, line) in enumerate(zip(records, lines)):
        try:
            tokens, offset = dataset.process(record)
        except Exception as e:  # a template or tokenizer failure on user data
            raise InputError(f"{path}:{line}: could not tokenize this record "
                             f"({type(e).__name__}: {str(e)[:120]}); check its content")
        examples.append(Example(index, line, np.asarray(tokens, dtype=np.int32), int(offset)))
    return Split(path, fmt, examples, warnings)

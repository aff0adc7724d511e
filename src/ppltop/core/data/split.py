"""Read an mlx-lm data split and tokenize it exactly as `mlx_lm.lora` does.

Token streams come from mlx-lm's own dataset classes (`create_dataset` and their
`process`), so chat templates, EOS handling and prompt offsets are mlx-lm's. What this
module adds is validation: every problem is an `InputError` naming file, line and fix.
"""

from __future__ import annotations

import json
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import DataFeatures
from ..errors import InputError
from .chat_spans import MessageTokens, NoReading, message_tokens


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
    chat: MessageTokens | None = field(default=None, repr=False)
    """Chat and prompt/completion records: each token's message, read from the messages
    (None: text, or a template whose rendering does not give mlx-lm's tokens)."""


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


def _clip(text: str, room: int = 40) -> str:
    """A piece of user data short enough to quote in a one-line message."""
    return text if len(text) <= room else text[:room - 1] + "…"


def _read_lines(path: Path):
    """Yield (1-based line number, bytes) of every line, blank ones included.

    Lines end as Python's text mode (and so mlx-lm) ends them: at `\\n`, `\\r\\n` or
    `\\r`. A UTF-8 byte order mark is dropped.
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror}); "
                         "check the path and permissions") from e
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    yield from enumerate(raw.splitlines(), start=1)


class _Blanks:
    """Blank lines (ASCII whitespace only): counted, and named in one warning."""

    def __init__(self) -> None:
        self.count, self.first = 0, []

    def add(self, number: int) -> None:
        self.count += 1
        if len(self.first) < 5:
            self.first.append(number)

    def warnings(self, path: Path) -> list[str]:
        if not self.count:
            return []
        shown = ", ".join(map(str, self.first)) + (" ..." if self.count > 5 else "")
        return [f"{path}: skipped {self.count} blank line(s) (line {shown})"]


class _Unread:
    """Chat records whose tokens could not be mapped onto their messages: one warning."""

    def __init__(self) -> None:
        self.count, self.first = 0, None

    def add(self, number: int, why: str) -> None:
        self.count += 1
        self.first = self.first or (number, why)

    def warnings(self, path: Path) -> list[str]:
        if not self.count:
            return []
        number, why = self.first
        return [f"{path}: chat roles, turns and template tokens of {self.count} record(s) "
                f"are guessed from the special tokens, not read from the messages "
                f"(line {number}: {why})"]


def record_messages(record: dict, fmt: str, features: DataFeatures) -> list[dict] | None:
    """The messages mlx-lm renders for a record (a prompt/completion record: a user and an
    assistant message, as its CompletionsDataset builds them); None for text."""
    if fmt == "chat":
        return record[features.chat]
    if fmt == "completions":
        return [{"role": "user", "content": record[features.prompt]},
                {"role": "assistant", "content": record[features.completion]}]
    return None


def read_records(path: Path) -> tuple[list[dict], list[int], list[str]]:
    """Parse a .jsonl file: (records, 1-based line numbers, warnings).

    Blank lines are skipped with a warning (mlx-lm would stop with a JSONDecodeError).
    """
    records, lines, blanks = [], [], _Blanks()
    for number, line in _read_lines(path):
        if not line.strip():
            blanks.add(number)
            continue
        records.append(_parse_line(line, path, number))
        lines.append(number)
    return records, lines, blanks.warnings(path)


def _parse_line(line: bytes, path: Path, number: int) -> dict:
    where = f"{path}:{number}"
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{where}: not valid UTF-8 (byte {e.start + 1}); "
                         "re-encode the file as UTF-8") from e
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: invalid JSON ({e.msg} at column {e.colno}); "
                         "each line must be one JSON object") from e
    except RecursionError as exc:
        raise InputError(f"{where}: JSON nested too deeply to read; "
                         "each line must be one JSON object of modest depth") from exc
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise InputError(f"{where}: invalid JSON ({_clip(str(e), 80)}); "
                         "each line must be one JSON object") from e
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object, got "
                         f"{type(record).__name__}; each line must be one JSON object")
    return record


def detect_format(record: dict, path: Path, line: int,
                  features: DataFeatures = DataFeatures()) -> str:
    """The format mlx-lm would pick for this record, by the same key precedence."""
    f = features
    if f.prompt in record and f.completion in record:
        return "completions"
    if f.chat in record:
        return "chat"
    if f.text in record:
        return "text"
    keys = ", ".join(_clip(k, 20) for k in sorted(record)[:6]) or "none"
    raise InputError(f"{path}:{line}: record of no known format (keys: {keys}); use "
                     f'{{"{f.text}": ...}}, {{"{f.chat}": [...]}} or '
                     f'{{"{f.prompt}": ..., "{f.completion}": ...}}')


def _is_text(value) -> bool:
    """A string the tokenizer can encode: no unpaired surrogate (JSON `\\ud800` escapes)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _kind(record: dict, key: str) -> str:
    """What `record[key]` is, for a message: `no "text" key`, `int`, `null`, ..."""
    if key not in record:
        return f'no "{key}" key'
    value = record[key]
    if isinstance(value, str) and not _is_text(value):
        return "a string with an unpaired surrogate (\\ud800-\\udfff)"
    if value == []:
        return "an empty list"
    return "null" if value is None else type(value).__name__


def _check_record(record: dict, fmt: str, path: Path, line: int,
                  features: DataFeatures) -> None:
    where = f"{path}:{line}"
    if fmt == "text":
        if not _is_text(record.get(features.text)):
            raise InputError(f'{where}: expected a string "{features.text}" like the first '
                             f'record of the file, got {_kind(record, features.text)}')
    elif fmt == "completions":
        for key in (features.prompt, features.completion):
            if not _is_text(record.get(key)):
                raise InputError(f'{where}: expected string "{features.prompt}" and '
                                 f'"{features.completion}" like the first record of the file, '
                                 f'got {_kind(record, key)} for "{key}"')
    else:
        messages = record.get(features.chat)
        if not isinstance(messages, list) or not messages:
            raise InputError(f'{where}: expected a non-empty "{features.chat}" list like the '
                             f'first record, got {_kind(record, features.chat)}')
        for number, m in enumerate(messages, start=1):
            if not (isinstance(m, dict) and _is_text(m.get("role"))
                    and _is_text(m.get("content"))):
                raise InputError(f'{where}: each message needs string "role" and "content" '
                                 f"(message {number} does not)")


def load_split(data: Path, split: str, tokenizer, mask_prompt: bool,
               features: DataFeatures = DataFeatures()) -> Split:
    """Read, validate and tokenize one split with mlx-lm's dataset classes.

    One pass, line by line, so the error names the first bad line whatever is wrong with it.
    `features` are the record keys (mlx-lm's `*_feature` config keys).
    """
    path = resolve_split_file(Path(data), split)
    with _quiet_transformers():
        return _load_split(path, split, tokenizer, mask_prompt, features)


@contextmanager
def _quiet_transformers():
    """Silence transformers' "Token indices sequence length is longer than the specified
    maximum" warning: long examples are expected here (truncated or windowed, and said so)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)


def _load_split(path: Path, split: str, tokenizer, mask_prompt: bool,
                features: DataFeatures) -> Split:
    from mlx_lm.tuner.datasets import create_dataset

    fmt, dataset, examples, blanks, unread = None, None, [], _Blanks(), _Unread()
    for number, line in _read_lines(path):
        if not line.strip():
            blanks.add(number)
            continue
        record = _parse_line(line, path, number)
        if fmt is None:
            fmt = detect_format(record, path, number, features)
            if mask_prompt and fmt == "text":
                raise InputError(f"--mask-prompt: {path} holds text records, which have no "
                                 "prompt; drop --mask-prompt or use chat or prompt/completion data")
            dataset = create_dataset([record], tokenizer, types.SimpleNamespace(
                mask_prompt=mask_prompt, **features.as_mlx_lm()))
        _check_record(record, fmt, path, number, features)
        try:
            tokens, offset = dataset.process(record)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # a template or tokenizer failure on user data (the
            # Rust tokenizer's PanicException derives from BaseException)
            raise InputError(f"{path}:{number}: could not tokenize this record "
                             f"({type(e).__name__}: {str(e)[:120]}); check its content") from e
        example = Example(len(examples), number, np.asarray(tokens, dtype=np.int32),
                          int(offset))
        messages = record_messages(record, fmt, features)
        if messages is not None:
            try:
                example.chat = message_tokens(tokenizer, messages, record.get("tools"), tokens)
            except NoReading as e:
                unread.add(number, str(e))
        examples.append(example)
    if not examples:
        raise InputError(f"{path}: the {split} split is empty; add at least one JSON record")
    return Split(path, fmt, examples, blanks.warnings(path) + unread.warnings(path))

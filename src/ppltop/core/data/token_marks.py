"""What each token of an example is, for the breakdowns: its chat role and turn, whether the
chat template wrote it, its position bucket and its UTF-8 bytes.

Roles are read from the tokens themselves, as the template wrote them: a special token that
names a role (`<|user|>`), or a special token followed by a role name (`<|im_start|>assistant`,
`<start_of_turn>model`). Every token from there to the next role marker belongs to that role,
the marker and the end-of-turn token included (under `--mask-prompt` the assistant's `</s>` is
scored, and it is the assistant's). Turn n runs from the n-th user message to the next one; a
system message before the first user message is in turn 1. Text records, and templates whose
markers name no role, have no role (`(none)`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .token_groups import MAX_ROLE_TOKENS, ROLES, template_mask

NO_ROLE = "(none)"
ROLE_ORDER = ("system", "user", "assistant")
"""Roles listed first, in this order; any other role a template names follows."""
POSITION_EDGES = (16, 64, 256, 1024)
"""Upper bounds of the position buckets 1-16, 17-64, 65-256, 257-1024; beyond is the last."""
_NOT_NAME = re.compile(rb"[^a-z]")


def position_buckets() -> list[str]:
    """The names of the position buckets, in order."""
    names, low = [], 1
    for high in POSITION_EDGES:
        names.append(f"{low}-{high}")
        low = high + 1
    return names + [f"{low}+"]


def position_bucket(positions: np.ndarray) -> np.ndarray:
    """int per target: its bucket (index into `position_buckets`). A target's position is
    its index in the example's tokens: the first target, predicted from one token, is 1."""
    return np.searchsorted(np.asarray(POSITION_EDGES), positions, side="left").astype(np.int8)


def log2_bucket(positions: np.ndarray) -> np.ndarray:
    """int per target: floor(log2(position)): 1, 2-3, 4-7, 8-15, ..."""
    return np.floor(np.log2(np.maximum(positions, 1))).astype(np.int8)


def log2_bucket_name(k: int) -> str:
    low, high = 1 << k, (1 << (k + 1)) - 1
    return str(low) if low == high else f"{low}-{high}"


def _role_name(raw: bytes) -> str | None:
    name = _NOT_NAME.sub(b"", raw.lower()).decode()
    return name if name in ROLES else None


def _role_after(raw: list[bytes], special: np.ndarray, start: int) -> str | None:
    """The role name a template writes right after a special token, if any."""
    text = b""
    for j in range(start, min(len(raw), start + MAX_ROLE_TOKENS)):
        if special[j]:
            break
        text += raw[j]
        if b"\n" in text:
            break
    return _role_name(text.partition(b"\n")[0].strip())


def role_markers(raw: list[bytes], special) -> list[tuple[int, str]]:
    """(position, role) of every role marker of the example, in order."""
    special = np.asarray(special, dtype=bool)
    found = []
    for p in np.nonzero(special)[0]:
        p = int(p)
        role = _role_name(raw[p]) or _role_after(raw, special, p + 1)
        if role is not None:
            found.append((p, role))
    return found


@dataclass
class ExampleMarks:
    """Per token of one example (all its tokens, scored or not)."""

    role: list[str]
    """Role per role span: `role_of[i]` indexes it (`NO_ROLE` for text)."""
    role_of: np.ndarray
    """int16 per token: index into `role`."""
    turn: np.ndarray
    """int16 per token: the turn (0: no chat turn, text records)."""
    template: np.ndarray
    """bool per token: written by the chat template (see `token_groups`)."""
    n_bytes: np.ndarray
    """int32 per token: UTF-8 bytes of its text (special tokens count 0)."""


def example_marks(raw: list[bytes], special, template: np.ndarray) -> ExampleMarks:
    """The marks of one example's tokens from their bytes and special flags."""
    special = np.asarray(special, dtype=bool)
    n = len(raw)
    roles = [NO_ROLE]
    role_of = np.zeros(n, dtype=np.int16)
    turn = np.zeros(n, dtype=np.int16)
    turns, seen_user = 1, False
    markers = role_markers(raw, special)
    for k, (p, role) in enumerate(markers):
        end = markers[k + 1][0] if k + 1 < len(markers) else n
        if role == "user":
            turns += seen_user  # the first user message is in turn 1, with the system's
            seen_user = True
        roles.append(role)
        role_of[p:end] = len(roles) - 1
        turn[p:end] = turns
    if markers:  # the template's opening (`<s>`) belongs to the first role
        role_of[:markers[0][0]] = 1
        turn[:markers[0][0]] = 1
    lengths = np.fromiter((len(r) for r in raw), dtype=np.int32, count=n)
    return ExampleMarks(roles, role_of, turn, np.asarray(template, dtype=bool),
                        np.where(special, 0, lengths))


class TokenMarks:
    """The marks of every example of a split, made once per example when first asked for."""

    def __init__(self, examples, token_texts):
        self.examples = examples
        self.token_texts = token_texts
        self._cache: dict[int, ExampleMarks] = {}

    def __call__(self, example: int) -> ExampleMarks:
        marks = self._cache.get(example)
        if marks is None:
            ids = self.examples[example].tokens
            raw = self.token_texts.raw(ids)
            special = self.token_texts.special_mask(ids)
            marks = example_marks(raw, special, template_mask(raw, special))
            self._cache[example] = marks
        return marks

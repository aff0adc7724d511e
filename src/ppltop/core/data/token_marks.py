"""What each token of an example is, for the breakdowns: its chat role and turn, whether the
chat template wrote it, its position bucket and its UTF-8 bytes.

Roles are read from the messages (`chat_spans`): a token is in the turn of the message whose
content it covers, or whose role marker or end of turn it is (under `--mask-prompt` the
assistant's end-of-turn token is scored, and it is the assistant's), so any template works,
whatever its markers. Turn n runs from the n-th user message to the next one; a system
message before the first user message is in turn 1. Text records have no role (`(none)`).

Where the messages cannot be read onto the tokens (`split` says so in one warning), roles are
guessed from the special tokens, as the template wrote them: a special token that names a
role (`<|user|>`), or a special token followed by a role name (`<|im_start|>assistant`,
`<start_of_turn>model`); every token from there to the next marker is that role's. The same
reading cross-checks the messages' one on templates whose markers are special tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .chat_spans import MessageTokens
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
    buckets: np.ndarray = np.floor(np.log2(np.maximum(positions, 1))).astype(np.int8)
    return buckets


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


def role_markers(raw: list[bytes], special: ArrayLike) -> list[tuple[int, str]]:
    """(position, role) of every role marker of the example, in order."""
    special = np.asarray(special, dtype=bool)
    found = []
    for at in np.nonzero(special)[0]:
        p = int(at)
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


def turns_of(roles: list[str]) -> list[int]:
    """The turn of each message (or role span) with these roles, in order."""
    turns, current, seen_user = [], 1, False
    for role in roles:
        if role == "user":
            current += seen_user  # the first user message is in turn 1, with the system's
            seen_user = True
        turns.append(current)
    return turns


def _n_bytes(raw: list[bytes], special: ArrayLike) -> np.ndarray:
    lengths = np.fromiter((len(r) for r in raw), dtype=np.int32, count=len(raw))
    return np.where(np.asarray(special, dtype=bool), 0, lengths)


def example_marks(raw: list[bytes], special: ArrayLike, template: np.ndarray) -> ExampleMarks:
    """The marks of one example's tokens guessed from their bytes and special flags."""
    special = np.asarray(special, dtype=bool)
    n = len(raw)
    roles = [NO_ROLE]
    role_of = np.zeros(n, dtype=np.int16)
    turn = np.zeros(n, dtype=np.int16)
    markers = role_markers(raw, special)
    turns = turns_of([role for _, role in markers])
    for k, (p, role) in enumerate(markers):
        end = markers[k + 1][0] if k + 1 < len(markers) else n
        roles.append(role)
        role_of[p:end] = len(roles) - 1
        turn[p:end] = turns[k]
    if markers:  # the template's opening (`<s>`) belongs to the first role
        role_of[:markers[0][0]] = 1
        turn[:markers[0][0]] = 1
    return ExampleMarks(roles, role_of, turn, np.asarray(template, dtype=bool),
                        _n_bytes(raw, special))


def message_marks(chat: MessageTokens, raw: list[bytes], special: ArrayLike) -> ExampleMarks:
    """The marks of one chat example's tokens read from its messages."""
    turns = np.asarray(turns_of(chat.roles), dtype=np.int16)
    return ExampleMarks([NO_ROLE, *chat.roles], (chat.message + 1).astype(np.int16),
                        turns[chat.message], chat.template.copy(), _n_bytes(raw, special))


def role_disagreements(read: ExampleMarks, guessed: ExampleMarks) -> np.ndarray:
    """Positions of content tokens to which the special tokens give another role than the
    messages do (only where the special tokens name a role at all)."""
    named = guessed.role_of > 0
    differ = (np.asarray(read.role)[read.role_of] != np.asarray(guessed.role)[guessed.role_of])
    return np.nonzero(named & ~read.template & differ)[0]


class TokenMarks:
    """The marks of every example of a split, made once per example when first asked for."""

    def __init__(self, examples: list[Any], token_texts: Any) -> None:
        self.examples = examples
        self.token_texts = token_texts
        self._cache: dict[int, ExampleMarks] = {}
        self.disagreeing: list[int] = []
        """Examples whose template marks every turn with special tokens that name other
        roles than the messages have (the cross-check; the messages' reading is used)."""

    def __call__(self, example: int) -> ExampleMarks:
        marks = self._cache.get(example)
        if marks is None:
            marks = self._cache[example] = self._marks(self.examples[example])
        return marks

    def _marks(self, example: Any) -> ExampleMarks:
        ids = example.tokens
        raw = self.token_texts.raw(ids)
        special = self.token_texts.special_mask(ids)
        guessed = example_marks(raw, special, template_mask(raw, special))
        if getattr(example, "chat", None) is None:
            return guessed
        read = message_marks(example.chat, raw, special)
        marks_every_turn = len(guessed.role) > len(read.role) - 1  # a special marker each
        if marks_every_turn and role_disagreements(read, guessed).size:
            self.disagreeing.append(example.index)
        return read

"""Tokens grouped into whole characters, and which tokens belong to the chat template.

Byte-level BPE splits one CJK character or emoji over two to four tokens, none of which is
text on its own; a token may also end one character and start the next. A group is the
shortest run of tokens whose bytes are whole characters: in valid UTF-8 a character starts
at every byte that is not a continuation byte (0b10xxxxxx), so token `i` starts a new group
unless its first byte continues the previous token's character. Special tokens are groups of
their own. Everything here works on bytes only (no tokenizer), so it is tested directly.

Template tokens are read from a chat record's messages (`chat_spans`, through `TokenMarks`).
Where there are none to read, they are guessed here: the special tokens plus what a chat
template writes around them: a role name after a special token (`<|im_start|>assistant`) and
the whitespace up to the first newline after a special token (the `\\n` after `<|im_end|>`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

ROLES = frozenset({"system", "user", "assistant", "tool", "tools", "developer", "model",
                   "human", "gpt", "bot", "ipython", "function", "functions", "observation"})
"""Role names chat templates write after a role marker (compared lower-cased)."""
MAX_ROLE_TOKENS = 16
"""A role name and its newline span at most this many tokens after the special token."""


def group_starts(raw: list[bytes], special: ArrayLike) -> np.ndarray:
    """bool per token: it begins a new group (see the module docstring)."""
    special = np.asarray(special, dtype=bool)
    first = np.fromiter((r[0] if r else 0 for r in raw), dtype=np.uint8, count=len(raw))
    starts = (first < 0x80) | (first > 0xBF) | special
    starts[1:] |= special[:-1]
    starts[:1] = True
    flags: np.ndarray = starts
    return flags


def decode_group(raw: bytes) -> str:
    """Whole characters; bytes that are not (never from valid text) as `\\xNN`, never `�`."""
    return raw.decode("utf-8", errors="backslashreplace")


@dataclass
class TokenGroups:
    """One example's tokens and the groups (whole characters) they form."""

    raw: list[bytes]
    """Exact bytes of each token (a special token: its name, e.g. `<|im_end|>`)."""
    special: np.ndarray
    """bool per token: a special token of the tokenizer."""
    template: np.ndarray
    """bool per token: written by the chat template (special tokens, role names, newlines)."""
    bounds: np.ndarray
    """int32 [groups + 1]: group g holds tokens bounds[g] to bounds[g + 1] - 1."""
    group: np.ndarray
    """int32 per token: its group."""
    text: list[str]
    """Per group: its characters (a special token's name)."""
    whitespace: np.ndarray
    """bool per group: only whitespace (indentation, newlines), not a special token."""

    def __len__(self) -> int:
        return len(self.text)

    @property
    def n_tokens(self) -> int:
        return len(self.raw)

    def tokens_of(self, g: int) -> range:
        return range(int(self.bounds[g]), int(self.bounds[g + 1]))

    def part(self, position: int) -> tuple[int, int]:
        """(k, n): the token is the k-th (1-based) of the n tokens of its group."""
        g = int(self.group[position])
        start, stop = int(self.bounds[g]), int(self.bounds[g + 1])
        return position - start + 1, stop - start

    def is_template_group(self, g: int) -> bool:
        return bool(self.template[int(self.bounds[g])])


def group_tokens(raw: list[bytes], special: ArrayLike, template: np.ndarray | None = None
                 ) -> TokenGroups:
    """Group tokens into whole characters and mark the template's tokens (`template`, else
    guessed from the special tokens)."""
    special = np.asarray(special, dtype=bool)
    if template is None:
        template = template_mask(raw, special)
    n = len(raw)
    starts = np.nonzero(group_starts(raw, special))[0]
    bounds = np.append(starts, n).astype(np.int32)
    group = np.zeros(n, dtype=np.int32)
    text, whitespace = [], np.zeros(len(starts), dtype=bool)
    for g, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        group[a:b] = g
        if special[a]:
            text.append(raw[a].decode("utf-8", errors="backslashreplace"))
            continue
        chars = decode_group(b"".join(raw[a:b]))
        text.append(chars)
        whitespace[g] = bool(chars) and chars.isspace()
    return TokenGroups(list(raw), special, np.asarray(template, dtype=bool), bounds, group,
                       text, whitespace)


def template_mask(raw: list[bytes], special: ArrayLike) -> np.ndarray:
    """bool per token: the special tokens, and after each, a role name and/or whitespace
    up to and including the first newline (or up to the next special token)."""
    special = np.asarray(special, dtype=bool)
    mask = special.copy()
    n = len(raw)
    for p in np.nonzero(special)[0]:
        end = _template_tail(raw, special, int(p) + 1, n)
        mask[int(p) + 1:end] = True
    flags: np.ndarray = mask
    return flags


def _template_tail(raw: list[bytes], special: np.ndarray, start: int, n: int) -> int:
    """End (exclusive) of the role name / newline a template writes after a special token
    that ends at `start`; `start` itself when what follows is content."""
    text = b""
    j = start
    while j < n and not special[j] and j - start < MAX_ROLE_TOKENS:
        text += raw[j]
        j += 1
        if b"\n" in text:
            break
    else:
        if j < n and not special[j]:  # no newline or special within reach: content
            return start
    head, newline, tail = text.partition(b"\n")
    name = head.strip()
    if name and name.decode("utf-8", errors="replace").lower() not in ROLES:
        return start
    if tail.strip():  # the newline token runs on into content
        return start
    return j

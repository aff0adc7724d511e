"""The text of each token, for display and export: exact bytes, grouped into characters.

Decoding token by token mangles multi-byte characters (a CJK character is often two or three
byte-level tokens, none of which decodes alone) and decoding every prefix is quadratic.
Instead each token's string is mapped back to its bytes (byte-level BPE's printable-byte
alphabet, or SentencePiece's `▁` and `<0xNN>` pieces), and `token_groups` groups the tokens
whose bytes make whole characters together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .token_groups import TokenGroups, decode_group, group_starts, group_tokens, template_mask


@lru_cache(maxsize=1)
def _byte_level_decoder() -> dict[str, int]:
    """The inverse of GPT-2's bytes_to_unicode table (printable stand-ins for raw bytes)."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def _scheme(hf: Any, tokens: list[str]) -> str:
    decoder = getattr(getattr(hf, "backend_tokenizer", None), "decoder", None)
    if type(decoder).__name__ == "ByteLevel":
        return "byte-level"
    if any(t.startswith("Ġ") or t == "Ċ" for t in tokens):
        return "byte-level"
    if any(t.startswith("▁") for t in tokens):
        return "sentencepiece"
    return "decode"


def readable(raw: bytes) -> str:
    """Bytes as text, the bytes that are not whole characters as `<0xNN>`."""
    out = []
    while raw:
        try:
            out.append(raw.decode("utf-8"))
            break
        except UnicodeDecodeError as e:
            out.append(raw[:e.start].decode("utf-8"))
            out.append("".join(f"<0x{b:02X}>" for b in raw[e.start:e.end]))
            raw = raw[e.end:]
    return "".join(out)


@dataclass(frozen=True)
class GroupAt:
    """The group (whole characters) around one token of an example."""

    text: str
    part: int
    """1-based index of the token in its group."""
    parts: int
    """Tokens in the group."""


TokenIds = Sequence[int] | np.ndarray
"""An example's token ids, as a list or an array."""


class TokenTexts:
    """Per-token bytes and text for one tokenizer (cached per id, reusable)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        hf = getattr(tokenizer, "_tokenizer", tokenizer)
        self._hf = hf
        self.special_ids = set(getattr(hf, "all_special_ids", []) or [])
        self._special_array = np.array(sorted(self.special_ids), dtype=np.int64)
        vocab = hf.convert_ids_to_tokens(list(range(min(len(hf), 4096))))
        self.scheme = _scheme(hf, [t for t in vocab if isinstance(t, str)])
        self._raw: dict[int, bytes] = {}

    def _bytes_of(self, token_id: int, piece: str | None) -> bytes:
        if piece is None:
            return f"<{token_id}>".encode()
        if token_id in self.special_ids:
            return piece.encode("utf-8")
        if self.scheme == "byte-level":
            table = _byte_level_decoder()
            if all(c in table for c in piece):
                return bytes(table[c] for c in piece)
            return piece.encode("utf-8")
        if self.scheme == "sentencepiece":
            if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
                return bytes([int(piece[3:5], 16)])
            return piece.replace("▁", " ").encode("utf-8")
        decoded: str = self._hf.decode([token_id])
        return decoded.encode("utf-8")

    def raw(self, ids: TokenIds) -> list[bytes]:
        """Exact bytes of each token; a special token as its name (`<|im_end|>`)."""
        ids = [int(i) for i in ids]
        missing = sorted({i for i in ids if i not in self._raw})
        if missing:
            for token_id, piece in zip(missing, self._hf.convert_ids_to_tokens(missing)):
                self._raw[token_id] = self._bytes_of(token_id, piece)
        return [self._raw[i] for i in ids]

    def content_bytes(self, ids: TokenIds) -> int:
        """UTF-8 bytes of the tokens' text, special tokens left out: the exact bytes of each
        token where the scheme gives them (half a character counts its own bytes), else the
        length of the decoded text."""
        if self.scheme in ("byte-level", "sentencepiece"):
            raw = self.raw(ids)
            return sum(len(b) for b, special in zip(raw, self.special_mask(ids)) if not special)
        return len(self.tokenizer.decode([int(i) for i in ids],
                                         skip_special_tokens=True).encode("utf-8"))

    def special_mask(self, ids: TokenIds) -> np.ndarray:
        return np.isin(np.asarray(ids, dtype=np.int64), self._special_array)

    def groups(self, ids: TokenIds, template: np.ndarray | None = None) -> TokenGroups:
        """The example's tokens grouped into whole characters, the `template` tokens
        (`TokenMarks`; None: guessed from the special tokens) marked."""
        return group_tokens(self.raw(ids), self.special_mask(ids), template)

    def template_mask(self, ids: TokenIds) -> np.ndarray:
        """bool per token: written by the chat template, guessed from the special tokens
        (see `token_groups`; `TokenMarks` reads it from the messages)."""
        return template_mask(self.raw(ids), self.special_mask(ids))

    def text(self, ids: TokenIds) -> str:
        """The example's whole text (special tokens by name)."""
        return decode_group(b"".join(self.raw(ids)))

    def group_at(self, ids: TokenIds, position: int) -> GroupAt:
        """The whole characters the token at `position` is part of (a local scan)."""
        n = len(ids)

        def joined(i: int) -> bool:  # token i continues token i - 1's character
            if i <= 0 or i >= n:
                return False
            pair = ids[i - 1:i + 1]
            return not group_starts(self.raw(pair), self.special_mask(pair))[1]

        start, stop = position, position + 1
        while joined(start):
            start -= 1
        while joined(stop):
            stop += 1
        text = decode_group(b"".join(self.raw(ids[start:stop])))
        return GroupAt(text, position - start + 1, stop - start)

    def is_special(self, token_id: int) -> bool:
        return int(token_id) in self.special_ids

    def is_whole(self, token_id: int) -> bool:
        """The token's bytes are whole characters on their own."""
        try:
            self.raw([token_id])[0].decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    def label(self, token_id: int) -> str:
        """One token on its own, readable: bytes that are not whole characters as <0xNN>."""
        return readable(self.raw([token_id])[0])

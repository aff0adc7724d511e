"""The text of each token, for display: exact bytes, split at token boundaries.

Decoding token by token mangles multi-byte characters and leading spaces, and decoding
every prefix is quadratic. Instead each token's string is mapped back to its bytes
(byte-level BPE's printable-byte alphabet, or SentencePiece's `▁` and `<0xNN>` pieces) and
an incremental UTF-8 decoder assigns each character to the token that completes it.
"""

from __future__ import annotations

import codecs
from functools import lru_cache


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


def _scheme(tokens: list[str]) -> str:
    if any(t.startswith("Ġ") or t == "Ċ" for t in tokens):
        return "byte-level"
    if any(t.startswith("▁") for t in tokens):
        return "sentencepiece"
    return "decode"


class TokenTexts:
    """Per-token display text for one tokenizer (cached decisions, reusable)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        hf = getattr(tokenizer, "_tokenizer", tokenizer)
        self._hf = hf
        self.special_ids = set(getattr(hf, "all_special_ids", []) or [])
        vocab = hf.convert_ids_to_tokens(list(range(min(len(hf), 4096))))
        self.scheme = _scheme([t for t in vocab if isinstance(t, str)])

    def _bytes_of(self, token_id: int, piece: str) -> bytes:
        if self.scheme == "byte-level":
            table = _byte_level_decoder()
            if all(c in table for c in piece):
                return bytes(table[c] for c in piece)
            return piece.encode("utf-8")
        if self.scheme == "sentencepiece":
            if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
                return bytes([int(piece[3:5], 16)])
            return piece.replace("▁", " ").encode("utf-8")
        return self._hf.decode([token_id]).encode("utf-8")

    def pieces(self, ids) -> list[str]:
        """Display text of each id; special tokens as their name (e.g. `<|end|>`)."""
        ids = [int(i) for i in ids]
        strings = self._hf.convert_ids_to_tokens(ids)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        out = []
        for token_id, piece in zip(ids, strings):
            if token_id in self.special_ids or piece is None:
                out.append(piece if piece is not None else f"<{token_id}>")
                continue
            out.append(decoder.decode(self._bytes_of(token_id, piece)))
        return out

    def is_special(self, token_id: int) -> bool:
        return int(token_id) in self.special_ids

    def label(self, token_id: int) -> str:
        """One token on its own, readable: bytes that are not whole characters as <0xNN>."""
        token_id = int(token_id)
        piece = self._hf.convert_ids_to_tokens([token_id])[0]
        if token_id in self.special_ids or piece is None:
            return piece if piece is not None else f"<{token_id}>"
        raw = self._bytes_of(token_id, piece)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return "".join(f"<0x{b:02X}>" for b in raw)

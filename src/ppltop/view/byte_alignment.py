"""One example under two tokenizations, aligned by bytes, for the document view: each
character carries the surprisal of the token covering it under each model.

A token's surprisal is spread over its bytes evenly (bits / bytes), and a character gets the
shares of its bytes, so a character's figure is comparable across tokenizers and the
characters' figures sum to the tokens'. Special tokens have no bytes (as in bits/byte) and do
not show. The result is a `Document` whose "tokens" are the characters (one group each): the
document view colors it by surprisal, or by the change against the reference (diff), as it
does a tokenized example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.data.split import Example
from ..core.data.token_groups import TokenGroups
from ..core.data.token_text import TokenTexts
from ..core.figures.results import ExampleResult
from .document import PENDING, SCORED, Document

LN2 = math.log(2)


@dataclass(frozen=True)
class Spelled:
    """An example's bytes as one model's tokens spell them, and each byte's share of its
    token's surprisal (NaN: the token is not scored)."""

    data: bytes
    bits: np.ndarray
    """float64 per byte."""
    token: np.ndarray
    """int32 per byte: the position of the token it belongs to."""


def spelled(example: Example, result: ExampleResult | None, texts: TokenTexts) -> Spelled:
    tokens = example.tokens
    special = np.asarray(texts.special_mask(tokens), dtype=bool)
    pieces = [b"" if sp else raw for raw, sp in zip(texts.raw(tokens), special)]
    lengths = np.array([len(p) for p in pieces], dtype=np.int64)
    bits = np.full(len(tokens), np.nan)
    if result is not None and result.n_tokens:
        bits[result.positions] = -result.logprob.astype(np.float64) / LN2
    share = np.repeat(bits / np.maximum(lengths, 1), lengths)
    owner = np.repeat(np.arange(len(tokens), dtype=np.int32), lengths)
    return Spelled(b"".join(pieces), share, owner)


@dataclass(frozen=True)
class AlignedExample:
    """The characters of one example with both models' surprisal per character."""

    document: Document
    """Characters as one-character groups: `bits` the candidate's, `ref_bits` the
    reference's."""
    candidate_tokens: np.ndarray
    """int32 per character: the candidate's token covering its first byte."""
    reference_tokens: np.ndarray


def align(example: int, candidate: tuple[Example, ExampleResult | None, TokenTexts],
          reference: tuple[Example, ExampleResult | None, TokenTexts]) -> AlignedExample | None:
    """The example under both models, character by character; None when the two
    tokenizations do not spell the same bytes (a tokenizer that normalizes the text)."""
    mine, theirs = spelled(*candidate), spelled(*reference)
    if mine.data != theirs.data:
        return None
    chars = list(mine.data.decode("utf-8", errors="backslashreplace"))
    widths = np.array([len(c.encode("utf-8", errors="backslashreplace")) for c in chars],
                      dtype=np.int64)
    if widths.sum() != len(mine.data):  # bytes that are no UTF-8: one group per byte
        chars = [f"\\x{b:02x}" if b > 0x7F else chr(b) for b in mine.data]
        widths = np.ones(len(mine.data), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
    doc = _char_document(candidate[0], chars, _per_char(mine.bits, starts),
                         _per_char(theirs.bits, starts))
    return AlignedExample(doc, mine.token[starts] if len(starts) else mine.token,
                          theirs.token[starts] if len(starts) else theirs.token)


def _per_char(bits: np.ndarray, starts: np.ndarray) -> np.ndarray:
    if not len(starts):
        return np.zeros(0, dtype=np.float32)
    return np.add.reduceat(bits, starts).astype(np.float32)


def _char_document(example: Example, chars: list[str], bits: np.ndarray,
                   ref_bits: np.ndarray) -> Document:
    n = len(chars)
    raw = [c.encode("utf-8", errors="backslashreplace") for c in chars]
    groups = TokenGroups(raw=raw, special=np.zeros(n, dtype=bool),
                         template=np.zeros(n, dtype=bool),
                         bounds=np.arange(n + 1, dtype=np.int32),
                         group=np.arange(n, dtype=np.int32), text=chars,
                         whitespace=np.array([c.isspace() for c in chars], dtype=bool))
    both = np.isfinite(bits) & np.isfinite(ref_bits)
    kind = [SCORED if ok else PENDING for ok in both]
    row = np.where(both, np.arange(n), -1).astype(np.int32)
    as_chars = Example(example.index, example.line, np.arange(n, dtype=np.int32), 0)
    return Document(as_chars, groups, kind, bits, np.full(n, np.nan, dtype=np.float32),
                    np.full(n, -1, dtype=np.int32), row, None, None, ref_bits)

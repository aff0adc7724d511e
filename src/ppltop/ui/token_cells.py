"""Tokens as one table cell: the whole character(s) a token is part of, and which part.

A byte-level token that holds only part of a CJK character or emoji is not text on its
own; in a list it is shown with the characters of its group (`'中' 2/2`: the second of the
two tokens of 中), or, without an occurrence at hand, as its bytes (`<0xE4><0xB8>`).
"""

from __future__ import annotations


def token_at(source, example: int, position: int, template: bool = False) -> str:
    """The token at `position` of `example` in its characters' context."""
    tokens = source.examples[example].tokens
    group = source.token_texts.group_at(tokens, position)
    part = f" {group.part}/{group.parts}" if group.parts > 1 else ""
    return f"{group.text!r}{part}" + (" template" if template else "")


def token_alone(source, token_id: int, index=None, cache: dict | None = None) -> str:
    """A token id on its own; a part of a character also names the characters of its
    worst occurrence in `index` (a `SurprisalIndex`), cached in `cache`."""
    texts = source.token_texts
    if texts.is_whole(token_id):
        return repr(texts.label(token_id))
    if cache is not None and token_id in cache:
        return cache[token_id]
    hit = index.worst_occurrence(token_id) if index is not None else None
    where = f" of {token_at(source, hit.example, hit.position)}" if hit is not None else ""
    cell = f"{texts.label(token_id)}{where}"
    if cache is not None:
        cache[token_id] = cell
    return cell

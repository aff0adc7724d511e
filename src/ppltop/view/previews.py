"""One-line previews for the lists: an example's opening words, and a token in the context
of the few tokens either side of it.

Textual-free and computed from the tokens the run scored (`token_text.TokenTexts`), so a
list shows the text the model saw. Whitespace runs become one space and line breaks `↵`, so
a preview is always one line; bytes cut at an edge (half a character) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.data.token_text import TokenTexts

OPENING_TOKENS = 48
"""Tokens decoded for an example's opening (more than a table cell ever shows)."""
CONTEXT_TOKENS = 6
"""Tokens shown on each side of a token in its context."""
_SPACES = re.compile(r"[ \t\r\f\v]+")


def one_line(text: str) -> str:
    """`text` on one line: a line break as `↵`, whitespace runs as one space, no replacement
    characters from bytes cut at an edge."""
    return _SPACES.sub(" ", text.replace("\ufffd", "").replace("\n", "↵"))


def opening(token_texts: TokenTexts, tokens: Sequence[int]) -> str:
    """The example's first words, as one line (a leading `<s>` or other special token left
    out: every example starts with it)."""
    start = 0
    while start < len(tokens) and token_texts.is_special(tokens[start]):
        start += 1
    return one_line(token_texts.text(tokens[start:start + OPENING_TOKENS])).strip()


@dataclass(frozen=True)
class InContext:
    """A token with the text either side of it."""

    before: str
    token: str
    after: str

    def line(self) -> str:
        """`…before «token» after…`: the token marked, as a list cell shows it."""
        return f"…{self.before}«{self.token}»{self.after}…"


def in_context(token_texts: TokenTexts, tokens: Sequence[int], position: int,
               either_side: int = CONTEXT_TOKENS) -> InContext:
    """The token at `position` (with the whole characters it is part of) and the decoded
    text of `either_side` tokens before and after it."""
    group = token_texts.group_at(tokens, position)
    first = position - (group.part - 1)
    last = first + group.parts
    before = token_texts.text(tokens[max(0, first - either_side):first])
    after = token_texts.text(tokens[last:last + either_side])
    return InContext(one_line(before), one_line(group.text), one_line(after))

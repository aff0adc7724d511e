"""Which message each token of a chat example comes from, read from the messages themselves.

mlx-lm tokenizes a chat record as `apply_chat_template(messages)` (a prompt/completion record
as a user and an assistant message). Rendering the same template as text over each prefix of
the messages shows where each message's turn begins in the whole conversation (where the
prefix stops agreeing with it), and finding each message's content in order shows which
characters are the message's own; everything else is the template's. The tokenizer's
character offsets then give each token its message, and whether it covers only template text.
Nothing depends on how the template writes its markers: special tokens (`<|im_start|>`),
`[INST]`, `<start_of_turn>` or plain text the tokenizer does not mark.

When the rendered text does not tokenize to mlx-lm's token ids (or the template cannot be
rendered over a prefix), there is no reading from the messages and the caller falls back to
the special tokens (`token_marks`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class MessageTokens:
    """Per token of one chat example: its message and whether the template wrote it."""

    roles: list[str]
    """The role of each message, in order."""
    message: np.ndarray
    """int16 per token: the message whose turn the token is in (its content, its role
    marker, its end of turn)."""
    template: np.ndarray
    """bool per token: covers only text the template wrote, none of a message's content."""


class NoReading(Exception):
    """The messages cannot be mapped onto the tokens; the message says why, in a few words."""


Messages = list[dict[str, Any]]
"""A chat record's messages, as its JSON has them."""


def _render(tokenizer: Any, messages: Messages, tools: Any, **kwargs: Any) -> str:
    text: str = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False,
                                              return_dict=False, **kwargs)
    return text


def turn_starts(tokenizer: Any, messages: Messages, tools: Any, text: str) -> list[int]:
    """Where each message's turn begins in `text`: where the rendering of the messages
    before it stops agreeing with the whole (its role marker is the first thing that
    differs)."""
    starts = [0]
    for i in range(1, len(messages)):
        agreeing = len(os.path.commonprefix([text, _render(tokenizer, messages[:i], tools)]))
        starts.append(max(agreeing, starts[-1]))
    return starts


def _find(text: str, content: str, start: int, end: int, last: bool
          ) -> tuple[int, int] | None:
    """(start, end) of `content` in text[start:end], as given, else stripped (templates
    often `trim` it); None when absent or empty."""
    for wanted in (content, content.strip()):
        if wanted:
            at = text.rfind(wanted, start, end) if last else text.find(wanted, start, end)
            if at >= 0:
                return at, at + len(wanted)
    return None


def content_spans(text: str, messages: Messages, starts: list[int]) -> list[tuple[int, int]]:
    """(start, end) of each message's content in `text`: its last occurrence in its turn
    (what a template writes before the content, a system prompt of its own, a date, the
    tools, is longer than what it writes after), else the first after the content before;
    (start, start) when the template rewrote it beyond finding."""
    spans, cursor = [], 0
    for m, start, end in zip(messages, starts, [*starts[1:], len(text)]):
        start = max(start, cursor)
        span = (_find(text, m["content"], start, max(end, start), last=True)
                or _find(text, m["content"], cursor, len(text), last=False)
                or (start, start))
        spans.append(span)
        cursor = span[1]
    return spans


def message_tokens(tokenizer: Any, messages: Messages, tools: Any, tokens: Sequence[int]
                   ) -> MessageTokens:
    """Each token's message and template flag (raises `NoReading`)."""
    try:
        text = _render(tokenizer, messages, tools)
        starts = turn_starts(tokenizer, messages, tools, text)
    except Exception as e:  # a template that refuses a prefix (e.g. one that must end
        # with the assistant) gives no reading; the tokens are still mlx-lm's
        raise NoReading(f"the template cannot be rendered over the first messages "
                        f"({type(e).__name__})") from None
    hf = getattr(tokenizer, "_tokenizer", tokenizer)
    try:
        encoded = hf(text, add_special_tokens=False, return_offsets_mapping=True)
    except (NotImplementedError, TypeError, ValueError) as e:
        raise NoReading(f"the tokenizer gives no character offsets ({type(e).__name__})") \
            from None
    if list(encoded["input_ids"]) != [int(t) for t in tokens]:
        raise NoReading("the rendered text does not tokenize to mlx-lm's tokens")
    spans = content_spans(text, messages, starts)
    # every turn holds its content (a template may write one message inside the next's
    # turn, as Llama-2 does the system message, and then the prefixes give it none)
    starts = [0] + [min(max(a, before[1]), own[0])
                    for a, before, own in zip(starts[1:], spans, spans[1:])]
    offsets = np.asarray(encoded["offset_mapping"], dtype=np.int64).reshape(-1, 2)
    first, last = offsets[:, 0], offsets[:, 1]
    message = (np.searchsorted(np.asarray(starts), first, side="right") - 1).astype(np.int16)
    template = np.ones(len(offsets), dtype=bool)
    for i, (a, b) in enumerate(spans):
        covers = (first < b) & (last > a)
        template[covers] = False
        message[covers] = i  # content is its message's, wherever the turns were cut
    return MessageTokens([str(m["role"]) for m in messages], message, template)

"""The detail panel for the token under the cursor: why was it surprising?

A token that is part of a character (a CJK character or emoji split over byte-level
tokens) is shown with the whole character, which part of it the token is, its own bytes,
and the whole character's surprisal as the core summed it.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from ...core.figures import formats as fmt
from ...view.document import SCORED, Document
from ..text_flow import wrap_value

VALUE_COLUMN = 10
"""Where the values start after their key ("surprisal "): wrapped lines continue there."""

KIND_WORDS = {
    "first": "the first token: nothing predicts it",
    "prompt": "prompt token: not scored under --mask-prompt",
    "truncated": "beyond --max-seq-length: truncated, not scored",
    "pending": "not scored yet",
}


def prob(logprob: float) -> str:
    p = math.exp(logprob)
    return f"{p:.4f}" if p >= 1e-3 else f"{p:.2e}"


def shown(piece: str) -> str:
    """A token's text with its whitespace spelled out, quoted."""
    return repr(piece)


def text_lines(doc: Document, position: int) -> list[str]:
    """The token's text: its group's characters, and for a part of a character, which part
    and its own bytes."""
    groups = doc.groups
    g = int(groups.group[position])
    part, parts = groups.part(position)
    lines = [f"text      {shown(groups.text[g])}"
             + (f"  token {part} of {parts}" if parts > 1 else "")]
    if parts > 1:
        lines.append(f"bytes     {groups.raw[position].hex(' ')}")
    return lines


def _id_line(doc: Document, position: int, token_id: int) -> str:
    mark = ("  (special)" if doc.special[position]
            else "  (template)" if doc.template[position] else "")
    return f"id        {token_id}{mark}"


def _group_line(doc: Document, position: int) -> list[str]:
    """For a token of a multi-token group: the whole group's surprisal."""
    g = int(doc.groups.group[position])
    part, parts = doc.groups.part(position)
    bits = float(doc.group_bits[g])
    if parts == 1 or not math.isfinite(bits):
        return []
    word = "character" if len(doc.groups.text[g]) == 1 else "chars    "
    return [f"{word} {bits:.3f} bits over {parts} tokens"]


class TokenDetail(Static):
    DEFAULT_CSS = """
    TokenDetail {
        border: round $primary;
        border-title-color: $primary;
        padding: 0 1;
        width: 36%;
        min-width: 34;
        max-width: 44;
        height: 1fr;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", markup=False, **kwargs)
        self.border_title = "Token"
        self.description = ""

    def show_token(self, doc: Document, position: int, token_texts, label: str = "",
                   reference: str | None = None) -> None:
        self.description = describe_token(doc, position, token_texts, label, reference)
        self._show()

    def on_resize(self) -> None:
        self._show()

    def _show(self) -> None:
        """Long lines wrap under their value (past the 10-cell key), not under the key."""
        width = self.content_size.width or 40
        # a rich Text keeps the indents (a plain string's leading spaces are dropped)
        self.update(Text("\n".join(wrapped for line in self.description.split("\n")
                                   for wrapped in wrap_value(line, width, VALUE_COLUMN))))


def describe_token(doc: Document, position: int, token_texts, label: str = "",
                   reference: str | None = None) -> str:
    """The panel's text (plain, so tests compare it with the core's arrays); with a
    reference, both labels' figures side by side."""
    if reference is not None and doc.reference is not None and doc.kind[position] == SCORED:
        return _describe_pair(doc, position, token_texts, label, reference)
    example = doc.example
    token_id = int(example.tokens[position])
    lines = [
        *text_lines(doc, position),
        _id_line(doc, position, token_id),
        f"position  {position} of {len(doc)} (example {example.index}, line {example.line})",
    ]
    if doc.kind[position] != SCORED or doc.result is None:
        lines.append(KIND_WORDS.get(doc.kind[position], doc.kind[position]))
        return "\n".join(lines)
    r = doc.result
    row = int(doc.row[position])
    logprob = float(r.logprob[row])
    lines += [
        f"prob      {prob(logprob)}",
        f"surprisal {-logprob / math.log(2):.3f} bits  {-logprob:.3f} nats",
        *_group_line(doc, position),
        f"rank      {int(r.rank[row])}",
        f"entropy   {float(r.entropy[row]) / math.log(2):.3f} bits",
        "",
        "the model preferred:",
    ]
    if r.top_ids.shape[1] == 0:
        lines.append("  (not kept: --loss-only)")
    for alt_id, alt_lp in zip(r.top_ids[row], r.top_logprobs[row]):
        text = token_texts.label(int(alt_id))
        mark = " <" if int(alt_id) == token_id else ""
        lines.append(f"  {math.exp(float(alt_lp)):7.4f}  {shown(text)}{mark}")
    return "\n".join(lines)


def _describe_pair(doc: Document, position: int, token_texts, label: str, reference: str) -> str:
    example = doc.example
    token_id = int(example.tokens[position])
    a, b = doc.result, doc.reference
    row_a = int(doc.row[position])
    row_b = int(position - b.positions[0])
    lp_a, lp_b = float(a.logprob[row_a]), float(b.logprob[row_b])
    w, key = 8, 8  # 30 cells: the panel's width at 80 columns, so no line wraps
    bits_a, bits_b = -lp_a / math.log(2), -lp_b / math.log(2)
    lines = [
        *text_lines(doc, position),
        f"id        {token_id}",
        f"position  {position} of {len(doc)}",
        f"Δ         {fmt.signed(bits_a - bits_b, 3)} bits",
        f"          ({label} - {reference})",
        "",
        f"{'':{key}}{label[:w]:>{w}} {reference[:w]:>{w}}",
        f"{'prob':{key}}{prob(lp_a):>{w}} {prob(lp_b):>{w}}",
        f"{'bits':{key}}{bits_a:>{w}.3f} {bits_b:>{w}.3f}",
        f"{'rank':{key}}{int(a.rank[row_a]):>{w}} {int(b.rank[row_b]):>{w}}",
        f"{'entropy':{key}}{float(a.entropy[row_a]) / math.log(2):>{w}.3f} "
        f"{float(b.entropy[row_b]) / math.log(2):>{w}.3f} bits",
        "",
        f"preferred: {label[:9]} | {reference[:9]}",
    ]
    for k in range(min(a.top_ids.shape[1], b.top_ids.shape[1])):
        left = f"{math.exp(float(a.top_logprobs[row_a][k])):.3f} " \
               f"{shown(token_texts.label(int(a.top_ids[row_a][k])))[:7]}"
        right = f"{math.exp(float(b.top_logprobs[row_b][k])):.3f} " \
                f"{shown(token_texts.label(int(b.top_ids[row_b][k])))[:7]}"
        lines.append(f"{left:<13} | {right}")
    return "\n".join(lines)

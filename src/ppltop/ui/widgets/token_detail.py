"""The detail panel for the token under the cursor: why was it surprising?"""

from __future__ import annotations

import math

from textual.widgets import Static

from ...core.document import SCORED, Document

KIND_WORDS = {
    "first": "the first token: nothing predicts it",
    "prompt": "prompt token: not scored under --mask-prompt",
    "truncated": "beyond --max-seq-length: truncated, not scored",
    "pending": "not scored yet",
}


def shown(piece: str) -> str:
    """A token's text with its whitespace spelled out, quoted."""
    return repr(piece)


class TokenDetail(Static):
    DEFAULT_CSS = """
    TokenDetail {
        border: round $primary;
        border-title-color: $primary;
        padding: 0 1;
        width: 44;
        height: 1fr;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", markup=False, **kwargs)
        self.border_title = "Token"

    def show_token(self, doc: Document, position: int, token_texts) -> None:
        self.update(describe_token(doc, position, token_texts))


def describe_token(doc: Document, position: int, token_texts) -> str:
    """The panel's text (plain, so tests compare it with the core's arrays)."""
    example = doc.example
    token_id = int(example.tokens[position])
    lines = [
        f"text      {shown(doc.pieces[position])}",
        f"id        {token_id}" + ("  (special)" if doc.special[position] else ""),
        f"position  {position} of {len(doc)} (example {example.index}, line {example.line})",
    ]
    if doc.kind[position] != SCORED or doc.result is None:
        lines.append(KIND_WORDS.get(doc.kind[position], doc.kind[position]))
        return "\n".join(lines)
    r = doc.result
    row = int(doc.row[position])
    logprob = float(r.logprob[row])
    lines += [
        f"prob      {math.exp(logprob):.4f}",
        f"surprisal {-logprob / math.log(2):.3f} bits  {-logprob:.3f} nats",
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

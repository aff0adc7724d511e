"""Document views for the page: which examples, which part of each, and their tokens as
HTML spans plus the figures each token's tooltip shows.

The page shows whole characters (the core's token groups): the byte-level tokens of one
CJK character or emoji are one span. Colors are the terminal's (`view.color_scale`), one
class per mode so the page switches modes with CSS alone. The figures come from the core's
`Document` and `ExampleResult`; nothing here computes a statistic.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np

from ..view.color_scale import JUMP_THRESHOLD_BITS, MODES, diff_kind, scale_step
from ..view.document import SCORED, Document
from .gather import ReportLimits, RunReport

DIFF_CLASS = {("neutral", False): "dn", ("better", False): "db", ("worse", False): "dw",
              ("better", True): "dB", ("worse", True): "dW"}
MODE_CLASS = {"surprisal": "s", "rank": "r", "entropy": "e"}
SHOWN = {"\n": "↵\n", "\t": "→", "\x7f": "␡"}


@dataclass
class ShownDocument:
    """One document view: the example, why it is shown, and the window of tokens shown."""

    example: int
    why: str
    document: Document
    start: int
    """First token shown."""
    stop: int
    """One past the last token shown."""

    @property
    def anchor(self) -> str:
        return f"ex-{self.example}"

    def shows(self, position: int) -> bool:
        return self.start <= position < self.stop


@dataclass
class DocumentChoice:
    shown: list[ShownDocument]
    left_out: list[tuple[int, str, int]]
    """(example, why it was wanted, its tokens) for each document the size bound left out."""


def _worst_position(doc: Document, hide_template: bool) -> int:
    bits = np.where(np.isfinite(doc.bits), doc.bits, -np.inf)
    if hide_template and not doc.template.all():
        bits = np.where(doc.template, -np.inf, bits)
    return int(np.argmax(bits)) if len(bits) else 0


def _window(doc: Document, around: int, size: int) -> tuple[int, int]:
    """At most `size` tokens around position `around`, cut at whole characters."""
    n = len(doc)
    if n <= size:
        return 0, n
    start = max(0, min(around - size // 2, n - size))
    stop = start + size
    bounds = doc.groups.bounds
    start = int(bounds[doc.groups.group[start]])
    stop = int(bounds[doc.groups.group[stop - 1] + 1]) if stop < n else n
    return start, stop


def wanted_examples(report: RunReport, limits: ReportLimits) -> list[tuple[int, str, int | None]]:
    """(example, why, position to center on) in priority order, each example once."""
    index = report.live.index[report.label]
    order = index.example_order("mean_loss", descending=True)
    worst = index.example_rows(order, 0, limits.worst_documents)
    wanted = [(row.index, f"worst example #{k + 1} by mean loss", None)
              for k, row in enumerate(worst)]
    wanted += [(e, "chosen with --examples", None) for e in report.chosen]
    wanted += [(hit.example, f"holds worst token #{k + 1}", hit.position)
               for k, hit in enumerate(index.worst_tokens(limits.list_rows))]
    seen, out = set(), []
    for example, why, position in wanted:
        if example not in seen:
            seen.add(example)
            out.append((example, why, position))
    return out


def choose_documents(report: RunReport, limits: ReportLimits) -> DocumentChoice:
    """The document views that fit in `limits.total_tokens`, in priority order."""
    live = report.live
    shown, left_out, used = [], [], 0
    for example, why, position in wanted_examples(report, limits):
        doc = live.document(report.label, example, report.diff_reference)
        around = position if position is not None else _worst_position(doc, live.hide_template)
        start, stop = _window(doc, around, limits.doc_tokens)
        if used + (stop - start) > limits.total_tokens:
            left_out.append((example, why, len(doc)))
            continue
        used += stop - start
        shown.append(ShownDocument(example, why, doc, start, stop))
    return DocumentChoice(shown, left_out)


def visible(text: str) -> str:
    """A group's text for the page, escaped; newlines and tabs made visible."""
    out = []
    for ch in text:
        if ch in SHOWN:
            out.append(SHOWN[ch])
        elif ord(ch) < 0x20:  # other control characters: the Control Pictures block
            out.append(chr(0x2400 + ord(ch)))
        else:
            out.append(ch)
    return html.escape("".join(out), quote=False)


def group_classes(doc: Document, g: int, top: int) -> str:
    """The span's classes: template (m), whitespace (w), not scored (u), or one scale step
    per mode (s3 r0 e2) and the diff class; `h` marks the tokens `n`/`p` jump between."""
    groups = doc.groups
    if groups.is_template_group(g):
        return "m"
    if groups.whitespace[g]:
        return "w"
    steps = {mode: scale_step(doc, g, mode, top) for mode in MODE_CLASS}
    if steps["surprisal"] is None:
        return "u"
    classes = ["t"] + [f"{MODE_CLASS[m]}{step}" for m, step in steps.items()]
    delta = doc.group_delta_bits
    kind = diff_kind(delta[g]) if delta is not None else None
    if kind is not None:
        classes.append(DIFF_CLASS[kind])
    if float(doc.group_bits[g]) >= JUMP_THRESHOLD_BITS:
        classes.append("h")
    return " ".join(classes)


def _round(x: float, digits: int = 6):
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def token_figures(doc: Document, position: int, vocab: dict[int, str], token_texts) -> list:
    """[position, id, kind] for a token not scored; for a scored one [position, id, logprob,
    entropy bits, rank, [[alt id, alt logprob] x5], reference logprob or None]."""
    token_id = int(doc.example.tokens[position])
    if doc.kind[position] != SCORED or doc.result is None:
        return [position, token_id, doc.kind[position]]
    r, row = doc.result, int(doc.row[position])
    alts = []
    for alt_id, alt_lp in zip(r.top_ids[row].tolist(), r.top_logprobs[row].tolist()):
        vocab.setdefault(int(alt_id), token_texts.label(int(alt_id)))
        alts.append([int(alt_id), _round(alt_lp, 4)])
    ref = None
    if doc.reference is not None and doc.ref_bits is not None:
        ref_row = position - doc.reference.first
        if 0 <= ref_row < doc.reference.n_tokens:
            ref = _round(doc.reference.logprob[ref_row])
    return [position, token_id, _round(r.logprob[row]), _round(doc.entropy_bits[position], 4),
            int(r.rank[row]), alts, ref]


def render_document(shown: ShownDocument, top: int, vocab: dict[int, str], token_texts,
                    targets: set[int]) -> tuple[str, dict]:
    """(the spans' HTML, the tooltips' data); `targets`: positions linked to from the lists,
    whose span gets an id."""
    doc = shown.document
    groups = doc.groups
    first_g = int(groups.group[shown.start]) if len(doc) else 0
    last_g = int(groups.group[shown.stop - 1]) + 1 if len(doc) else 0
    spans, data = [], []
    for g in range(first_g, last_g):
        tokens = list(groups.tokens_of(g))
        ids = [f'id="e{shown.example}p{p}"' for p in tokens if p in targets][:1]
        attrs = " ".join([f'class="{group_classes(doc, g, top)}"', *ids])
        spans.append(f"<span {attrs}>{visible(groups.text[g])}</span>")
        bits = _round(doc.group_bits[g], 4) if len(tokens) > 1 else None
        data.append([bits, [token_figures(doc, p, vocab, token_texts) for p in tokens]])
    return "".join(spans), {"example": shown.example, "groups": data}


def mode_names(has_reference: bool) -> list[str]:
    return [m for m in MODES if m != "diff" or has_reference]

"""The headless table of a run over models of several tokenizers: each label's bits per
byte and its Δ from the reference, paired per example (the core's `byte_compare.ByteRow`,
as text)."""

from __future__ import annotations

from .core.figures import formats as fmt
from .core.figures.byte_compare import ByteRow
from .core.figures.compare import verdict


def render_tokenizers(rows: list[ByteRow]) -> str:
    """`== across tokenizers ... ==`, a row per label of every part, in scoring order."""
    if not rows:
        return ""
    reference = next(row.label for row in rows if row.reference)
    width = max(16, *(len(row.label) for row in rows))
    part_width = max(12, *(len(row.part) for row in rows))
    head = ["label".ljust(width), "tokenizer of".ljust(part_width), "examples".rjust(8),
            "bits/byte".rjust(9), "Δ bits/byte".rjust(11), "95% CI of Δ".rjust(21),
            "wins".rjust(5)]
    lines = [f"== across tokenizers: bits per byte, paired per example "
             f"(reference: {reference}) ==", " ".join(head)]
    for row in rows:
        cells = [row.label.ljust(width), row.part.ljust(part_width),
                 fmt.count(row.examples).rjust(8), fmt.number(row.bits_per_byte).rjust(9)]
        if row.reference:
            cells += ["".rjust(11), "".rjust(21), "".rjust(5), " reference"]
        else:
            lo, hi = row.delta_ci95
            cells += [fmt.signed(row.delta).rjust(11), fmt.interval(lo, hi, sign=True).rjust(21),
                      fmt.share(row.win_share).rjust(5),
                      " " + verdict(row.significant, row.delta)]
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines) + "\n"

"""The cells of the comparison view's tables: a row per label against the reference, and
the tokens and examples the active label moved most (`figures.ComparisonFigures`)."""

from __future__ import annotations

import math

from ..core.figures import formats as fmt
from ..core.figures.compare import Comparison, TokenDelta
from ..view.previews import InContext, in_context, opening
from .token_cells import token_at

CONTEXT_BEFORE = 5
"""Characters of context shown before a token in the lower panes (its own cell is narrow)."""


def wins(c: Comparison) -> str:
    """The share of examples the label does better on; `tie` where every example scores
    the same (identical runs), `–` where there is nothing to count."""
    if not math.isfinite(c.win_share):
        return "–"
    if c.delta_ci95 == (0.0, 0.0) and c.delta_loss == 0.0:
        return "tie"
    return fmt.share(c.win_share)


def near(context: InContext) -> str:
    """The token in its context for a narrow pane: a few characters before it, so that the
    marked token is in view, then what follows."""
    return f"…{context.before[-CONTEXT_BEFORE:]}«{context.token}»{context.after}…"


def row_figures(live, common, label: str, c: Comparison | None = None
                ) -> tuple[float, tuple[float, float], float]:
    """(loss, 95% interval of PPL, bits per byte) of `label`'s row. The loss of a label
    compared with the reference is the comparison's own (`c.loss`: over the examples both
    have scored with a finite loss, as the printout shows it), so its Δ is that of the two
    losses in its row; the reference's, its interval and bits per byte are over the common
    examples when the labels scored different ones, else the label's summary once it is
    scored to its end, else its running figures (no bits per byte yet)."""
    if common is not None:
        f = common.figures[label]
        loss, interval, per_byte = f.loss, f.ppl_ci95, f.bits_per_byte
    elif (s := live.summary_of(label)) is not None:
        loss, interval, per_byte = s.loss, s.ppl_ci95, s.bits_per_byte
    else:
        series = live.labels[label]
        loss, interval, per_byte = series.loss, series.ppl_ci95, math.nan
    return (loss if c is None else c.loss), interval, per_byte


def mlx_lm_text(live, shown: dict[str, str], common) -> str:
    """What the figures cover when the labels scored different examples (`common`), then
    mlx-lm's own line per label (`LiveRun.mlx_lm_line`), the one users match, under its
    shown name (`shown`: label -> name, in the rows' order): a label not scored to its end
    has none yet; last, how a label's KL was approximated, where it was (`kl_note`)."""
    lines = [(name, live.mlx_lm_line(label)) for label, name in shown.items()]
    text = ("\n".join(f"mlx-lm · {name}: {line or 'when it is scored to its end'}"
                      for name, line in lines)
            if any(line for _, line in lines) else
            f"mlx-lm's {live.split_word} loss/ppl lines: when the run finishes")
    if common is not None:
        text = (f"loss, PPL, Δ and bits/B {common.basis} (those every label has scored; "
                f"mlx-lm's lines are each run's own)\n{text}")
    kl_notes = [f"KL · {name}: {summary.kl_note}" for label, name in shown.items()
                if (summary := live.summary_of(label)) is not None and summary.kl_note]
    return "\n".join([text, *kl_notes])


def sorted_rows(rows: list[tuple[str, Comparison | None]], key: str, descending: bool,
                name_of, loss_of) -> list[tuple[str, Comparison | None]]:
    """The label rows in the order of the column `key` (`loss`: the loss the row shows,
    `loss_of(label)`; the reference has no Δ and sorts as 0)."""
    def value(row):
        label, c = row
        if key == "label":
            return name_of(label)
        if key == "loss":
            return loss_of(label)
        if c is None:
            return 0.0
        if key == "kl":
            return c.kld["mean"] if c.kld else math.inf
        return {"delta": c.delta_loss, "wins": c.win_share}[key]

    return sorted(rows, key=value, reverse=descending)


def lists_note(active: str, reference: str, same: bool) -> str:
    """The line above the lists: what they compare (`same`: the active label is the
    reference, so there is nothing to list)."""
    if same:
        return (f"active = reference ({active}): Enter on another row (or 1-9) lists the "
                "tokens it moved")
    return (f"{active} vs {reference}, Δ = active − reference (negative: better) · Enter: "
            "diff view")


def label_row(mark: str, name: str, figures: tuple[float, tuple[float, float], float],
              c: Comparison | None, tokens_per_s: float | None, kl: bool = False
              ) -> list[str]:
    """One label's row: its loss, PPL and interval, bits per byte and rate (`figures`), its
    Δ against the reference (`c`; None: it is the reference); with `kl`, its mean KL from
    the reference and the same-top share (the core's `kld`)."""
    loss, (lo, hi), per_byte = figures
    if c is None:
        delta = ["ref", "", "", ""] + ["", ""] * kl
    else:
        dlo, dhi = c.delta_ci95
        delta = [fmt.delta(c.delta_loss), fmt.interval(dlo, dhi, sign=True),
                 fmt.signed(c.delta_ppl, 2), wins(c)]
        if kl:
            delta += ([fmt.number(c.kld["mean"], 4), fmt.share(c.kld["same_top"], 0)]
                      if c.kld else [fmt.DASH, fmt.DASH])
    return [mark, name, fmt.loss(loss),
            fmt.ppl(math.exp(loss) if math.isfinite(loss) else math.nan),
            fmt.interval(lo, hi, 2), *delta, fmt.number(per_byte, 3),
            fmt.count(round(tokens_per_s)) if tokens_per_s is not None else fmt.DASH,
            "" if c is None else ("*" if c.significant else "n.s.")]


def token_row(source, t: TokenDelta) -> list[str]:
    """A token the active label moved: Δ in bits, the token, its context, where it is."""
    return [fmt.signed(t.delta_bits, 2), token_at(source, t.example, t.position),
            near(in_context(source.token_texts, source.examples[t.example].tokens,
                            t.position)),
            str(t.example), str(t.position)]


def example_row(source, example: int, delta: float) -> list[str]:
    """An example by its Δ mean loss, its line in the data and its opening."""
    return [fmt.signed(delta, 3), str(example), str(source.examples[example].line),
            opening(source.token_texts, source.examples[example].tokens)]

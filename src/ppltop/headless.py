"""The headless printer of any run set's one stream: progress lines on stderr, mlx-lm's line
and both figures on stdout (each split's under its name, a watch's checkpoints as they
come)."""

from __future__ import annotations

import math
import time
from typing import TextIO

from .checkpoint_table import render_checkpoints
from .core.figures import formats as fmt
from .core.figures.checkpoints import curve_of_finished
from .core.figures.models import compares_models, model_rows
from .core.figures.progress import seconds_left
from .core.figures.stats import Z95
from .core.figures.summary import RunSummary
from .core.mlx_lm import present, words
from .core.store.events import (
    BatchScored,
    LabelAdded,
    Notice,
    RunFinished,
    RunStarted,
    SplitStarted,
)
from .model_table import render_models
from .view.live import LabelLive, ScoringRate


class HeadlessPrinter:
    """Consumes the scoring events; prints progress at most once per `interval_s`."""

    def __init__(self, config, blas, out: TextIO, err: TextIO, interval_s: float = 1.0):
        self.config = config
        self.blas = blas
        self.out = out
        self.err = err
        self.interval_s = interval_s
        self._last_print = -math.inf
        self._running: dict[str, LabelLive] = {}
        """The dashboard's own running figures per label (non-finite examples left out)."""
        self._plan = None
        self._rate = ScoringRate()

    def _scoring(self, labels, targets: int) -> None:
        """From now on the progress is of `labels`, each scoring `targets` targets."""
        self._running = {label: LabelLive(label, targets) for label in labels}
        self._rate = ScoringRate()

    def handle(self, event) -> None:
        if isinstance(event, SplitStarted):
            print(f"== {event.title} ==", file=self.out, flush=True)
        elif isinstance(event, LabelAdded):  # a watch's checkpoint: a run of its own
            self._scoring([event.label], self._plan.targets_per_label)
        elif isinstance(event, RunStarted):
            self._plan = plan = event.plan
            self._scoring(plan.labels, plan.targets_per_label)
            blas = f" · BLAS {self.blas.describe()}" if self.blas else ""
            print(f"ppltop: {fmt.plural(plan.n_examples, 'example')} ({plan.data_format}) "
                  f"from {plan.split_path}, {fmt.plural(plan.targets_per_label, 'target')}, "
                  f"{fmt.plural(plan.n_batches, 'batch')} of {self.config.batch_size} (padding "
                  f"{plan.padding_text()}), labels: "
                  f"{', '.join(plan.labels)}{blas}",
                  file=self.err, flush=True)
        elif isinstance(event, Notice):
            print(f"ppltop: {event.level}: {event.message}", file=self.err, flush=True)
        elif isinstance(event, BatchScored):
            self._rate.note(event)
            self._running[event.label].add(event)
            # once every label of the batch has it (with the models one at a time, every
            # label of the model in this pass)
            last_label = event.closes_batch
            now = time.monotonic()
            finished = event.batch + 1 == event.n_batches
            if last_label and (now - self._last_print >= self.interval_s or finished):
                self._last_print = now
                self._progress(event)
        elif isinstance(event, RunFinished):
            self._finish(event)

    def _progress(self, event: BatchScored) -> None:
        done = sum(live.tokens_done for live in self._running.values())
        total = sum(live.tokens_total for live in self._running.values())
        rate = self._rate.rate(done, event.elapsed_s)
        eta = seconds_left(total, done, rate)
        parts = []
        for label, live in self._running.items():
            left_out = (f" ({live.nonfinite_examples} non-finite left out)"
                        if live.nonfinite_examples else "")
            parts.append(f"{label} loss {fmt.loss(live.loss)} ppl {fmt.ppl(live.ppl)}"
                         f"{left_out}")
        finished = done >= total
        print(f"[{event.batch + 1}/{event.n_batches}] " + " | ".join(parts)
              + f" | {fmt.rate(rate)} | {fmt.eta(eta, over=finished)}", file=self.err,
              flush=True)

    def _finish(self, event: RunFinished) -> None:
        if event.cancelled:
            print("ppltop: cancelled: the figures below are partial", file=self.out)
        self.out.write(render_figures(event))
        self.out.flush()


def render_figures(event: RunFinished) -> str:
    """A finished run's figures: each label's block, the comparison, the breakdowns, the
    checkpoint table (what the headless run and the closing dashboard print)."""
    parts = [render_summary(summary) for summary in event.summaries]
    if event.comparisons:
        parts.append(render_comparison(event.summaries, event.comparisons))
    if compares_models(event.summaries):
        parts.append(render_models(model_rows(event.summaries, event.comparisons)))
    if event.breakdowns is not None:
        parts.append(render_breakdowns(event.breakdowns))
    curve = curve_of_finished(event)
    if curve is not None:
        parts.append(render_checkpoints(curve))
    return "".join(parts)


def render_split_figures(finished_by_split: dict, each: bool = True) -> str:
    """A run over several splits: each split's figures under its name (`each`), then the
    labels across the splits (`split_table.render_splits`)."""
    from .core.figures.splits import split_rows
    from .split_table import render_splits

    parts = [f"== split {split} ==\n{render_figures(finished)}"
             for split, finished in finished_by_split.items()] if each else []
    parts.append(render_splits(split_rows({split: f.summaries
                                           for split, f in finished_by_split.items()})))
    return "".join(parts)


def render_summary(s: RunSummary) -> str:
    """One model/adapter's block: mlx-lm's line, then the exact figures and the explanation."""
    f = s.mlx_lm
    name = s.label + (f" ({s.adapter})" if s.adapter else "")
    lines = [f"== {name} =="]
    if present(f):
        partial = f"; partial: {f.batches} of {f.of_batches} mlx-lm batches" if f.partial else ""
        lines.append(f.line)
        lines.append(f"  mlx-lm figure: loss {fmt.number(f.loss, 6)}  ppl {fmt.number(f.ppl, 6)}  "
                     f"({fmt.plural(f.tokens, 'target')} incl. {fmt.count(f.pad_targets)} pad, "
                     f"{fmt.plural(f.examples, 'example')}, {fmt.count(f.dropped_examples)} "
                     f"dropped{partial})")
    elif f is not None and f.not_yet:
        lines.append(f"  mlx-lm figure: {words(f)}")
    lo, hi = s.ppl_ci95
    lines.append(f"  ppltop figure: loss {fmt.number(s.loss, 6)}  ppl {fmt.number(s.ppl, 6)}  "
                 "95% CI "
                 f"{fmt.interval(lo, hi, 3)}  SE {fmt.number(s.stderr_loss)} (clustered by "
                 "example)")
    lines.append(f"                 {fmt.number(s.bits_per_token)} bits/token, "
                 f"{fmt.number(s.bits_per_byte)} bits/byte, {fmt.plural(s.tokens, 'token')}, "
                 f"{fmt.plural(s.examples, 'example')}, {fmt.rate(s.tokens_per_s)}")
    lines.append("  why they differ:")
    lines += [f"    - {reason}" for reason in s.explanation]
    return "\n".join(lines) + "\n"


def render_comparison(summaries, comparisons) -> str:
    """A compact table: each label against the reference, paired over the same examples."""
    ref = comparisons[0].reference
    by_label = {s.label: s for s in summaries}
    w = max(16, *(len(s.label) for s in summaries))  # model folders' names may be long
    lines = [f"== comparison, paired over the same examples (reference: {ref}) ==",
             f"{'label':<{w}} {'loss':>8} {'PPL':>9} {'Δloss':>9} {'95% CI of Δloss':>21} "
             f"{'ΔPPL':>9} {'wins':>6}  "]
    r = by_label[ref]
    lines.append(f"{ref:<{w}} {fmt.loss(r.loss):>8} {fmt.ppl(r.ppl):>9} {'':>9} {'':>21} "
                 f"{'':>9} {'':>6}  "
                 "reference")
    for c in comparisons:
        lo, hi = c.delta_ci95
        lines.append(f"{c.label:<{w}} {fmt.loss(c.loss):>8} {fmt.ppl(math.exp(c.loss)):>9} "
                     f"{fmt.signed(c.delta_loss):>9} {fmt.interval(lo, hi, sign=True):>21} "
                     f"{fmt.signed(c.delta_ppl, 3):>9} {fmt.share(c.win_share):>6}  {c.verdict}")
    for c in comparisons:
        if c.kld:
            k = c.kld
            p = k["percentiles"]
            lines.append(f"KL divergence of {c.label} from {c.reference} over "
                         f"{fmt.plural(k['tokens'], 'token')}: mean {k['mean']:.6f} ± "
                         f"{k['stderr']:.6f}, max {k['max']:.4f}, "
                         f"99.9% {p['99.9']:.4f}, 99% {p['99']:.4f}, 95% {p['95']:.4f}, "
                         f"90% {p['90']:.4f}, median {p['50']:.6f}, 10% {p['10']:.6f}, "
                         f"5% {p['5']:.6f}, 1% {p['1']:.6f}, 0.1% {p['0.1']:.6f}, "
                         f"min {k['min']:.6f}; RMS Δp {100 * k['delta_p_rms']:.3f}%, "
                         f"same top {100 * k['same_top']:.2f}%")
    return "\n".join(lines) + "\n"


def render_breakdowns(breakdowns) -> str:
    """Each breakdown as a compact table: per group its examples and tokens, the reference's
    loss and every other label's Δloss with its paired interval (`*`: significant); the
    loss-by-position curve, and runs of one label, as each label's loss ± 1.96 SE."""
    out = []
    for b in breakdowns.breakdowns:
        others = [label for label in breakdowns.labels if label != breakdowns.reference]
        by_delta = bool(others) and b.key != "position-log2"
        head = (f"reference: {breakdowns.reference}; Δloss paired over each group's examples, "
                "* significant" if by_delta else "loss ± 1.96 SE, clustered by example")
        out.append(f"== loss by {b.title} ({head}) ==")
        if b.note:
            out.append(f"  {b.note}")
        columns = ([f"{breakdowns.reference} loss"] + [f"{x} Δloss [95% CI]" for x in others]
                   if by_delta else [f"{x} loss" for x in breakdowns.labels])
        least = [10] + [30] * len(others) if by_delta else [17] * len(columns)
        widths = [max(w, len(c)) for c, w in zip(columns, least)]  # a header is never cut
        out.append(f"{'group':<16} {'examples':>8} {'tokens':>8}  "
                   + " ".join(f"{c:<{w}}" for c, w in zip(columns, widths)).rstrip())
        for g in b.groups:
            ref = g.figures.get(breakdowns.reference)
            tokens = ref.tokens if ref else max(f.tokens for f in g.figures.values())
            cells = ([_loss_cell(ref, False)] + [_delta_cell(g.figures.get(x)) for x in others]
                     if by_delta else [_loss_cell(g.figures.get(x), True)
                                       for x in breakdowns.labels])
            small = "  (few examples)" if g.small else ""
            out.append(f"{g.name[:16]:<16} {g.examples:>8} {fmt.count(tokens):>8}  "
                       + " ".join(f"{c:<{w}}" for c, w in zip(cells, widths)).rstrip()
                       + small)
    if breakdowns.proposed:
        keys = ", ".join(k for k, _ in breakdowns.proposed)
        out.append(f"(records have keys that look like groups: {keys}; try --group-by)")
    return "\n".join(out) + "\n" if out else ""


def _loss_cell(f, interval: bool) -> str:
    if f is None:
        return "-"
    if not interval:
        return fmt.loss(f.loss)
    spread = Z95 * f.stderr
    return f"{fmt.loss(f.loss)} ± {fmt.loss(spread)}" if math.isfinite(spread) \
        else fmt.loss(f.loss)


def _delta_cell(f) -> str:
    c = f.comparison if f is not None else None
    if c is None:
        return "-"
    lo, hi = c.delta_ci95
    if not math.isfinite(lo):
        return fmt.signed(c.delta_loss)
    return (f"{fmt.signed(c.delta_loss)} {fmt.interval(lo, hi, sign=True)}"
            f"{' *' if c.significant else ''}")

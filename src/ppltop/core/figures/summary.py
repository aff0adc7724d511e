"""The two figures of a run and why they differ.

`mlx_lm`: what `mlx_lm.lora --test` prints, replayed from per-example parts by
`mlx_lm.figure` (its batches, dropped records, phantom targets and arithmetic). The
headline: every example, real targets only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..config import EvalConfig
from ..data.split import Example, Split
from ..mlx_lm import MlxLmFigure
from ..mlx_lm import figure as mlx_lm_figure
from .results import ExampleResult
from .stats import bits, clustered_mean, finite_or_none, ppl_interval, safe_exp


@dataclass
class RunSummary:
    """Everything the headless printer and `--json` report for one model/adapter."""

    label: str
    adapter: str | None
    loss: float
    ppl: float
    tokens: int
    examples: int
    stderr_loss: float
    ppl_ci95: tuple[float, float]
    bits_per_token: float
    bits_per_byte: float
    tokens_per_s: float
    truncated_examples: int
    truncated_tokens: int
    nonfinite_examples: list[int]
    """Split indices of examples whose loss is NaN or infinite (left out of the headline)."""
    complete: bool
    mlx_lm: MlxLmFigure | None
    explanation: list[str] = field(default_factory=list)
    nonfinite_tokens: int = 0
    """Targets of the `nonfinite_examples`, left out of the headline with them."""
    nonfinite_first: list[dict[str, Any]] = field(default_factory=list)
    """For the first ten of those examples, where their loss stops being finite:
    `{"example", "position", "token"}` (the token id of the first non-finite target)."""
    model: str | None = None
    """The label's model folder, when the run compares several models (None: one model)."""
    peak_memory_bytes: int | None = None
    """MLX's peak allocation while this label's model ran (None: not measured)."""
    kl_note: str | None = None
    """How its KL from the reference was approximated, when it was (models scored one at a
    time: `engine.kept_reference.KlGaps.note`); None when computed exactly or not at all."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ppl_ci95"] = list(self.ppl_ci95)
        if self.mlx_lm is not None and self.mlx_lm.not_yet:  # no figure yet: null, not NaNs
            out["mlx_lm"] = None
        finite: dict[str, Any] = finite_or_none(out)
        return finite


@dataclass(frozen=True)
class Headline:
    """ppltop's figure over a set of scored examples: every real target of the examples
    whose loss is finite (the headline of a run, or of the examples several runs share)."""

    loss: float
    stderr: float
    """Of the loss, clustered by example."""
    tokens: int
    examples: int
    bits_per_byte: float

    @property
    def ppl(self) -> float:
        return safe_exp(self.loss)

    @property
    def ppl_ci95(self) -> tuple[float, float]:
        return ppl_interval(self.loss, self.stderr)


def headline(results: dict[int, ExampleResult]) -> Headline:
    """The headline figures of `results`, summed in example order (so that a resumed run
    sums in the same order as an uninterrupted one)."""
    good = [results[i] for i in sorted(results) if results[i].finite and results[i].n_tokens]
    sums = np.array([r.loss_sum for r in good])
    counts = np.array([r.n_tokens for r in good])
    loss, se = clustered_mean(sums, counts)
    n_bytes = sum(r.n_bytes for r in good)
    return Headline(loss, se, int(counts.sum()), len(good),
                    bits(float(sums.sum())) / n_bytes if n_bytes else math.nan)


def summarize(label: str, adapter_path: str | None, results: dict[int, ExampleResult], split: Split,
              scored_examples: list[Example], cfg: EvalConfig, elapsed_s: float,
              complete: bool, tokens_per_s: float,
              precision_note: str | None = None, ranks: int = 1, model: str | None = None,
              peak_memory_bytes: int | None = None) -> RunSummary:
    """Both figures for one label, and the words that explain their difference."""
    ordered = [results[i] for i in sorted(results)]
    head = headline(results)
    truncated = [r for r in ordered if r.truncated]
    figure = mlx_lm_figure(split.examples, results, cfg, ranks)
    summary = RunSummary(
        label=label,
        adapter=adapter_path,
        loss=head.loss,
        ppl=head.ppl,
        tokens=head.tokens,
        examples=head.examples,
        stderr_loss=head.stderr,
        ppl_ci95=head.ppl_ci95,
        bits_per_token=bits(head.loss),
        bits_per_byte=head.bits_per_byte,
        tokens_per_s=tokens_per_s,
        truncated_examples=len(truncated),
        truncated_tokens=sum(r.truncated for r in truncated),
        nonfinite_examples=sorted(r.example for r in results.values() if not r.finite),
        complete=complete,
        mlx_lm=figure,
        model=model,
        peak_memory_bytes=peak_memory_bytes,
    )
    bad = [r for r in ordered if not r.finite]
    summary.nonfinite_tokens = sum(r.n_tokens for r in bad)
    summary.nonfinite_first = [_first_nonfinite(r) for r in bad[:10]]
    summary.explanation = explain(summary, cfg, len(split.examples))
    if precision_note:
        summary.explanation.append(precision_note)
    return summary


def _first_nonfinite(r: ExampleResult) -> dict[str, Any]:
    at = int(np.flatnonzero(~np.isfinite(r.logprob))[0])
    return {"example": r.example, "position": int(r.positions[at]), "token": int(r.targets[at])}


def _partial(s: RunSummary) -> str:
    """A stopped run: what each figure covers (mlx-lm's: its complete batches only)."""
    f = s.mlx_lm
    head = f"partial: the run was stopped; ppltop's figure covers the {s.examples} examples scored"
    if f is None or f.refused:
        return head
    if f.not_yet:
        return f"{head}; mlx-lm figure: {f.not_yet}"
    return (f"{head}, mlx-lm's the {f.batches} of its {f.of_batches} batches complete among "
            f"them ({f.examples} examples)")


def explain(s: RunSummary, cfg: EvalConfig, n_records: int) -> list[str]:
    """Why the headline and the mlx-lm figure differ, one reason per line, with numbers."""
    f = s.mlx_lm
    lines = []
    if not s.complete:
        lines.append(_partial(s))
    if f is None or f.refused:
        lines.append(f.refused if f and f.refused else "no mlx-lm figure")
    elif not f.not_yet:
        if f.dropped_examples and cfg.test_batches != -1:
            # ppltop scores the same chosen examples (mlx_lm.chosen_examples): no difference
            lines.append(f"--test-batches {cfg.test_batches}: both figures cover the "
                         f"{s.examples} examples of the batches it picks; the other "
                         f"{f.dropped_examples} records are scored by neither")
        elif f.dropped_examples:
            lines.append(f"mlx-lm never scores the last {n_records % cfg.batch_size} records "
                         f"({n_records} % batch size {cfg.batch_size}): "
                         f"{f.dropped_examples} examples, {f.dropped_tokens} targets; "
                         "ppltop scores them")
        if f.pad_targets:
            lines.append(f"mlx-lm counts {f.pad_targets} phantom targets, one per row shorter "
                         f"than its padded batch: the prediction of pad id 0 after the last "
                         f"token (mean loss {f.pad_loss_mean:.3f}); ppltop counts none")
        if math.isfinite(f.loss) and math.isfinite(s.loss):
            lines.append(f"net: mlx-lm {f.loss:.5f} over {f.tokens} targets vs ppltop "
                         f"{s.loss:.5f} over {s.tokens} (difference {f.loss - s.loss:+.5f} nats)")
    if s.truncated_examples:
        lines.append(f"{s.truncated_examples} examples longer than --max-seq-length "
                     f"{cfg.max_seq_length}: {s.truncated_tokens} targets truncated, scored by "
                     "neither figure (--long-sequences window scores them)")
    elif cfg.long_sequences == "window":
        lines.append("--long-sequences window: long examples scored whole in overlapping "
                     "windows by ppltop; mlx-lm truncates them")
    if s.nonfinite_examples:
        where = ", ".join(f"example {f['example']} at position {f['position']} (token id "
                          f"{f['token']})" for f in s.nonfinite_first[:3])
        lines.append(f"{len(s.nonfinite_examples)} examples with a non-finite loss are left out "
                     f"of the ppltop figure with their {s.nonfinite_tokens} targets (split "
                     f"indices {s.nonfinite_examples[:10]}; first non-finite: {where}); "
                     "mlx-lm's figure includes them")
    if not lines:
        lines.append("the figures agree: no records dropped, no phantom targets, no truncation")
    return lines

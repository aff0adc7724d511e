"""The heavy figures of a run in progress, as jobs a worker thread can run: the comparison
rows and their token and example lists, the group breakdowns, and the checkpoint curve.

A job is built on the UI thread over a copy of the results scored so far (`snapshot`), so
the worker reads data that no new batch changes; it carries the key of what it is of (the
same key, the same figures) and the function that computes them from the copy. The
`LiveRun` methods and the printout call the same functions, so a figure on screen is the
figure printed.

Textual-free: the dashboard runs the jobs in a Textual worker and draws what they return.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.figures.breakdowns import compute_breakdowns
from ..core.figures.checkpoints import checkpoint_curve, curves_side_by_side, live_curve_inputs
from ..core.figures.common import CommonFigures, common_figures
from ..core.figures.compare import (
    Comparison,
    TokenDelta,
    compare_labels,
    example_deltas,
    token_deltas,
)
from ..core.figures.results import ExampleResult

Results = dict[str, dict[int, ExampleResult]]

LIST_ROWS = 200
"""Tokens in each of the comparison view's lists (improved most, hurt most)."""


@dataclass(frozen=True)
class FigureJob:
    """Figures to compute off the UI thread: `compute()` over copied results."""

    key: tuple
    """What the figures are of: a job with the key of the figures shown is not run again."""
    compute: Callable[[], Any] = field(compare=False)


def snapshot(index: dict) -> Results:
    """Each label's results so far, copied (`SurprisalIndex.results`): new results go into
    the index, never into the copy a worker reads."""
    return {label: dict(found.results) for label, found in index.items()}


def results_key(index: dict) -> tuple:
    """Changes whenever a result arrives (results are only ever added)."""
    return tuple(len(found) for found in index.values())


def comparisons_of(results: Results, common: CommonFigures | None, finished,
                   reference: str) -> dict[str, Comparison]:
    """Every other label against `reference`: the finished run's own comparisons when they
    are against it, else the core's one comparison function on the examples all labels have
    scored (`common`, when they scored different ones) or on every result."""
    if finished is not None and finished.comparisons \
            and finished.comparisons[0].reference == reference:
        return {c.label: c for c in finished.comparisons}
    found = (common.comparisons(list(results), reference) if common is not None
             else compare_labels(results, list(results), reference))
    return {c.label: c for c in found}


def breakdowns_of(results: Results, groups, finished, reference: str | None):
    """The run's `Breakdowns` against `reference`: the finished run's own when they are
    against it (or there is nothing to group afresh), else the core's function on the
    results so far; None when the run has no breakdowns."""
    if finished is not None and finished.breakdowns is not None and (
            finished.breakdowns.reference == reference or groups is None):
        return finished.breakdowns
    if groups is None or reference is None:
        return None
    return compute_breakdowns(results, list(results), reference, groups)


@dataclass(frozen=True)
class ComparisonFigures:
    """What the comparison view draws: the rows against the reference and, for the active
    label, the tokens and examples it moved most."""

    reference: str
    active: str
    rows: dict[str, Comparison]
    """Every label but the reference, against it."""
    common: CommonFigures | None
    """The figures over the examples every label has scored, when they scored different
    ones (None: each label's own figures share a base)."""
    improved: list[TokenDelta]
    hurt: list[TokenDelta]
    examples: list[tuple[int, float]]
    """(example, Δ mean loss) of every shared example."""


def comparison_figures(results: Results, finished, reference: str,
                       active: str) -> ComparisonFigures:
    common = common_figures(results)
    rows = comparisons_of(results, common, finished, reference)
    improved: list[TokenDelta] = []
    hurt: list[TokenDelta] = []
    examples: list[tuple[int, float]] = []
    if active != reference:
        paired = common.results if common is not None else results
        cand, ref = paired[active], paired[reference]
        improved = token_deltas(cand, ref, LIST_ROWS, improved=True)
        hurt = token_deltas(cand, ref, LIST_ROWS, improved=False)
        examples = example_deltas(cand, ref)
    return ComparisonFigures(reference, active, rows, common, improved, hurt, examples)


def comparison_job(live, reference: str, active: str) -> FigureJob:
    """The comparison view's figures of `live` (a `LiveRun`)."""
    results, finished = snapshot(live.index), live.finished
    return FigureJob(("comparison", id(live), reference, active, finished is not None,
                      results_key(live.index)),
                     lambda: comparison_figures(results, finished, reference, active))


def breakdowns_job(live, reference: str | None) -> FigureJob:
    """The groups view's `Breakdowns` of `live` against `reference` (None: the run's own)."""
    reference = reference or live.reference
    results, groups, finished = snapshot(live.index), live.groups, live.finished
    return FigureJob(("groups", id(live), reference, finished is not None,
                      results_key(live.index)),
                     lambda: breakdowns_of(results, groups, finished, reference))


def curve_job(runs) -> FigureJob:
    """The checkpoint curve of every split of `runs` (a `SplitRuns`), side by side: the
    figures and results are read here, the paired comparisons made in the job."""
    inputs = {split: live_curve_inputs(live) for split, live in runs.by_split().items()}
    return FigureJob(("curve", id(runs), runs.state()),
                     lambda: curves_side_by_side({split: checkpoint_curve(*found)
                                                  for split, found in inputs.items()}))

"""The names labels are shown by, and the reference they are compared with: a person may
rename a label for display (the comparison view's `e`) or make another label the reference
(`f`); every view, the groups view, the final printout and the report (`H`) then read both
from one `LabelNames`.

Textual-free: the dashboard holds the one `LabelNames` and passes it to every pane; the
printout and the report show `named_finished`, a copy of the run's final figures against the
chosen reference under the display names (the run directory keeps the labels it was scored
with, and the reference it was scored against).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core.figures.breakdowns import Breakdowns, GroupFigures
    from ..core.figures.compare import Comparison
    from ..core.figures.summary import RunSummary
    from ..core.store.events import RunFinished
    from .live import LiveRun


def shown(label: str, aliases: dict[str, str] | None) -> str:
    """The name `label` is shown by."""
    return (aliases or {}).get(label, label)


@dataclass
class LabelNames:
    """Display names, the reference and the active label of one run, as the person chose
    them: the dashboard's one view state (changed by the App alone)."""

    aliases: dict[str, str] = field(default_factory=dict)
    """Label -> the name it is shown by (the panes keep this same dict)."""
    reference: str | None = None
    """The label comparisons are made against (None: the run's own)."""
    active: str | None = None
    """The label the PPL panel, the viewer and the document view show (None: the first)."""

    def shown(self, label: str) -> str:
        return shown(label, self.aliases)

    def refusal(self, label: str, name: str, labels: Iterable[str]) -> str | None:
        """Why `label` may not be shown as `name` (None: it may): two rows of one name would
        be told apart by nobody, and the printout would take one's figures for the other's."""
        name = name.strip()
        if not name:
            return "a label needs a name"
        taken = next((other for other in labels if other != label
                      and self.shown(other) == name), None)
        return None if taken is None else f"{name!r} is taken by another label ({taken})"

    def rename(self, label: str, name: str, labels: Iterable[str]) -> str | None:
        """Show `label` as `name`; returns the refusal instead when the name is taken."""
        refused = self.refusal(label, name, labels)
        if refused is None:
            self.aliases[label] = name.strip()
        return refused


def renamed_summaries(summaries: list[RunSummary], aliases: dict[str, str] | None
                      ) -> list[RunSummary]:
    """Copies of `RunSummary`s under their display names."""
    return [replace(s, label=shown(s.label, aliases)) for s in summaries]


def renamed_comparisons(comparisons: list[Comparison], aliases: dict[str, str] | None
                        ) -> list[Comparison]:
    """Copies of `Comparison`s with the label and its reference under display names."""
    return [replace(c, label=shown(c.label, aliases), reference=shown(c.reference, aliases))
            for c in comparisons]


def renamed_breakdowns(breakdowns: Breakdowns | None, aliases: dict[str, str] | None
                       ) -> Breakdowns | None:
    """A copy of `Breakdowns` with every label (its figures and their comparisons) under
    display names."""
    if breakdowns is None:
        return None

    def figures(f: GroupFigures) -> GroupFigures:
        c = f.comparison
        return replace(f, label=shown(f.label, aliases),
                       comparison=None if c is None else renamed_comparisons([c], aliases)[0])

    return replace(breakdowns, reference=shown(breakdowns.reference, aliases),
                   labels=[shown(label, aliases) for label in breakdowns.labels],
                   breakdowns=[replace(b, groups=[
                       replace(g, figures={shown(k, aliases): figures(f)
                                           for k, f in g.figures.items()})
                       for g in b.groups]) for b in breakdowns.breakdowns])


def named_finished(finished: RunFinished | None, live: LiveRun, names: LabelNames | None
                   ) -> RunFinished | None:
    """`finished` (a `RunFinished` of `live`, a `LiveRun`) as the person sees it: its
    comparisons and breakdowns against `names.reference` (the core's functions on the same
    results, `LiveRun.comparisons` and `LiveRun.breakdowns`), every label under its display
    name. The results stay under the scored labels (the checkpoint curve reads them)."""
    if names is None or finished is None:
        return finished
    reference = names.reference or live.reference
    comparisons = finished.comparisons
    if reference is not None and comparisons and comparisons[0].reference != reference:
        found = live.comparisons(reference)
        comparisons = [found[label] for label in live.labels if label in found]
    return replace(finished, summaries=renamed_summaries(finished.summaries, names.aliases),
                   comparisons=renamed_comparisons(comparisons, names.aliases),
                   breakdowns=renamed_breakdowns(live.breakdowns(reference), names.aliases))

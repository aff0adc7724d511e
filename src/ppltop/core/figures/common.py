"""The figures of labels that have not all scored the same examples, over those they share.

Two runs side by side (a finished one and one stopped part-way), or a watch scoring its
newest checkpoint, hold labels scored on different examples: each label's own figure and
a Δ paired over the shared examples would mix bases. Here every figure, each label's loss,
PPL interval and bits per byte and every paired Δ, covers the examples all of them have.
"""

from __future__ import annotations

from dataclasses import dataclass

from .compare import Comparison, compare_labels
from .results import ExampleResult
from .summary import Headline, headline

Results = dict[str, dict[int, ExampleResult]]


@dataclass
class CommonFigures:
    """Every label's figures over the examples they all have scored."""

    examples: int
    """How many examples that is: `over N common examples`."""
    figures: dict[str, Headline]
    results: Results
    """Each label's results on those examples only (what the comparisons pair)."""

    @property
    def basis(self) -> str:
        """What the figures cover, as every view says it: `over 23 common examples`."""
        return f"over {self.examples} common examples"

    def comparisons(self, labels: list[str], reference: str) -> list[Comparison]:
        """Every label but `reference` against it over the common examples: the one
        comparison function, on the common examples' results."""
        return compare_labels(self.results, labels, reference)


def common_figures(results: Results) -> CommonFigures | None:
    """The figures of `results` over the examples every label with a result has scored;
    None when those labels have all scored the same examples (their own figures already
    share a base). A label with nothing scored yet (a checkpoint just added) has no figure
    to mix and is left out of the intersection."""
    scored = [set(r) for r in results.values() if r]
    if not scored or all(s == scored[0] for s in scored):
        return None
    shared = set.intersection(*scored)
    subset = {label: {i: r[i] for i in sorted(shared) if i in r} for label, r in results.items()}
    return CommonFigures(len(shared), {label: headline(r) for label, r in subset.items()},
                         subset)

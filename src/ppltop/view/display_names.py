"""The names labels are shown by: a person may rename a label for display (the comparison
view's `e`); every view and the final printout then use the new name, from here.

Textual-free: the dashboard holds the one `aliases` dict and passes it to every pane; the
printout renames copies of the run's summaries and comparisons (the run directory keeps the
labels it was scored with).
"""

from __future__ import annotations

from dataclasses import replace


def shown(label: str, aliases: dict[str, str] | None) -> str:
    """The name `label` is shown by."""
    return (aliases or {}).get(label, label)


def renamed_summaries(summaries: list, aliases: dict[str, str] | None) -> list:
    """Copies of `RunSummary`s under their display names."""
    return [replace(s, label=shown(s.label, aliases)) for s in summaries]


def renamed_comparisons(comparisons: list, aliases: dict[str, str] | None) -> list:
    """Copies of `Comparison`s with the label and its reference under display names."""
    return [replace(c, label=shown(c.label, aliases), reference=shown(c.reference, aliases))
            for c in comparisons]

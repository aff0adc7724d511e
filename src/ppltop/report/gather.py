"""A run directory read back for the report: the events `ppltop open` replays (the same
`RunFollower`, or a run set's one stream), applied to the dashboard's view model
(`LiveRun`), and the manifest."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.errors import InputError
from ..core.store.breakdown_events import with_breakdowns
from ..core.store.replay import RunFollower
from ..view.display_names import LabelNames, named_finished
from ..view.live import LiveRun


@dataclass(frozen=True)
class ReportLimits:
    """What bounds the page's size: a report of a million-token run stays a few MB."""

    worst_documents: int = 10
    """Document views of the N worst examples (by mean loss)."""
    list_rows: int = 20
    """Rows of the worst examples and worst tokens lists."""
    doc_tokens: int = 1500
    """Tokens of one document shown; a longer one shows a window around its worst token."""
    total_tokens: int = 25000
    """Tokens of all document views together; the documents past it are summarized."""


@dataclass
class RunReport:
    """Everything the page shows, as the core's objects."""

    path: Path
    manifest: dict
    """The run's `Manifest` as a dict: the page lists its fields as they are."""
    live: LiveRun
    """The run as the dashboard sees it: finished event, per-label surprisal index, source."""
    label: str
    """The label whose tokens the document views and worst lists show."""
    chosen: list[int] = field(default_factory=list)
    """Examples asked for with --examples, shown besides the worst ones."""
    names: LabelNames = field(default_factory=LabelNames)
    """The display names and the reference chosen in the dashboard (`H`); none from a
    shell: the labels and the reference the run was scored with."""
    across: list = field(default_factory=list)
    """A part of a run over several tokenizers: every part's labels against the reference
    in bits per byte (the core's `ByteRow`s, as the printout's table)."""
    part_pages: dict[str, str] = field(default_factory=dict)
    """Such a run's part -> the link to its page from this one ("" for this page)."""

    @property
    def finished(self):
        """The run's final figures against `reference`, under the display names."""
        return named_finished(self.live.finished, self.live, self.names)

    @property
    def reference(self) -> str:
        return self.names.reference or self.live.reference

    @property
    def labels(self) -> list[str]:
        """The labels as shown, in the run's order."""
        return [self.names.shown(label) for label in self.live.plan.labels]

    @property
    def label_name(self) -> str:
        return self.names.shown(self.label)

    @property
    def diff_reference(self) -> str | None:
        """The reference the diff mode compares the shown label with (None: it is it)."""
        return self.reference if self.reference != self.label else None


def default_label(labels: list[str], reference: str) -> str:
    """The first label that is not the reference (what the adapter changed), else it."""
    return next((label for label in labels if label != reference), reference)


def read_report_run(path: Path, label: str | None = None,
                    examples: list[int] | None = None,
                    names: LabelNames | None = None) -> RunReport:
    """Read a run directory (finished, or stopped: then its figures are partial).
    Raises InputError naming the flag or path on bad input."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: no such run directory; give a folder `ppltop runs` lists")
    follower = RunFollower(path, follow=False)
    return report_of_events(path, follower.manifest, follower.config, follower.events,
                            label, examples, names)


def report_of_events(path: Path, manifest, config, events, label: str | None = None,
                     examples: list[int] | None = None,
                     names: LabelNames | None = None) -> RunReport:
    """The report of a run read back as `ppltop open` reads it: its manifest, config and
    events (one run, or a watch's checkpoints as one run)."""
    live = LiveRun()
    try:
        # the breakdowns attached as `ppltop open` attaches them
        for event in with_breakdowns(events, config)():
            live.apply(event)
    except (OSError, ValueError, KeyError) as e:  # a results file gone or cut short
        raise InputError(f"{path}: damaged run directory ({type(e).__name__}: {e}); "
                         "`ppltop resume` it or report another run") from e
    if live.finished is None or live.plan is None:
        raise InputError(f"{path}: the run has not started scoring; nothing to report yet")
    labels = list(live.plan.labels)
    if label is not None and label not in labels:
        raise InputError(f"--label {label}: not a label of this run (labels: "
                         f"{', '.join(labels)})")
    n = len(live.source.examples)
    for e in examples or []:
        if not 0 <= e < n:
            raise InputError(f"--examples {e}: the split has {n} examples (0 to {n - 1})")
    names = names or LabelNames()
    reference = names.reference or live.reference
    return RunReport(Path(path), asdict(manifest), live,
                     label or default_label(labels, reference),
                     list(dict.fromkeys(examples or [])), names)

"""The runs screen: the runs in a folder, and two of them side by side in the comparison view.

Runs are read from their directories (no model is loaded). Two runs on the same data (same
data fingerprint) can be compared: their labels become `run:label` in one comparison, paired
over the examples both scored with the same tokens.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from ...core.store.events import BatchScored, RunPlan, RunStarted
from ...view.live import LabelLive, LiveRun
from ...core.store.replay import RunFollower
from ...core.store.run_dir import list_runs, read_run
from ...view.surprisal import SurprisalIndex
from ..keys import keys
from ..widgets.key_footer import KeyFooter
from ..widgets.paged_table import Column, PagedTable
from .comparison_screen import ComparisonScreen


def merged_live(paths: list[Path]) -> LiveRun:
    """One LiveRun holding every label of several runs, as `run:label`."""
    live = LiveRun()
    labels, source, total = [], None, 0
    streams = []
    for path in paths:
        follower = RunFollower(path, follow=False)
        events = list(follower.events())
        started = next(e for e in events if isinstance(e, RunStarted))
        source = source or started.source
        total = max(total, started.plan.targets_per_label)
        prefix = path.name
        labels += [f"{prefix}:{label}" for label in started.plan.labels]
        streams.append((prefix, events))
    live.plan = RunPlan(labels, [None] * len(labels), len(source.examples), 0, total,
                        source.path, "", 0.0)
    live.source = source
    live.labels = {label: LabelLive(label, total) for label in labels}
    live.index = {label: SurprisalIndex() for label in labels}
    for prefix, events in streams:
        for event in events:
            if isinstance(event, BatchScored):
                event.label = f"{prefix}:{event.label}"
                live.apply(event)
    return live


class RunsScreen(Screen):
    TITLE = "Runs"
    BINDINGS = [
        *keys("Screen",
              Binding("escape", "app.pop_screen", "Back", id="ppltop.runs.back",
                      tooltip="Back to the previous screen")),
        *keys("Rows",
              Binding("space", "mark", "Mark", id="ppltop.runs.mark",
                      tooltip="Mark the run under the cursor for a side-by-side comparison"),
              Binding("a", "compare_marked", "Compare marked", id="ppltop.runs.compare",
                      tooltip="Compare the two marked runs (same data) in the comparison "
                      "view")),
    ]

    DEFAULT_CSS = """
    RunsScreen #runs-note { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.rows = list_runs(folder)
        self.marked: list[Path] = []

    def compose(self) -> ComposeResult:
        yield Static(f"runs in {self.folder}: space marks two runs, a compares them",
                     id="runs-note")
        yield PagedTable([Column("", 1, align="left"), Column("run", 34, align="left"),
                          Column("status", 10, align="left"),
                          Column("batches and PPL", 60, align="left")],
                         self._fetch, id="runs")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#runs", PagedTable)
        table.set_row_count(len(self.rows))
        table.focus()

    def _fetch(self, start: int, count: int) -> list[list[str]]:
        return [["*" if path in self.marked else "", path.name, status, what]
                for path, status, what in self.rows[start:start + count]]

    def action_mark(self) -> None:
        table = self.query_one("#runs", PagedTable)
        if not self.rows:
            return
        path = self.rows[table.cursor][0]
        if path in self.marked:
            self.marked.remove(path)
        else:
            self.marked = (self.marked + [path])[-2:]
        table.invalidate()

    def action_compare_marked(self) -> None:
        if len(self.marked) != 2:
            self.notify("mark two runs with space first")
            return
        manifests = [read_run(p, with_results=False).manifest for p in self.marked]
        if manifests[0]["data_sha256"] != manifests[1]["data_sha256"]:
            self.notify("these runs scored different data; compare runs on the same data",
                        severity="warning")
            return
        live = merged_live(self.marked)
        labels = list(live.labels)
        self.app.push_screen(ComparisonScreen(live, labels[0], labels[-1], {}))

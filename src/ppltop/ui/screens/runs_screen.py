"""The runs screen: the runs in a folder; Enter opens one, two marked ones side by side.

Runs are read from their directories (no model is loaded) by `core.run_index`, in a worker
thread that reports what it reads: reading a run's tokenizer, data and results takes seconds,
and the screen stays live meanwhile. Two runs on the same data (same data fingerprint) are
compared with their labels as `run:label`, paired over the examples both scored.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ProgressBar, Static

from ...core.errors import InputError
from ...core.store.run_dir import read_run
from ...view.live import LiveRun
from ...view.run_index import RunRow, read_runs, run_rows
from ...view.screen_title import screen_title
from ..keys import keys
from ..widgets.key_footer import KeyFooter
from ..widgets.paged_table import Column, PagedTable
from ..widgets.title_line import TitleLine
from .comparison_screen import ComparisonScreen
from .viewer_screen import ViewerScreen

RUN_NAME_MAX = 30
"""The run column fits the longest run name up to this; `ppltop open` takes the name."""
RUN_SET_KINDS = ("watch", "splits")
"""The status of a run set's row (`run_index.run_set_rows`): one row for all its parts."""


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
    RunsScreen #runs-note { height: auto; padding: 0 1; color: $text-muted; }
    RunsScreen #runs-loading { height: 1; padding: 0 1; }
    RunsScreen #runs-loading.-hidden { display: none; }
    RunsScreen #runs-progress { width: 30; }
    RunsScreen #runs-progress.-hidden { display: none; }
    """

    class Progress(Message):
        """From the reading thread: what it reads now, and the share done."""

        def __init__(self, text: str, share: float) -> None:
            super().__init__()
            self.text = text
            self.share = share

    class Read(Message):
        """From the reading thread: the runs, read (or why they could not be)."""

        def __init__(self, live: LiveRun | None, paths: list[Path], error: str = "") -> None:
            super().__init__()
            self.live = live
            self.paths = paths
            self.error = error

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.rows: list[RunRow] = run_rows(folder)
        self.marked: list[Path] = []

    def compose(self) -> ComposeResult:
        note = (f"runs in {self.folder}: Enter opens one; space marks two, a compares them"
                if self.rows else f"no runs in {self.folder} yet: a run scored with --run-dir "
                "there (the default) appears here")
        yield TitleLine()
        yield Static(note, id="runs-note")
        name_width = min(RUN_NAME_MAX, max([12, *(len(r.path.name) for r in self.rows)]))
        yield PagedTable([Column("", 1, align="left"), Column("run", name_width, align="left"),
                          Column("started", 16, align="left", hide_rank=4),
                          Column("model", 12, align="left", hide_rank=3),
                          Column("data", 18, align="left", hide_rank=1),
                          Column("adapters", 14, align="left", hide_rank=2),
                          Column("status", 10, align="left"),
                          Column("batches", 7, hide_rank=5),
                          Column("PPL", 12, align="left", grow=True)],
                         self._fetch, id="runs")
        yield Static("", id="runs-loading", classes="-hidden")
        yield ProgressBar(total=1.0, show_eta=False, id="runs-progress", classes="-hidden")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = self.query_one(TitleLine).show(screen_title(
            self.TITLE, str(self.folder), shows=f"{len(self.rows)} runs"))
        table = self.query_one("#runs", PagedTable)
        table.set_row_count(len(self.rows))
        table.focus()

    def _fetch(self, start: int, count: int) -> list[list[str]]:
        return [["*" if r.path in self.marked else "", r.path.name, r.date, r.model, r.data,
                 r.adapters, r.status, r.batches, r.figures]
                for r in self.rows[start:start + count]]

    # -- actions ---------------------------------------------------------------------
    def action_mark(self) -> None:
        table = self.query_one("#runs", PagedTable)
        if not self.rows:
            return
        path = self.rows[table.cursor].path
        if path in self.marked:
            self.marked.remove(path)
        else:
            self.marked = (self.marked + [path])[-2:]
        table.invalidate()

    def on_paged_table_selected(self, message: PagedTable.Selected) -> None:
        message.stop()
        row = self.rows[message.row]
        if row.status == "damaged":
            self.notify(f"{row.path.name}: {row.figures}", severity="warning")
            return
        if row.status in RUN_SET_KINDS:  # its parts are read as one by `ppltop open` only
            self.notify(f"{row.path.name}: {row.figures}")
            return
        self._read([row.path])

    def action_compare_marked(self) -> None:
        if len(self.marked) != 2:
            self.notify("mark two runs with space first")
            return
        try:
            manifests = [read_run(p, with_results=False).manifest for p in self.marked]
        except InputError as e:
            self.notify(str(e), severity="warning")
            return
        if manifests[0].data_sha256 != manifests[1].data_sha256:
            self.notify("these runs scored different data; compare runs on the same data",
                        severity="warning")
            return
        self._read(list(self.marked))

    # -- reading in a thread -----------------------------------------------------------
    def _read(self, paths: list[Path]) -> None:
        self._show_progress(f"reading {', '.join(p.name for p in paths)} ...", 0.0)
        self._read_in_thread(paths)

    @work(thread=True, exclusive=True, exit_on_error=False, group="read-runs")
    def _read_in_thread(self, paths: list[Path]) -> None:
        try:
            live = read_runs(paths, lambda text, share: self.post_message(
                self.Progress(text, share)))
        except (InputError, OSError, ValueError) as e:
            self.post_message(self.Read(None, paths, str(e)))
            return
        self.post_message(self.Read(live, paths))

    def _show_progress(self, text: str, share: float) -> None:
        self.query_one("#runs-loading", Static).update(text)
        bar = self.query_one("#runs-progress", ProgressBar)
        bar.update(total=1.0, progress=share)
        for widget_id in ("#runs-loading", "#runs-progress"):
            self.query_one(widget_id).remove_class("-hidden")

    def on_runs_screen_progress(self, message: Progress) -> None:
        self._show_progress(message.text, message.share)

    def on_runs_screen_read(self, message: Read) -> None:
        for widget_id in ("#runs-loading", "#runs-progress"):
            self.query_one(widget_id).add_class("-hidden")
        live = message.live
        if live is None or not live.labels:
            self.notify(message.error or f"{message.paths[0].name}: nothing scored yet",
                        severity="warning")
            return
        labels = list(live.labels)
        if len(labels) > 1:
            reference = live.reference if live.reference in live.labels else labels[0]
            active = next((label for label in labels if label != reference), labels[-1])
            self.app.push_screen(ComparisonScreen(live, reference, active, {}))
        else:
            self.app.push_screen(ViewerScreen(live, labels[0]))

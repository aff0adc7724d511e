"""The ppltop App: starts the scoring thread, drains its events on a timer, redraws panes.

The scoring loop runs in a `ScoringWorker` thread with its own MLX stream and never touches
widgets; it puts events into one `EventBuffer`. A single UI timer (at most `refresh_hz` a
second) drains the buffer, folds every event into a `LiveRun`, and redraws once, so the
redraw rate is bounded whatever the batch rate, and no batch result is lost.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from textual import events
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Header

from ..core.checkpoint_files import parse_label
from ..core.engine.worker import ScoringWorker
from ..core.store.events import LabelAdded, Notice, RunFinished, SplitStarted
from ..core.store.run_liveness import state_of
from ..themes import LoadedThemes
from ..view import process_memory
from ..view.display_names import LabelNames
from ..view.event_buffer import EventBuffer
from ..view.screen_title import screen_title
from ..view.split_runs import SplitRuns
from .keys import APP_BINDINGS, load_keymap  # noqa: F401 (load_keymap: for the command line)
from .navigation import ScreenNavigation
from .scoring_control import ScoringControl
from .screens.checkpoint_screen import CheckpointScreen
from .screens.comparison_screen import ComparisonScreen
from .screens.error_screen import ErrorScreen
from .screens.groups_screen import GroupsScreen
from .screens.too_small_screen import TooSmallScreen, too_small
from .screens.viewer_screen import ViewerScreen
from .theme_choice import ThemeChoice
from .widgets.batch_loss_chart import BatchLossChart
from .widgets.config_pane import ConfigPane
from .widgets.event_log import EventLog
from .widgets.key_footer import KeyFooter
from .widgets.ppl_panel import PplPanel

CHART_EVERY_S = 5.0
"""While a run goes on, the batch loss chart and the PPL sparkline are redrawn at most this
often (seconds); the figures themselves follow --refresh."""
LIVENESS_EVERY_S = 2.0
"""How often a dashboard watching a run checks that the process scoring it is alive."""
COMPARE_EVERY_S = 2.0
"""While a run goes on, the comparison view's bootstrap is redone at most this often."""
COMPACT_BELOW = (100, 30)
"""Below this many columns or rows the dashboard shows the figures and a taller chart, and
`o` swaps the config and the log in (four panes at 80x24 cut every one of them)."""
ACTIONS_WHEN_TOO_SMALL = {"toggle_pause", "cancel_run", "quit_app", "quit", "interrupt",
                          "next_theme"}
"""What the keys still do while the terminal is too small (no screen is opened)."""


class PplTopApp(ScoringControl, ScreenNavigation, ThemeChoice, App[int]):
    """The live dashboard for one evaluation."""

    CSS_PATH = "app.tcss"
    TITLE = "ppltop"

    BINDINGS = APP_BINDINGS

    def __init__(self, make_events: Callable[[], Iterator], info: dict[str, str], *,
                 request_stop: Callable[[], None] | None = None, refresh_hz: float = 2.0,
                 theme: str | None = None, themes: LoadedThemes | None = None,
                 keymap: dict[str, str] | None = None,
                 startup_notices: list[str] | None = None,
                 runs_folder: Path | None = None, handle_signals: bool = False,
                 watching: bool = False, run_dir: Path | None = None,
                 split: str = "") -> None:
        """`split`: the split scored (the title names it; several: each `SplitStarted`)."""
        super().__init__()
        self._make_events = make_events
        self._request_stop = request_stop
        self.info = info
        self.refresh_hz = refresh_hz
        self.buffer = EventBuffer()
        self.runs = SplitRuns(run_dir.name if run_dir else "", split)
        """The run on screen (`live`), and with several splits those scored before it."""
        self.worker_thread: ScoringWorker | None = None
        self.redraws = 0
        self._load_themes(themes, theme)
        self._keymap = keymap or {}
        self._error_shown = False
        self.names = LabelNames()
        """The display names given in the comparison view (`e`) and the reference chosen
        there (`f`): every pane, the groups view, the printout and the report read them."""
        self._last_compare = 0.0
        self._last_chart = 0.0
        self._startup_notices = list(startup_notices or [])
        self.runs_folder = runs_folder or Path("ppltop-runs")
        self.run_dir = run_dir
        """The run directory of the run on screen (None: not recorded), for `H`'s report."""
        self._handle_signals = handle_signals
        self._signals: list[signal.Signals] = []
        self.stop_signal: str | None = None
        """The name of the signal that stopped the dashboard (SIGINT, SIGTERM, SIGHUP)."""
        self._too_small: TooSmallScreen | None = None
        self._compact = False
        """The terminal is below COMPACT_BELOW: two panes at a time."""
        self._config_shown = False
        """In the compact layout: the config and the log are shown (`o`), not the figures."""
        self.watching = watching
        """The run is scored by another process (`ppltop open`, --detach): p and c would
        pause or cancel nothing here."""
        self.run_dir = run_dir
        """The run directory of a watched run: its writer's liveness is checked."""
        self._scoring_shown = True
        self._curve_offered = False
        self._plan_shown = None
        """The plan the config pane's examples, tokens and batches are of."""
        """Whether the curve screen was opened for the run's first checkpoint."""
        self._newest_label: str | None = None
        """The label a watch added last (`LabelAdded`), which the PPL panel follows."""
        """Whether the footer was last drawn with p and c (this process scoring the run)."""

    # -- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        with Horizontal(id="top"):
            with Vertical(id="left"):
                yield ConfigPane(self.info, id="config")
                yield EventLog(id="log")
            with Vertical(id="right"):
                yield PplPanel(aliases=self.aliases, id="ppl")
                yield BatchLossChart(aliases=self.aliases, id="chart")
        yield KeyFooter(global_keys=True)

    def on_mount(self) -> None:
        if self._keymap:
            self.set_keymap(self._keymap)
        self._choose_theme()
        for error in [*self._themes.errors, *self._startup_notices]:
            self.notify(error, severity="warning", timeout=8)
        self.worker_thread = ScoringWorker(self._make_events, self.buffer.put, self.buffer.put,
                                           request_stop=self._request_stop)
        self.worker_thread.start()
        self.set_interval(1.0 / self.refresh_hz, self.drain_events, name="drain")
        if self._handle_signals:
            self._install_signal_handlers()
        if self.watching and self.run_dir is not None:
            self.set_interval(LIVENESS_EVERY_S, self.check_writer, name="liveness")
        self._check_size(self.size)

    def on_unmount(self) -> None:
        self._remove_signal_handlers()

    # -- a terminal too small for the layout -------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size)
        self.query_one(PplPanel).fit_height(event.size.height)

    @property
    def too_small(self) -> bool:
        """True while the "terminal too small" screen is shown."""
        return self._too_small is not None

    def _check_size(self, size) -> None:
        self._fit_layout(size)
        if too_small(size):
            if self._too_small is None:
                self._too_small = TooSmallScreen()
                self.push_screen(self._too_small)
            elif self._too_small.is_mounted:
                self._too_small.show_size(size)
        elif self._too_small is not None:
            if self.screen is self._too_small:
                self.pop_screen()
            self._too_small = None
            self._refresh_view()

    def _fit_layout(self, size) -> None:
        """Four panes, or (below COMPACT_BELOW) the figures or the config and log."""
        compact = size.width < COMPACT_BELOW[0] or size.height < COMPACT_BELOW[1]
        try:
            top = self.screen_stack[0].query_one("#top")
        except NoMatches:  # a resize before the dashboard is composed
            return
        top.set_class(compact, "-compact")
        top.set_class(compact and self._config_shown, "-config")
        if compact != self._compact:
            self._compact = compact
            self.screen.refresh_bindings()  # `o` comes or goes

    def action_toggle_config(self) -> None:
        self._config_shown = not self._config_shown
        self._fit_layout(self.size)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While the terminal is too small, keys that would open a screen do nothing; the
        chart's key works where the chart is."""
        if self._too_small is not None and action not in ACTIONS_WHEN_TOO_SMALL:
            return False
        if action == "toggle_x_axis":
            return self.on_dashboard
        if action == "toggle_config":
            return self._compact and self.on_dashboard
        if action in ("toggle_pause", "cancel_run"):
            return self.scoring_here
        if action == "next_split":  # once a second split has started
            return self.on_dashboard and len(self.runs.by_split()) > 1
        if action == "open_checkpoints":  # offered when the run scores checkpoints
            return any(parse_label(label) for label in self.live.labels)
        return True

    @property
    def scoring_here(self) -> bool:
        """True while this process scores the run: pause and cancel have something to do."""
        worker, live = self.worker_thread, self.runs.live
        return not (self.watching or live.finished or live.error
                    or worker is None or not worker.is_alive())

    @property
    def on_dashboard(self) -> bool:
        """True while the dashboard is the screen in use (a modal may cover it)."""
        return next(s for s in reversed(self.screen_stack) if not s.is_modal) \
            is self.screen_stack[0]

    # -- the one channel from the scoring thread ---------------------------------------------
    @property
    def live(self):
        """The `LiveRun` on screen: the run, or the split being scored, or the split chosen
        with `S`."""
        return self.runs.shown

    def apply(self, event) -> None:
        """Fold one event from the scoring thread into the run (the split) it is of."""
        if isinstance(event, SplitStarted):
            self._start_split(event)
        else:
            self.runs.live.apply(event)

    def _start_split(self, event: SplitStarted) -> None:
        """The next split of the run: the panes show it from now on; screens that showed
        the split before close (its figures stay in the curve and the closing output)."""
        before = self.runs.live
        self.runs.start(event)
        if self.live is not before:
            while len(self.screen_stack) > 1 and getattr(self.screen, "live", None) is before:
                self.pop_screen()
            self.reference_label = None
            self.query_one(PplPanel).reset_split()
            log = self.query_one(EventLog)
            log.show(list(before.log), before.log_total)  # the split before, to its end
            log.next_run()
        self.runs.live.apply(Notice("info", f"split {event.split} ({event.index + 1} of "
                                            f"{event.count})"))  # each split's log says which
        self.sub_title = self._status_text()
        self.screen.refresh_bindings()  # S (next split) once a second split has started

    def drain_events(self) -> None:
        events = self.buffer.drain()
        if not events:
            return
        for event in events:
            self.apply(event)
        if not self.watching:  # the scoring thread is in this process: its memory is ours
            self.runs.live.memory = process_memory.sample()
        if self._scoring_shown != self.scoring_here:  # the thread may end before its last event
            self._scoring_shown = self.scoring_here  # is drained: compare with what is shown
            self.screen.refresh_bindings()  # p and c leave the footer once the run is over
        if any(isinstance(event, LabelAdded) for event in events):
            self._follow_newest_label()
        if not self._curve_offered and self.check_action("open_checkpoints", ()):
            self._curve_offered = True  # the curve first, once: when its first checkpoint is
            if self.on_dashboard:  # known (a watch may start with the base model alone)
                self.action_open_checkpoints()
        self._redraw()
        self._refresh_view()

    def _follow_newest_label(self) -> None:
        """A watch added a checkpoint: the PPL panel moves on to it, unless a label other
        than the one being scored was chosen."""
        labels = list(self.live.labels)
        panel = self.query_one(PplPanel)
        if panel.active_label is None or panel.active_label == self._newest_label:
            panel.active_label = labels[-1]
        self._newest_label = labels[-1]

    def check_writer(self) -> None:
        """A watched run: notice within seconds that the process scoring it is gone."""
        live = self.runs.live  # the split being scored
        if live.finished or live.error or self.run_dir is None:
            return
        # several splits: each split is a run of its own, in a sub-folder
        state = state_of(self.run_dir / self.runs.split if self.runs.several else self.run_dir)
        if state.state == "finished":  # its last events are on their way
            return
        was = live.writer
        live.writer = state
        if was is None or was.state != state.state:
            if state.state != "running":
                live.apply(Notice("warning", f"the scoring process stopped: {state.why}; "
                                             f"{state.words()}"))
            self._redraw()

    def _refresh_view(self) -> None:
        """Bring the screen on top up to date; show the error panel once (not over the
        "terminal too small" screen: it waits until the terminal grows)."""
        if isinstance(self.screen, ViewerScreen | CheckpointScreen):
            self.screen.refresh_data()
        elif isinstance(self.screen, GroupsScreen) and (
                time.monotonic() - self._last_compare > COMPARE_EVERY_S or self.live.finished):
            self._last_compare = time.monotonic()  # a bootstrap per group, as the comparison
            self.screen.refresh_data()
        elif isinstance(self.screen, ComparisonScreen) and (
                time.monotonic() - self._last_compare > COMPARE_EVERY_S or self.live.finished):
            self._last_compare = time.monotonic()
            self.screen.recompute()
        scored = self.runs.live
        if scored.error and not self._error_shown and self._too_small is None:
            self._error_shown = True
            self.push_screen(ErrorScreen(scored.error))

    def _redraw(self) -> None:
        self.redraws += 1
        live = self.live
        plan = live.plan
        if plan is not None and plan is not self._plan_shown:  # a new split: its own plan
            self._plan_shown = plan
            self.query_one(ConfigPane).set_values(
                examples=f"{plan.n_examples:,} ({plan.data_format})",
                tokens=f"{plan.targets_per_label:,} per model",
                batches=f"{plan.n_batches:,} (padding {plan.padding_text()})",
            )
        paused = bool(self.worker_thread and self.worker_thread.paused)
        # the chart and the sparkline are most of the bytes a redraw sends over SSH:
        # redraw them less often than the figures
        now = time.monotonic()
        slow = bool(live.finished or live.error or now - self._last_chart >= CHART_EVERY_S)
        self.query_one(PplPanel).show(live, paused, sparkline=slow)
        if slow:
            self._last_chart = now
            self.query_one(BatchLossChart).replot(live)
        scored = self.runs.live  # the log goes on with the split being scored
        self.query_one(EventLog).show(list(scored.log), scored.log_total)
        self.show_title()
        status = self._status_text()
        if status != self.sub_title:
            self.sub_title = status

    def show_title(self) -> None:
        """The header: the run, the active label and the split (the status after it says
        whether the figures are partial); set only when it changes (SSH bytes)."""
        label = self.active_label
        title = screen_title(self.TITLE, self.live.name, self.name_of(label) if label else None,
                             None if self.runs.several else self.live.split)
        if title != self.title:
            self.title = title

    def _status_text(self) -> str:
        live = self.live
        if live.error:
            return self._in_split("error: partial figures")
        if live.finished:
            return self._in_split("cancelled: partial figures" if live.finished.cancelled
                                  else "finished")
        if live.writer_gone:
            return live.writer.words()
        if self.worker_thread and self.worker_thread.paused:
            return "paused"
        # coarse on purpose: a new title repaints far more than the title (SSH bytes); the
        # batch count and progress live in the PPL panel
        return self._in_split("running" if live.plan else "loading")

    def _in_split(self, text: str) -> str:
        runs = self.runs
        if not runs.several:
            return text
        shown = runs.shown_split
        return f"split {shown} ({list(runs.by_split()).index(shown) + 1} of {runs.count}): {text}"

    @property
    def aliases(self) -> dict[str, str]:
        """Display names given in the comparison view (the dict the panes hold)."""
        return self.names.aliases

    @property
    def reference_label(self) -> str | None:
        """The label comparisons are made against: the one chosen with `f`, else the run's
        own (`LiveRun.reference`: a watch's follows its checkpoints as they come)."""
        return self.names.reference or self.live.reference

    @reference_label.setter
    def reference_label(self, label: str | None) -> None:
        self.names.reference = label

    def name_of(self, label: str) -> str:
        """The name `label` is shown by (renamed in the comparison view, else itself)."""
        return self.names.shown(label)

    def names_changed(self) -> None:
        """A label was renamed: redraw the panes that name labels."""
        self._redraw()

    # -- actions (more in ScoringControl, ScreenNavigation, ThemeChoice) ----------------

    def action_next_split(self) -> None:
        """`S`: the dashboard shows the next split scored so far (its figures, chart and
        the screens `a`, `v`, `g`, `w` open), the split being scored after the last."""
        split = self.runs.next_shown()
        if split is None:
            return
        self.query_one(PplPanel).reset_split()
        self._last_chart = 0.0  # the chart and sparkline of that split, now
        self.reference_label = None  # that split's own
        self._redraw()
        scoring = " (being scored)" if split == self.runs.split and self.scoring_here else ""
        self.notify(f"split {split}{scoring}")

    def action_toggle_x_axis(self) -> None:
        chart = self.query_one(BatchLossChart)
        chart.toggle_x_axis()
        chart.replot(self.live)

    @property
    def crash(self) -> BaseException | None:
        """The unhandled exception that ended the app, if one did (Textual has printed its
        traceback on stderr by the time `run` returns); None after a normal exit."""
        return self._exception if self.return_code else None

    @property
    def finished(self) -> RunFinished | None:
        return self.live.finished

    def displayed_ppl(self) -> str:
        """The PPL in large type, as shown (for tests and the tmux check)."""
        from textual.widgets import Digits

        return self.query_one("#ppl-digits", Digits).value

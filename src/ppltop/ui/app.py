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

from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Header

from ..core.checkpoint_files import parse_label
from ..core.engine.worker import ScoringWorker
from ..core.store.events import RunFinished
from ..themes import LoadedThemes
from ..view.display_names import LabelNames
from ..view.event_buffer import EventBuffer
from ..view.split_runs import SplitRuns
from .event_drain import EventDrain
from .keys import APP_BINDINGS, load_keymap  # noqa: F401 (load_keymap: for the command line)
from .layout_fit import LayoutFit
from .navigation import ScreenNavigation
from .run_status import RunStatus
from .scoring_control import ScoringControl
from .theme_choice import ThemeChoice
from .view_state import ViewState
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
ACTIONS_WHEN_TOO_SMALL = {"toggle_pause", "cancel_run", "quit_app", "quit", "interrupt",
                          "next_theme"}
"""What the keys still do while the terminal is too small (no screen is opened)."""


class PplTopApp(EventDrain, RunStatus, LayoutFit, ViewState, ScoringControl, ScreenNavigation,
                ThemeChoice, App[int]):
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
        """The one view state: the display names given in the comparison view (`e`), the
        reference chosen there (`f`) and the active label; every pane, the groups view, the
        printout and the report read them, and only `ViewState`'s handlers change them."""
        self._last_compare = 0.0
        self._last_chart = 0.0
        self._startup_notices = list(startup_notices or [])
        self.runs_folder = runs_folder or Path("ppltop-runs")
        self.run_dir = run_dir
        """The run directory of the run on screen (None: not recorded), for `H`'s report;
        of a watched run, its writer's liveness is checked."""
        self._handle_signals = handle_signals
        self._signals: list[signal.Signals] = []
        self.stop_signal: str | None = None
        """The name of the signal that stopped the dashboard (SIGINT, SIGTERM, SIGHUP)."""
        self.init_layout()
        self.watching = watching
        """The run is scored by another process (`ppltop open`, --detach): p and c would
        pause or cancel nothing here."""
        self._scoring_shown = True
        """Whether the footer was last drawn with p and c (this process scoring the run)."""
        self._curve_offered = False
        """Whether the curve screen was opened for the run's first checkpoint."""
        self._plan_shown = None
        """The plan the config pane's examples, tokens and batches are of."""
        self._newest_label: str | None = None
        """The label a watch added last (`LabelAdded`), which the PPL panel follows."""

    # -- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="")
        with Horizontal(id="top"):
            with Vertical(id="left"):
                yield ConfigPane(self.info, id="config")
                yield EventLog(id="log")
            with Vertical(id="right"):
                yield PplPanel(names=self.names, id="ppl")
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
        if action == "open_bytes":  # models of several tokenizers, two of them started
            return self.runs.kind != "split" and len(self.runs.by_split()) > 1
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
            self.query_one(ConfigPane).set_after(  # each model under `models`
                "models", {m.label: m.describe() for m in plan.models})
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

    # -- actions (more in the mixins) ----------------

    def action_next_split(self) -> None:
        """`S`: the dashboard shows the next split scored so far (its figures, chart and
        the screens `a`, `v`, `g`, `w` open), the split being scored after the last."""
        split = self.runs.next_shown()
        if split is None:
            return
        self.query_one(PplPanel).reset_split()
        self._last_chart = 0.0  # the chart and sparkline of that split, now
        self.names.reference = None  # that split's own
        self._redraw()
        scoring = " (being scored)" if split == self.runs.split and self.scoring_here else ""
        self.notify(f"{self.runs.part_title(split)}{scoring}")

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

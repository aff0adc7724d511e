"""The ppltop App: starts the scoring thread, drains its events on a timer, redraws panes.

The scoring loop runs in a `ScoringWorker` thread with its own MLX stream and never touches
widgets; it puts events into one `EventBuffer`. A single UI timer (at most `refresh_hz` a
second) drains the buffer, folds every event into a `LiveRun`, and redraws once, so the
redraw rate is bounded whatever the batch rate, and no batch result is lost.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from functools import partial
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Header

from ..view.event_buffer import EventBuffer
from ..core.store.events import Notice, RunFinished
from ..core import process_memory
from ..core.display_names import shown
from ..view.live import LiveRun
from ..core.run_liveness import state_of
from ..core.engine.worker import ScoringWorker
from ..hangup import silence_terminal
from ..themes import DEFAULT_THEME, LoadedThemes, load_themes
from .keys import APP_BINDINGS, load_keymap  # noqa: F401 (load_keymap: for the command line)
from .screens.comparison_screen import ComparisonScreen
from .screens.document_screen import DocumentScreen
from .screens.error_screen import ErrorScreen
from .screens.help_screen import HelpScreen
from .screens.runs_screen import RunsScreen
from .screens.too_small_screen import TooSmallScreen, too_small
from .screens.viewer_screen import ViewerScreen
from .widgets.batch_loss_chart import BatchLossChart
from .widgets.config_pane import ConfigPane
from .widgets.event_log import EventLog
from .widgets.key_footer import KeyFooter
from .widgets.ppl_panel import PplPanel

STOP_WAIT_S = 5.0
CHART_EVERY_S = 5.0
"""While a run goes on, the batch loss chart and the PPL sparkline are redrawn at most this
often (seconds); the figures themselves follow --refresh."""
LIVENESS_EVERY_S = 2.0
"""How often a dashboard watching a run checks that the process scoring it is alive."""
COMPARE_EVERY_S = 2.0
"""While a run goes on, the comparison view's bootstrap is redone at most this often."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Signals that stop the dashboard cleanly: the batch in flight is finished and written."""
HANGUP_EXIT_S = 5.0
"""After SIGHUP, leave at the latest this long after scoring has stopped: Textual's output
thread may have died writing to the closed terminal, and its full queue would then block the
shutdown forever."""
ACTIONS_WHEN_TOO_SMALL = {"toggle_pause", "cancel_run", "quit_app", "quit", "interrupt",
                          "next_theme"}
"""What the keys still do while the terminal is too small (no screen is opened)."""


class PplTopApp(App[int]):
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
                 watching: bool = False, run_dir: Path | None = None) -> None:
        super().__init__()
        self._make_events = make_events
        self._request_stop = request_stop
        self.info = info
        self.refresh_hz = refresh_hz
        self.buffer = EventBuffer()
        self.live = LiveRun()
        self.worker_thread: ScoringWorker | None = None
        self.redraws = 0
        self._themes = themes or load_themes()
        for loaded in self._themes.themes.values():
            self.register_theme(loaded)
        self._theme_names = list(self._themes.themes)
        self._requested_theme = theme or DEFAULT_THEME
        self._keymap = keymap or {}
        self._error_shown = False
        self.reference_label: str | None = None
        """The label comparisons are made against (base, else the first)."""
        self.aliases: dict[str, str] = {}
        """Display names given in the comparison view."""
        self._last_compare = 0.0
        self._last_chart = 0.0
        self._startup_notices = list(startup_notices or [])
        self.runs_folder = runs_folder or Path("ppltop-runs")
        self._handle_signals = handle_signals
        self._signals: list[signal.Signals] = []
        self.stop_signal: str | None = None
        """The name of the signal that stopped the dashboard (SIGINT, SIGTERM, SIGHUP)."""
        self._too_small: TooSmallScreen | None = None
        self.watching = watching
        """The run is scored by another process (`ppltop open`, --detach): p and c would
        pause or cancel nothing here."""
        self.run_dir = run_dir
        """The run directory of a watched run: its writer's liveness is checked."""
        self._scoring_shown = True
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
        if self._requested_theme in self._themes.themes:
            self.theme = self._requested_theme
        elif self._requested_theme:
            self.notify(f"--theme {self._requested_theme}: no such theme; known: "
                        f"{', '.join(self._theme_names)}", severity="warning")
            self.theme = self._theme_names[0] if self._theme_names else self.theme
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
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        self._signals = []

    # -- signals: a clean stop, everything scored written ------------------------------
    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            if signal.getsignal(sig) is signal.SIG_IGN:  # under nohup: keep ignoring hang-ups
                continue
            loop.add_signal_handler(sig, self.stop_on_signal, sig)
            self._signals.append(sig)

    def stop_on_signal(self, signum: int) -> None:
        """Stop scoring after the batch in flight (it is written), then leave with 130."""
        if self.stop_signal is not None:
            return
        self.stop_signal = signal.Signals(signum).name
        if signum == signal.SIGHUP:  # the terminal is gone: write nothing more to it
            silence_terminal()
        self.stop_worker()
        if signum == signal.SIGHUP:
            watchdog = threading.Timer(HANGUP_EXIT_S, os._exit, (130,))
            watchdog.daemon = True
            watchdog.start()
        self.exit(130)

    def action_interrupt(self) -> None:
        """Ctrl-C as a key (the terminal is in raw mode, so it sends no SIGINT)."""
        self.stop_on_signal(signal.SIGINT)

    # -- a terminal too small for the layout -------------------------------------------
    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size)
        self.query_one(PplPanel).fit_height(event.size.height)

    @property
    def too_small(self) -> bool:
        """True while the "terminal too small" screen is shown."""
        return self._too_small is not None

    def _check_size(self, size) -> None:
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While the terminal is too small, keys that would open a screen do nothing; the
        chart's key works where the chart is."""
        if self._too_small is not None and action not in ACTIONS_WHEN_TOO_SMALL:
            return False
        if action == "toggle_x_axis":
            return self.on_dashboard
        if action in ("toggle_pause", "cancel_run"):
            return self.scoring_here
        return True

    @property
    def scoring_here(self) -> bool:
        """True while this process scores the run: pause and cancel have something to do."""
        worker = self.worker_thread
        return not (self.watching or self.live.finished or self.live.error
                    or worker is None or not worker.is_alive())

    @property
    def on_dashboard(self) -> bool:
        """True while the dashboard is the screen in use (a modal may cover it)."""
        return next(s for s in reversed(self.screen_stack) if not s.is_modal) \
            is self.screen_stack[0]

    # -- the one channel from the scoring thread ---------------------------------------------
    def drain_events(self) -> None:
        events = self.buffer.drain()
        if not events:
            return
        for event in events:
            self.live.apply(event)
        if not self.watching:  # the scoring thread is in this process: its memory is ours
            self.live.memory = process_memory.sample()
        if self._scoring_shown != self.scoring_here:  # the thread may end before its last event
            self._scoring_shown = self.scoring_here  # is drained: compare with what is shown
            self.screen.refresh_bindings()  # p and c leave the footer once the run is over
        if self.reference_label is None and self.live.labels:
            self.reference_label = self.live.reference
        self._redraw()
        self._refresh_view()

    def check_writer(self) -> None:
        """A watched run: notice within seconds that the process scoring it is gone."""
        if self.live.finished or self.live.error or self.run_dir is None:
            return
        state = state_of(self.run_dir)
        if state.state == "finished":  # its last events are on their way
            return
        was = self.live.writer
        self.live.writer = state
        if was is None or was.state != state.state:
            if state.state != "running":
                self.live.apply(Notice("warning", f"the scoring process stopped: {state.why}; "
                                                  f"{state.words()}"))
            self._redraw()

    def _refresh_view(self) -> None:
        """Bring the screen on top up to date; show the error panel once (not over the
        "terminal too small" screen: it waits until the terminal grows)."""
        if isinstance(self.screen, ViewerScreen):
            self.screen.refresh_data()
        elif isinstance(self.screen, ComparisonScreen) and (
                time.monotonic() - self._last_compare > COMPARE_EVERY_S or self.live.finished):
            self._last_compare = time.monotonic()
            self.screen.recompute()
        if self.live.error and not self._error_shown and self._too_small is None:
            self._error_shown = True
            self.push_screen(ErrorScreen(self.live.error))

    def _redraw(self) -> None:
        self.redraws += 1
        live = self.live
        plan = live.plan
        if plan is not None and "examples" not in self.query_one(ConfigPane).info:
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
        self.query_one(EventLog).show(list(live.log), live.log_total)
        status = self._status_text()
        if status != self.sub_title:
            self.sub_title = status

    def _status_text(self) -> str:
        live = self.live
        if live.error:
            return "error: partial figures"
        if live.finished:
            return "cancelled: partial figures" if live.finished.cancelled else "finished"
        if live.writer_gone:
            return live.writer.words()
        if self.worker_thread and self.worker_thread.paused:
            return "paused"
        # coarse on purpose: a new title repaints far more than the title (SSH bytes); the
        # batch count and progress live in the PPL panel
        return "running" if live.plan else "loading"

    # -- actions -----------------------------------------------------------------------
    def action_toggle_pause(self) -> None:
        worker = self.worker_thread
        if worker is None or not worker.is_alive():
            return
        if worker.paused:
            worker.resume()
            self.notify("scoring resumed")
        else:
            worker.pause()
            self.notify("pausing after this batch")
        self.sub_title = self._status_text()
        self.query_one(PplPanel).show(self.live, worker.paused)

    def action_cancel_run(self) -> None:
        worker = self.worker_thread
        if worker is not None and worker.is_alive():
            worker.cancel()
            self.notify("cancelling after this batch; the figures so far stay")

    @property
    def active_label(self) -> str | None:
        panel = self.query_one(PplPanel)
        if panel.active_label in self.live.labels:
            return panel.active_label
        return next(iter(self.live.labels), None)

    def set_active_label(self, label: str) -> None:
        """Make `label` the one the PPL panel, viewer and document view show."""
        self.query_one(PplPanel).active_label = label
        self.query_one(PplPanel).show(self.live, bool(self.worker_thread
                                                      and self.worker_thread.paused))

    def name_of(self, label: str) -> str:
        """The name `label` is shown by (renamed in the comparison view, else itself)."""
        return shown(label, self.aliases)

    def names_changed(self) -> None:
        """A label was renamed: redraw the panes that name labels."""
        self._redraw()

    def action_activate(self, number: int) -> None:
        labels = list(self.live.labels)
        if not 1 <= number <= len(labels):
            self.notify(f"no model/adapter #{number} (there are {len(labels)})")
            return
        label = labels[number - 1]
        self.set_active_label(label)
        self.notify(f"active: {self.name_of(label)}")
        if isinstance(self.screen, ComparisonScreen) and self.screen.live is self.live:
            self.screen.active = label
            self.screen.recompute()

    def bring_forward(self, wanted: Callable[[Screen], bool]) -> Screen | None:
        """The open screen that `wanted` accepts, now on top (the screens above it close),
        or None: a key that opens a screen opens it once, so screens never stack up."""
        stack = self.screen_stack
        found = next((i for i, screen in enumerate(stack) if wanted(screen)), None)
        if found is None:
            return None
        with self.batch_update():
            for _ in stack[found + 1:]:
                self.pop_screen()
        return stack[found]

    def action_open_comparison(self) -> None:
        if len(self.live.labels) < 2 or self.live.source is None:
            self.notify("comparison needs a base model and an adapter, or two adapters")
            return
        self._last_compare = time.monotonic()
        screen = self.bring_forward(lambda s: isinstance(s, ComparisonScreen)
                                    and s.live is self.live)
        if screen is None:
            self.push_screen(ComparisonScreen(self.live, self.reference_label,
                                              self.active_label, self.aliases))
        else:  # up to date: only the screen on top follows new results
            screen.active = self.active_label
            screen.recompute()

    def action_open_runs(self) -> None:
        if self.bring_forward(lambda s: isinstance(s, RunsScreen)) is None:
            self.push_screen(RunsScreen(self.runs_folder))

    def action_open_viewer(self) -> None:
        label = self.active_label
        if label is None or self.live.source is None:
            self.notify("nothing scored yet")
            return
        screen = self.bring_forward(lambda s: isinstance(s, ViewerScreen)
                                    and s.live is self.live)
        if screen is None:
            self.push_screen(ViewerScreen(self.live, label))
        else:  # up to date: only the screen on top follows new results
            screen.show_label(label)

    def action_worst_token(self) -> None:
        label = self.active_label
        index = self.live.index.get(label) if label else None
        hits = index.worst_tokens(1) if index else []
        if not hits:
            self.notify("nothing scored yet")
            return
        worst = hits[0]
        screen = self.bring_forward(lambda s: isinstance(s, DocumentScreen)
                                    and s.live is self.live and s.label == label
                                    and s.example == worst.example)
        if screen is None:
            self.push_screen(DocumentScreen(self.live, label, worst.example, worst.position,
                                            reference=self.reference_label))
        else:
            screen.move_to(worst.position)

    def action_toggle_x_axis(self) -> None:
        chart = self.query_one(BatchLossChart)
        chart.toggle_x_axis()
        chart.replot(self.live)

    def action_next_theme(self) -> None:
        if not self._theme_names:
            return
        current = self._theme_names.index(self.theme) if self.theme in self._theme_names else -1
        self.theme = self._theme_names[(current + 1) % len(self._theme_names)]
        self.query_one(BatchLossChart).replot(self.live)  # the label colors are the theme's
        self.notify(f"theme: {self.theme}", timeout=3)

    def action_save_svg(self) -> None:
        path = self.save_screenshot(path=str(Path.cwd()))
        self.notify(f"screenshot saved: {path}")

    def action_toggle_help(self) -> None:
        """The help screen for the screen on top (`?` there closes it)."""
        self.push_screen(HelpScreen(self.screen))

    async def action_quit(self) -> None:
        """Textual's ctrl+q: the same clean stop as q."""
        self.action_quit_app()

    def action_quit_app(self) -> None:
        self.stop_worker()
        self.exit(0)

    def stop_worker(self, wait_s: float = STOP_WAIT_S) -> bool:
        """Cancel and wait for the scoring thread; True if it has ended."""
        worker = self.worker_thread
        if worker is None:
            return True
        if worker.is_alive():
            worker.cancel()
            worker.join(wait_s)
        return not worker.is_alive()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette lists every key action once, with the binding's description:
        ours replace Textual's theme picker, quit, key panel and screenshot."""
        ours = {"Theme", "Quit", "Keys", "Screenshot"}
        yield from (command for command in super().get_system_commands(screen)
                    if command.title not in ours)
        for binding in self.BINDINGS:
            if binding.action.startswith("activate("):
                continue  # one entry per label below, by its name, not #1 to #9
            if self.check_action(binding.action, ()) is False:
                continue
            yield SystemCommand(binding.description, binding.tooltip,
                                partial(self.run_action, binding.action))
        for number, label in enumerate(self.live.labels, 1):
            name = self.name_of(label)
            yield SystemCommand(f"Activate {name}",
                                f"Make {name} (#{number}) active in every pane",
                                partial(self.action_activate, number))

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

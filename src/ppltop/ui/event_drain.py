"""The one channel from the scoring thread: the UI timer drains the `EventBuffer`, folds
every event into the run (the split) it is of, and redraws once; and, for a run scored by
another process, the check that its writer is alive.

A mixin of `PplTopApp`.
"""

from __future__ import annotations

import time

from ..core.store.events import LabelAdded, Notice, SplitStarted
from ..core.store.run_liveness import state_of
from ..view import process_memory
from .screens.checkpoint_screen import CheckpointScreen
from .screens.comparison_screen import ComparisonScreen
from .screens.error_screen import ErrorScreen
from .screens.groups_screen import GroupsScreen
from .screens.viewer_screen import ViewerScreen
from .widgets.event_log import EventLog
from .widgets.ppl_panel import PplPanel

COMPARE_EVERY_S = 2.0
"""While a run goes on, the comparison view's bootstrap is redone at most this often."""


class EventDrain:
    """Folds the drained events into the App's `runs` and redraws."""

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
            self.names.reference = None
            self.query_one(PplPanel).reset_split()
            log = self.query_one(EventLog)
            log.show(list(before.log), before.log_total)  # the split before, to its end
            log.next_run()
        self.runs.live.apply(Notice("info", f"{event.title} ({event.index + 1} of "
                                            f"{event.count})"))  # each part's log says which
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
        if self.names.active is None or self.names.active == self._newest_label:
            self.names.active = labels[-1]
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

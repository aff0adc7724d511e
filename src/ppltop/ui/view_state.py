"""The dashboard's one view state, `LabelNames` (the reference, the active label and the
display names), and the messages that change it: screens post `view_messages`, the App
alone applies them and redraws what shows them.

A mixin of `PplTopApp`: message handlers have to be the App's own.
"""

from __future__ import annotations

from .view_messages import LabelActivated, LabelRenamed, ReferenceChosen
from .widgets.ppl_panel import PplPanel


class ViewState:
    """The App's `names` (a `LabelNames`), read by every pane and changed here only."""

    @property
    def aliases(self) -> dict[str, str]:
        """Display names given in the comparison view (the dict the panes hold)."""
        return self.names.aliases

    @property
    def reference_label(self) -> str | None:
        """The label comparisons are made against: the one chosen with `f`, else the run's
        own (`LiveRun.reference`: a watch's follows its checkpoints as they come)."""
        return self.names.reference or self.live.reference

    def name_of(self, label: str) -> str:
        """The name `label` is shown by (renamed in the comparison view, else itself)."""
        return self.names.shown(label)

    @property
    def active_label(self) -> str | None:
        """The label the PPL panel, viewer and document view show: the one chosen, while
        it is among the labels of the run on screen, else the first."""
        if self.names.active in self.live.labels:
            return self.names.active
        return next(iter(self.live.labels), None)

    def set_active_label(self, label: str) -> None:
        """Make `label` the one the PPL panel, viewer and document view show."""
        self.names.active = label
        self.query_one(PplPanel).show(self.live, bool(self.worker_thread
                                                      and self.worker_thread.paused))
        self.show_title()

    def on_reference_chosen(self, message: ReferenceChosen) -> None:
        self.names.reference = message.label

    def on_label_activated(self, message: LabelActivated) -> None:
        self.set_active_label(message.label)

    def on_label_renamed(self, message: LabelRenamed) -> None:
        """Rename, then redraw the panes and the screens of this run that name labels."""
        refused = self.names.rename(message.label, message.shown_as, self.live.labels)
        if refused is not None:  # the input refuses a taken name before it gets here
            self.notify(refused, severity="warning")
            return
        self._redraw()
        for screen in self.screen_stack:
            if getattr(screen, "live", None) is self.live and hasattr(screen, "names_changed"):
                screen.names_changed()

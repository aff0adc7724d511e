"""The dashboard's header: the run, the active label and the split in the title, and the
run's state (loading, running, paused, finished, error) after it.

A mixin of `PplTopApp`.
"""

from __future__ import annotations

from ..view.screen_title import screen_title


class RunStatus:
    """The App's title and sub-title, set only when they change (SSH bytes)."""

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
        at = list(runs.by_split()).index(shown) + 1
        return f"{runs.part_title(shown)} ({at} of {runs.count}): {text}"

"""A screen whose figures (bootstraps, breakdowns, the checkpoint curve) are computed in a
worker thread, never on the UI thread: the screen asks for a `FigureJob`, the one figures
worker runs it and posts `FiguresReady`, and the screen draws what came back.

The newest request wins: asked while a job computes, a job waits for it, replacing any job
waiting before it, and only the figures of the newest job asked are drawn. A thread cannot
be stopped part-way, so one at a time is what keeps bootstraps of a long run, asked every
two seconds, from piling up in threads.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.worker import get_current_worker

from ...view.figures import FigureJob


class FiguresReady(Message):
    """The figures of `job`, computed in the worker (`error`: why there are none)."""

    def __init__(self, job: FigureJob, figures: Any, error: str | None = None) -> None:
        super().__init__()
        self.job = job
        self.figures = figures
        self.error = error


class FiguresScreen(Screen):
    """Asks for its figures with `ask` and draws them in `draw_figures` (to override)."""

    COMPUTING = "computing…"
    """What a screen says until its first figures arrive."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._asked: tuple | None = None
        self._drawn: tuple | None = None
        self._computing = False
        self._waiting: FigureJob | None = None
        """The newest job asked while another computes: it runs next."""

    @property
    def figures_pending(self) -> bool:
        """True from a request until its figures are drawn (tests wait on this)."""
        return self._asked != self._drawn

    def ask(self, job: FigureJob) -> None:
        """Compute `job`'s figures in the worker, unless they are those asked for last (or
        the screen is closed)."""
        if job.key == self._asked or not self.is_attached:
            return
        self._asked = job.key
        if self._computing:
            self._waiting = job
            return
        self._computing = True
        self._compute(job)

    @work(thread=True, exclusive=True, group="figures", exit_on_error=False)
    def _compute(self, job: FigureJob) -> None:
        try:
            figures, error = job.compute(), None
        except Exception as e:  # noqa: BLE001 (shown on screen: the dashboard goes on)
            figures, error = None, f"{type(e).__name__}: {e}"
        if not get_current_worker().is_cancelled:
            self.post_message(FiguresReady(job, figures, error))

    def on_figures_ready(self, message: FiguresReady) -> None:
        message.stop()
        self._computing = False
        if self._waiting is not None:
            job, self._waiting = self._waiting, None
            self._computing = True
            self._compute(job)
        if message.job.key != self._asked:
            return  # a newer request is on its way
        self._drawn = message.job.key
        if not self.is_attached:
            return  # closed while its figures were computed: nothing to draw
        if message.error is not None:
            self.notify(f"figures: {message.error}", severity="error")
            return
        try:
            self.draw_figures(message.figures)
        except NoMatches:  # closed as they arrived: its widgets are gone
            pass

    def draw_figures(self, figures: Any) -> None:
        raise NotImplementedError

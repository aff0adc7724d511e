"""The App's control of the scoring thread: pause, cancel, and the clean stops (q, ctrl+c,
SIGINT, SIGTERM, SIGHUP), each finishing and writing the batch in flight.

A mixin of `PplTopApp`: the actions have to be the App's own for its bindings.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from dataclasses import replace

from ..hangup import silence_terminal
from .widgets.ppl_panel import PplPanel

STOP_WAIT_S = 5.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Signals that stop the dashboard cleanly: the batch in flight is finished and written."""
PAUSE_BINDING = "ppltop.pause"
"""The id of `p`'s binding, whose word in the footer says what it does now."""
HANGUP_EXIT_S = 5.0
"""After SIGHUP, leave at the latest this long after scoring has stopped: Textual's output
thread may have died writing to the closed terminal, and its full queue would then block the
shutdown forever."""


class ScoringControl:
    """Pause, cancel and stop the `worker_thread` of the App it is mixed into."""

    _signals: list

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
        self._name_pause_key(worker.paused)

    def _name_pause_key(self, paused: bool) -> None:
        """`p` says Resume while paused, Pause otherwise (footer, help, palette). The App's
        own binding is replaced, under the same id and key, so a key map still moves it."""
        word = "Resume" if paused else "Pause"
        bindings = self._bindings.key_to_bindings
        for key, found in bindings.items():
            bindings[key] = [replace(b, description=word) if b.id == PAUSE_BINDING else b
                             for b in found]
        self.screen.refresh_bindings()

    def action_cancel_run(self) -> None:
        worker = self.worker_thread
        if worker is not None and worker.is_alive():
            worker.cancel()  # a paused run resumes to end
            self._name_pause_key(False)
            self.notify("cancelling after this batch; the figures so far stay")

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

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        self._signals = []

"""How a run stops: the words of a stopped run, the same headless and in the dashboard (how
to continue it, what a stop by each signal says at once), and `StopPolicy`, what each signal
does to any run set scored headless (a run, splits, a watch) and to the ranks."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path


def resume_hint(run_dir: Path | None) -> str:
    """What a stopped run's last line adds: how to continue it (nothing without a run
    directory to resume: `ppltop open` only followed one)."""
    if run_dir is None:
        return ""
    return (f"; the run directory keeps every finished batch; continue with: ppltop resume "
            f"{run_dir}")


def stop_words(signum: int) -> str:
    """What a stop's first line says in brackets: only Ctrl-C has a second press that quits
    at once; SIGTERM and SIGHUP are named."""
    return "Ctrl-C again to quit now" if signum == signal.SIGINT else signal.Signals(signum).name


class StopPolicy:
    """What a signal does to work scored headless in this process, the one policy of every
    run set (`headless_run.run_headless`): the first SIGINT, SIGTERM or SIGHUP asks `stop`
    (the batch in flight ends first) and `say`s so; a second SIGINT quits at once
    (KeyboardInterrupt); SIGHUP first points a gone terminal at /dev/null (files and pipes
    keep the figures); a SIGHUP ignored when the process starts (nohup) stays ignored.

    A context manager: the handlers are in place inside the `with`, the previous ones
    after it."""

    def __init__(self, stop: Callable[[], None], say: Callable[[int], None]):
        self.stop = stop
        self.say = say
        self.received: list[int] = []
        """The signals received, in order."""
        self._previous: dict = {}

    @property
    def stopped_by(self) -> str | None:
        """The name of the signal that stopped it (`SIGHUP`); None: no signal came."""
        return signal.Signals(self.received[0]).name if self.received else None

    @property
    def hung_up(self) -> bool:
        """The terminal went away: nobody chose to stop, the work was cut off."""
        return signal.SIGHUP in self.received

    def __enter__(self) -> StopPolicy:
        stops = [signal.SIGINT, signal.SIGTERM]
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # under nohup: keep it so
            stops.append(signal.SIGHUP)
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in stops}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _on_signal(self, signum: int, frame) -> None:
        self.received.append(signum)
        if len(self.received) > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop()
        if signum == signal.SIGHUP:
            from ..hangup import silence_terminal

            silence_terminal()
        self.say(signum)

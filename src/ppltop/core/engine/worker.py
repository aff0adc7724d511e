"""Run the scoring loop in a thread of its own, with its own MLX stream.

MLX streams belong to the thread that made them: a loop run off the main thread without
its own stream fails with "There is no Stream(cpu, 0) in current thread". The worker
hands every event to one callback; pause and cancel take effect between batches: a batch
yields one BatchScored per label, and a pause waits until the last label's has gone out, so
every model/adapter stops at the same batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..store.events import BatchScored, Event, Resumed


class ScoringWorker(threading.Thread):
    """Iterate `make_events()` in a daemon thread; deliver events to `on_event`.

    `on_error(exc)` receives any exception the loop raises (out of memory, bad input);
    events already delivered stay delivered.
    """

    def __init__(self, make_events: Callable[[], Iterator[Event]],
                 on_event: Callable[[Event], None],
                 on_error: Callable[[BaseException], None] | None = None,
                 request_stop: Callable[[], None] | None = None,
                 device: Any = None, name: str = "ppltop-scoring"):
        super().__init__(name=name, daemon=True)
        self._make_events = make_events
        self._on_event = on_event
        self._on_error = on_error
        self._device = device
        self._request_stop = request_stop
        self._running = threading.Event()
        self._running.set()
        self._cancel = threading.Event()
        self._holding = threading.Event()
        self.error: BaseException | None = None

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def holding(self) -> bool:
        """Paused and waiting between batches: nothing more is scored until `resume`."""
        return self._holding.is_set()

    def cancel(self) -> None:
        """Stop after the batch in flight; with `request_stop`, the loop still ends
        with its own (partial) final event."""
        self._cancel.set()
        if self._request_stop is not None:
            self._request_stop()
        self._running.set()

    def run(self) -> None:
        import mlx.core as mx

        stream = mx.new_stream(self._device or mx.default_device())
        try:
            with mx.stream(stream):
                events = self._make_events()
                try:
                    for event in events:
                        self._on_event(event)
                        if not _mid_batch(event) and self.paused:
                            since = time.monotonic()
                            self._holding.set()
                            self._running.wait()
                            self._holding.clear()
                            self._on_event(Resumed(time.monotonic() - since))
                        if self._cancel.is_set() and self._request_stop is None:
                            break
                finally:
                    close = getattr(events, "close", None)  # generators; plain iterators too
                    if close is not None:
                        close()
        except BaseException as exc:  # reported, never raised into a dead thread
            self.error = exc
            if self._on_error is not None:
                self._on_error(exc)


def _mid_batch(event: Event) -> bool:
    """True after a label's BatchScored when labels of the same batch (in this pass) are
    still to come: a pause there would stop the base model a batch ahead of its adapters."""
    return isinstance(event, BatchScored) and not event.closes_batch

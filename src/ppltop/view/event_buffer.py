"""One locked buffer between the scoring thread and the UI: put from any thread, drain in one.

The UI drains it on a timer, so however fast batches arrive the screen redraws at a bounded
rate, and no event is ever dropped: a slow UI gets them all at its next tick.
"""

from __future__ import annotations

import threading
from typing import Any


class EventBuffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Any] = []
        self.total = 0
        """Events ever put, for tests and the log."""

    def put(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)
            self.total += 1

    @property
    def pending(self) -> int:
        """Events put and not drained yet."""
        with self._lock:
            return len(self._items)

    def drain(self) -> list[Any]:
        """Everything put since the last drain, in order."""
        with self._lock:
            items, self._items = self._items, []
        return items

"""Waits on a condition, never a fixed sleep: poll a predicate until it holds or time runs
out, in a plain test (`wait_until`) or under Pilot (`pilot_until`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 60, what: str = "the condition",
               interval: float = 0.05) -> T:
    """Poll `condition()` until it returns something true, and return that; fail the test
    after `timeout` seconds, naming `what` it waited for."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(interval)
    return value


async def pilot_until(pilot, condition: Callable[[], object], timeout: float = 120.0,
                      what: str = "the condition") -> None:
    """`wait_until` under Pilot: the app runs its messages between two looks, and once the
    condition holds the pending ones are processed (the screen is up to date)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        await pilot.pause(0.05)
    await pilot.pause()

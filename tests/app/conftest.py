"""Fixtures of the app tests."""

from __future__ import annotations

import pytest

from ppltop.view import process_memory

FIXED_MEMORY = process_memory.MemoryUse(3 << 30, 1536 << 20)


@pytest.fixture
def fixed_memory(monkeypatch):
    """The process's memory is a reading, like a clock: fixed so that snapshots match (a
    snapshot module uses it with `pytestmark = pytest.mark.usefixtures("fixed_memory")`)."""
    monkeypatch.setattr(process_memory, "sample", lambda: FIXED_MEMORY)

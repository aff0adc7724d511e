"""The report's page, read for the tests that do not need a browser."""

from __future__ import annotations

from pathlib import Path


def open_report(path: Path) -> str:
    """The page's text (the fixture `demo_run` in tests/conftest.py writes one)."""
    return Path(path).read_text(encoding="utf-8")

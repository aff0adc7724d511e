"""Where things are: the checkout, the test data, and a scratch folder for subprocesses."""

from __future__ import annotations

import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The checkout (pyproject.toml, README.md, src/)."""

DATA = ROOT / "tests" / "data"

REAL_DATA = DATA / "real"
"""Hand-written test sets for the real model: text, chat, completions, zh-text, zh-chat."""

SCRATCH = Path(tempfile.mkdtemp(prefix="ppltop-tests-"))
"""Working folder of CLI subprocesses, so default run directories stay out of the repo."""

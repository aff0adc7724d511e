"""The command line calls the runners, the runners the printer and the core, never back:
the import-linter contract in pyproject.toml, checked when import-linter is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter not installed")
def test_no_layer_imports_one_above_it():
    proc = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]

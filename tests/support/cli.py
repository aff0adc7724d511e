"""The real command line in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.paths import SCRATCH


def run_ppltop(*args: str, cwd: Path | None = None, env: dict | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real command line in a subprocess (stdout is a pipe, so it is headless)."""
    return subprocess.run([sys.executable, "-m", "ppltop", *args], capture_output=True,
                          text=True, cwd=cwd or SCRATCH, timeout=timeout,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})

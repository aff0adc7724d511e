"""The memory a scoring process uses, as a monitor shows it: MLX's peak allocation (weights
included) and the process's resident size now.

Textual-free; the dashboard samples it on its timer while it scores the run itself, and the
PPL pane shows `segments()` next to tokens/s.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from ..core.model.memory import human, process_peak


@dataclass(frozen=True)
class MemoryUse:
    peak_bytes: int | None
    """MLX's peak allocation since the process started (None: MLX not loaded)."""
    process_bytes: int | None
    """Resident set size of the process now (None: not known on this system)."""

    def segments(self) -> list[str]:
        """`MLX peak 1.2 GiB` and `process 800.0 MiB`, those that are known."""
        out = []
        if self.peak_bytes is not None:
            out.append(f"MLX peak {human(self.peak_bytes)}")
        if self.process_bytes is not None:
            out.append(f"process {human(self.process_bytes)}")
        return out


def _resident_bytes() -> int | None:
    """RSS from /proc (Linux), else the peak RSS getrusage reports (macOS: bytes)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def sample() -> MemoryUse:
    """This process's memory now; MLX's peak only if MLX is already imported (sampling
    never loads it)."""
    try:
        peak = process_peak()
    except (AttributeError, RuntimeError):
        peak = None
    return MemoryUse(peak, _resident_bytes())

"""`ppltop report RUN_DIR`: the run directory as one HTML page (see `ppltop.report`)."""

from __future__ import annotations

from pathlib import Path


def write_report(run_dir: Path, output: Path | None, *, label: str | None,
                 examples: list[int], worst: int, theme: str | None) -> int:
    """Write the page (`output`, default RUN_DIR/report.html) and say where it is."""
    from ..report import ReportLimits
    from ..report import write_report as write

    out = output or Path(run_dir) / "report.html"
    written = write(run_dir, out, label=label, examples=examples,
                    limits=ReportLimits(worst_documents=worst), theme=theme)
    size = written.stat().st_size
    print(f"ppltop: report written: {written} ({size / 1e6:.1f} MB); open it in a browser")
    return 0

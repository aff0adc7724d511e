"""`ppltop report RUN_DIR`: the run directory as one HTML page (see `ppltop.report`)."""

from __future__ import annotations

from pathlib import Path


def write_report(args) -> int:
    from ..report import ReportLimits
    from ..report import write_report as write

    out = args.output or Path(args.run_dir) / "report.html"
    written = write(args.run_dir, out, label=args.label, examples=args.examples,
                    limits=ReportLimits(worst_documents=args.worst), theme=args.theme)
    size = written.stat().st_size
    print(f"ppltop: report written: {written} ({size / 1e6:.1f} MB); open it in a browser")
    return 0

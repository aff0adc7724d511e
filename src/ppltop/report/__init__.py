"""The HTML report of a run: one self-contained page to share (no external requests).

`write_report(run_dir, out)` reads a run directory as `ppltop open` does, applies its
events to the dashboard's own view model, and writes a page that shows the core's objects
(summaries, comparisons, worst lists, documents); it computes no figure of its own. No
textual, no rich (an import-linter contract).
"""

from __future__ import annotations

from .gather import ReportLimits, RunReport, read_report_run, report_of_events
from .page import render_page, write_page, write_report

__all__ = ["ReportLimits", "RunReport", "read_report_run", "render_page", "report_of_events",
           "write_page", "write_report"]

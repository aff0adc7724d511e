"""`ppltop report RUN_DIR`: the run set in RUN_DIR as HTML pages (see `ppltop.report`),
read as `ppltop open` reads it (`run_set.read_back`): one run, or a watch's checkpoints as
one run, is one page; a run over splits or several tokenizers is one page per part, each
reported as the run of its own it is (`ppltop report RUN_DIR/<part>`)."""

from __future__ import annotations

from pathlib import Path


def write_report(run_dir: Path, output: Path | None, *, label: str | None,
                 examples: list[int], worst: int, theme: str | None) -> int:
    """Write the page (`output`, default RUN_DIR/report.html), or a run over splits' pages
    (`output` with `-<split>` before its suffix, default RUN_DIR/<split>/report.html), and
    say where each is."""
    from ..core.errors import InputError
    from ..core.store.records import SplitsRecord, TokenizersRecord
    from ..core.store.run_dir import parts_of, read_run_set
    from ..report import ReportLimits, report_of_events, write_page
    from ..report.theme import DEFAULT, page_colors
    from .request import RunRequest
    from .run_set import read_back

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such run directory; give a folder `ppltop runs` "
                         "lists")
    colors = page_colors(theme or DEFAULT)  # a wrong --theme fails before the run is read
    limits = ReportLimits(worst_documents=worst)
    record = read_run_set(run_dir)
    if isinstance(record, SplitsRecord | TokenizersRecord):  # a page per part
        parts = [(run_dir / split, _split_page(run_dir, output, split))
                 for split in parts_of(run_dir, record)]
    else:
        parts = [(run_dir, output or run_dir / "report.html")]
    reports = []
    for part, out in parts:
        opened = read_back(RunRequest(command="open", run_dir=part, follow=False))
        reports.append((report_of_events(part, opened.manifest, opened.config, opened.events,
                                         label, examples, None), out))
    if isinstance(record, TokenizersRecord):
        _link_tokenizer_pages(record, reports)
    for report, out in reports:
        written = write_page(report, out, limits, colors)
        size = written.stat().st_size
        print(f"ppltop: report written: {written} ({size / 1e6:.1f} MB); open it in a "
              "browser")
    return 0


def _link_tokenizer_pages(record, reports: list) -> None:
    """Each part's page of a run over several tokenizers carries the table across the
    parts (the printout's rows) and links to the other parts' pages."""
    import os

    from .across_parts import tokenizer_rows

    finished = {report.path.name: report.live.finished for report, _ in reports}
    rows = tokenizer_rows(record, finished)
    for report, out in reports:
        report.across = rows
        report.part_pages = {
            other.path.name: "" if other is report else
            Path(os.path.relpath(other_out, Path(out).parent)).as_posix()
            for other, other_out in reports}


def _split_page(run_dir: Path, output: Path | None, split: str) -> Path:
    if output is None:
        return run_dir / split / "report.html"
    output = Path(output)
    return output.with_name(f"{output.stem}-{split}{output.suffix}")

"""`ppltop report RUN_DIR` of a run set, read as `ppltop open` reads it: a watch is one
page of the merged run (every checkpoint a label), a run over splits one page per split
(each split the run of its own it is); each page's figures are those of `ppltop open
RUN_DIR --headless --json`, to the digit (issue #22). Real runs of the demo model."""

from __future__ import annotations

import html
import json
import re

import pytest

from support.cli import run_ppltop
from support.watch import SCORE, checkpoint_folder, run_watch


def summary_row(page: str, label: str) -> dict[str, object]:
    """The figures of `label`'s row of the page's summary table (its first row of it)."""
    row = re.search(rf'<tr[^>]*data-label="{re.escape(html.escape(label))}"[^>]*>(.*?)</tr>',
                    page, re.DOTALL)
    assert row, f"no row of {label}"
    return {field: json.loads(html.unescape(value)) for field, value in
            re.findall(r'data-field="([^"]+)" data-value="([^"]*)"', row.group(1))}


def assert_page_shows(page: str, runs: list[dict]) -> None:
    for run in runs:
        shown = summary_row(page, run["label"])
        assert f'<th scope="row">{html.escape(run["label"])}</th>' in page
        for field in ("loss", "ppl", "tokens", "examples"):
            assert shown[field] == run[field], (run["label"], field)


def opened_json(run_dir, tmp_path) -> dict:
    out = tmp_path / "open.json"
    opened = run_ppltop("open", str(run_dir), "--headless", "--json", str(out))
    assert opened.returncode == 0, opened.stderr
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return checkpoint_folder(tmp_path_factory.mktemp("report-run-sets"))


def test_a_watch_is_one_page_of_all_its_checkpoints(folder, tmp_path):
    run_dir = tmp_path / "w"
    status, _, err = run_watch(folder, run_dir)
    assert status == 0, err
    written = run_ppltop("report", str(run_dir))
    assert written.returncode == 0, written.stderr
    assert written.stdout.count("ppltop: report written:") == 1
    runs = opened_json(run_dir, tmp_path)["runs"]
    assert [r["label"] for r in runs] == ["base", "run1@100", "run1@200"]
    assert_page_shows((run_dir / "report.html").read_text(), runs)


def test_a_run_over_splits_is_one_page_per_split(folder, tmp_path):
    run_dir = tmp_path / "s"
    scored = run_ppltop(*SCORE, "--adapter-path", str(folder), "--checkpoints", "--split",
                        "valid,test", "--headless", "--run-dir", str(run_dir))
    assert scored.returncode == 0, scored.stderr
    out = tmp_path / "page.html"
    written = run_ppltop("report", str(run_dir), "-o", str(out))
    assert written.returncode == 0, written.stderr
    by_split = opened_json(run_dir, tmp_path)["by_split"]
    assert list(by_split) == ["valid", "test"]
    for split in by_split:
        page = (tmp_path / f"page-{split}.html").read_text()
        assert f"page-{split}.html" in written.stdout
        assert f"<dt>split</dt><dd>{split}</dd>" in page
        assert f"<dt>run directory</dt><dd>{run_dir / split}</dd>" in page
        assert_page_shows(page, by_split[split]["runs"])
    assert written.stdout.count("ppltop: report written:") == 2

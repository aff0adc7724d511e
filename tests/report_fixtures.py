"""A demo run with two adapters, scored once per test session for the report's tests:
its run directory, its `--json` and its HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_ppltop
from ppltop import demo


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("report")
    run = folder / "run"
    out = run_ppltop("--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR),
                     "--adapter-path", str(demo.ADAPTER_DIRS["docs-net"]),
                     "--adapter-path", str(demo.ADAPTER_DIRS["docs-math"]), "--headless",
                     "--json", str(folder / "out.json"), "--run-dir", str(run))
    assert out.returncode == 0, out.stderr
    page = folder / "report.html"
    made = run_ppltop("report", str(run), "-o", str(page))
    assert made.returncode == 0, made.stderr
    assert f"report written: {page}" in made.stdout
    return {"folder": folder, "run": run, "page": page,
            "json": json.loads((folder / "out.json").read_text())}


def open_report(path: Path):
    """The page's text, for the tests that do not need a browser."""
    return Path(path).read_text(encoding="utf-8")

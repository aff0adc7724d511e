"""The command line calls the runners, the runners the printer and the core, never back:
the import-linter contract in pyproject.toml, checked when import-linter is installed."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from support.paths import ROOT


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter not installed")
def test_no_layer_imports_one_above_it():
    proc = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_no_import_cycle_in_src():
    """No module imports, directly or not, a module that imports it back."""
    grimp = pytest.importorskip("grimp")  # installed with import-linter
    graph = grimp.build_graph("ppltop")
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back and not imported.startswith(module + ".") \
                    and not module.startswith(imported + "."):
                cycles.append(" -> ".join((module, *back)))
    assert not cycles, "\n".join(cycles[:10])

"""The core must import without textual or rich: it runs headless and in other processes."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys

import ppltop.core
import ppltop.view

_CHECK = ("import sys; [__import__(m) for m in sys.argv[1:]]; "
          "print(','.join(m for m in ('textual', 'rich') if m in sys.modules))")


def textual_free_modules() -> list[str]:
    """Every module of the core and of the view models, in every sub-package."""
    found = []
    for package in (ppltop.core, ppltop.view):
        found += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    return sorted(found)


def _imports_ui(*modules: str) -> str:
    out = subprocess.run([sys.executable, "-c", _CHECK, *modules], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "PPLTOP_BLAS": "bundled"})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_every_core_module_imports_without_textual_or_rich():
    modules = textual_free_modules()
    assert {"ppltop.core.engine.evaluation", "ppltop.core.store.run_dir",
            "ppltop.view.live"} <= set(modules) and len(modules) >= 30
    if _imports_ui(*modules):  # name the culprit, one fresh interpreter per module
        culprits = [m for m in modules if _imports_ui(m)]
        raise AssertionError(f"{', '.join(culprits)} pull in textual or rich")


def test_blas_and_cli_do_not_import_mlx_before_the_blas_is_chosen():
    code = ("import sys, ppltop.cli, ppltop.core.model.blas, ppltop.core.errors; "
            "print('mlx.core' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr

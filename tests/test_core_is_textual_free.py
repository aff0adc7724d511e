"""The core must import without textual or rich: it runs headless and in other processes."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys

import ppltop.core


def core_modules() -> list[str]:
    return sorted(f"ppltop.core.{m.name}" for m in pkgutil.iter_modules(ppltop.core.__path__))


def test_every_core_module_imports_without_textual_or_rich():
    modules = core_modules()
    assert "ppltop.core.engine.evaluation" in modules and len(modules) >= 8
    for module in modules:
        code = (f"import sys, {module}; "
                "bad = [m for m in ('textual', 'rich') if m in sys.modules]; "
                "print(','.join(bad))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120, env={**os.environ, "PPLTOP_BLAS": "bundled"})
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "", f"{module} pulls in {out.stdout.strip()}"


def test_blas_and_cli_do_not_import_mlx_before_the_blas_is_chosen():
    code = ("import sys, ppltop.cli, ppltop.core.model.blas, ppltop.core.errors; "
            "print('mlx.core' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr

"""Fixtures of the engine tests: two ranks of `mlx.launch` on loopback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from support.distributed import LAUNCH, launch
from support.paths import SCRATCH


@pytest.fixture(scope="module")
def ring_backend():
    """Skip (with the reason) only if two ranks cannot start and all_sum on loopback."""
    if not LAUNCH.exists():
        pytest.skip(f"no mlx.launch next to {sys.executable}")
    probe = SCRATCH / "ring_probe.py"
    probe.write_text("import mlx.core as mx\n"
                     "g = mx.distributed.init(strict=True, backend='ring')\n"
                     "x = mx.distributed.all_sum(mx.array([g.rank() + 1.0]), stream=mx.cpu)\n"
                     "print('sum', x.item(), 'size', g.size())\n")
    try:
        out = launch(sys.executable, str(probe), cwd=SCRATCH, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.skip("the ring backend did not start on loopback within 60 s")
    if out.stdout.count("sum 3.0 size 2") != 2:
        pytest.skip(f"the ring backend cannot start here: {(out.stdout + out.stderr)[-500:]}")

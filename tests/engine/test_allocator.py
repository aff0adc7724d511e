"""glibc keeps the large buffers a batch frees: the next batch's reuse them, no page faults."""

from __future__ import annotations

import subprocess
import sys

import pytest

FAULTS = r"""
import resource, sys
import numpy as np
from ppltop.core.model import allocator
if sys.argv[1] == "keep":
    assert allocator.keep_freed_buffers()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
x = np.ones(22_000_000, np.float32); del x  # 88 MB: a batch's logits on the real model
before = faults()
for _ in range(5):
    x = np.ones(22_000_000, np.float32); del x
print((faults() - before) // 5)
"""


def _faults_per_buffer(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_freed_large_buffer_is_reused_without_faulting_its_pages_in_again():
    assert _faults_per_buffer("plain") > 100  # mapped afresh, every time
    assert _faults_per_buffer("keep") < 10

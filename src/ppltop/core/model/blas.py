"""Find a fast BLAS for MLX's Linux CPU backend and load it before MLX is imported.

The `mlx-cpu` wheel links the reference netlib BLAS, whose float32 GEMM runs at a few
GFLOP/s. MLX resolves `cblas_sgemm` through the global symbol scope, so a library that
exports the standard CBLAS symbols and is loaded with RTLD_GLOBAL *before* `mlx.core` is
first imported takes over every matmul. A candidate can crash the process that loads it
(an OpenBLAS built for AVX-512 dies with SIGILL elsewhere), so each candidate is first
probed in a child process that loads it, multiplies, and checks the product.

This module must not import mlx at module level.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import allocator

ENV_VAR = "PPLTOP_BLAS"
"""Environment variable: `auto` (default), `bundled` (opt out), or a library path."""

PROBE_TIMEOUT_S = 60

# The child loads the candidate, multiplies in MLX, and checks against a float64 numpy product.
_PROBE_SCRIPT = r"""
import ctypes, json, sys, time
ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)
import numpy as np
import mlx.core as mx
rng = np.random.default_rng(0)
a = rng.standard_normal((512, 512), dtype=np.float32)
b = rng.standard_normal((512, 512), dtype=np.float32)
got = np.array(mx.array(a) @ mx.array(b))
want = a.astype(np.float64) @ b.astype(np.float64)
err = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
n = 1024
x = mx.random.normal((n, n)); y = mx.random.normal((n, n))
mx.eval(x @ y)
dt = float("inf")
for _ in range(12):  # the best of several: a shared machine's neighbours only slow it
    t = time.perf_counter()
    mx.eval(x @ y)
    dt = min(dt, time.perf_counter() - t)
print(json.dumps({"rel_err": err, "gflops": 2 * n ** 3 / dt / 1e9}))
"""


@dataclass(frozen=True)
class BlasChoice:
    """The BLAS in use and how it was chosen, for the config pane and the manifest."""

    name: str
    """Short name: `mkl`, `openblas`, `bundled`, or `accelerate` on macOS."""
    path: str | None
    """The library loaded with RTLD_GLOBAL, or None when MLX's own BLAS is used."""
    gflops: float | None
    """float32 GEMM rate measured by the probe (1024x1024), if probed."""
    notice: str | None
    """One line to show the user, e.g. why the fast path is not in use."""
    passed_over: str = ""
    """The other usable libraries `auto` measured, slower: `openblas 142 GFLOP/s`."""

    def describe(self) -> str:
        rate = f", {self.gflops:.0f} GFLOP/s" if self.gflops else ""
        over = f"; faster than {self.passed_over}" if self.passed_over else ""
        return f"{self.name}{rate}{over}" + (f" ({self.path})" if self.path else "")

    def short(self) -> str:
        return self.name + (f" {self.gflops:.0f} GFLOP/s" if self.gflops else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_chosen: BlasChoice | None = None


def candidate_libraries() -> list[Path]:
    """Libraries exporting standard CBLAS symbols, best first."""
    found: list[Path] = []
    # Intel oneMKL from PyPI (`pip install ppltop[fast-cpu]`) installs into <prefix>/lib.
    for prefix in dict.fromkeys([sys.prefix, sys.base_prefix]):
        found += sorted(Path(p) for p in glob.glob(os.path.join(prefix, "lib", "libmkl_rt.so*")))
    # A system OpenBLAS (Debian: libopenblas0-pthread).
    name = ctypes.util.find_library("openblas")
    if name:
        found.append(Path(name))
    for pattern in (
        "/usr/lib/*-linux-gnu/libopenblas.so.0",
        "/usr/lib/*-linux-gnu/openblas-pthread/libopenblas.so.0",
        "/usr/lib64/libopenblas.so.0",
    ):
        found += [Path(p) for p in sorted(glob.glob(pattern))]
    return _one_path_per_library(found)


def _one_path_per_library(found: list[Path]) -> list[Path]:
    """Each library once: Debian reaches one OpenBLAS by several links, and each would be
    probed (seconds each) and listed as if it were another library. A bare name from
    find_library is kept only when no path found has that file name."""
    files: dict[str, Path] = {}
    for path in found:
        if path.is_absolute():
            files.setdefault(os.path.realpath(path), path)
        elif not any(p.is_absolute() and p.name == path.name for p in found):
            files.setdefault(str(path), path)
    return list(files.values())


def _cache_file() -> Path:
    from platformdirs import user_cache_dir

    # "-2": the probe takes the best of 12 products (it took the mean of 3, which swung
    # by 20% on a shared machine and flipped the choice): older measures are not reused
    return Path(user_cache_dir("ppltop")) / "blas-probe-2.json"


def _cache_key(path: Path) -> str:
    try:
        resolved = path.resolve()
        st = resolved.stat()
        stamp = f"{st.st_size}:{int(st.st_mtime)}"
    except OSError:
        resolved, stamp = path, "?"
    return f"{resolved}|{stamp}|{sys.executable}"


def probe(path: Path, timeout_s: float = PROBE_TIMEOUT_S) -> tuple[bool, float | None, str]:
    """Load `path` into a child process and check an MLX matmul there.

    Returns (usable, gflops, reason). Never raises and never loads the library here.
    """
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE_SCRIPT, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env={**os.environ, ENV_VAR: "bundled"},
        )
    except subprocess.TimeoutExpired:
        return False, None, f"probe timed out after {timeout_s:.0f}s"
    if proc.returncode != 0:
        if proc.returncode < 0:
            return False, None, f"probe killed by signal {-proc.returncode}"
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return False, None, f"probe failed: {last[:160]}"
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return False, None, "probe printed no result"
    if not result["rel_err"] < 1e-4:
        return False, None, f"wrong results (relative error {result['rel_err']:.2g})"
    return True, float(result["gflops"]), "ok"


def _probe_cached(path: Path) -> tuple[bool, float | None, str]:
    cache_path = _cache_file()
    key = _cache_key(path)
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        ok, gflops, reason = cache[key]
        return ok, gflops, reason
    ok, gflops, reason = probe(path)
    cache[key] = [ok, gflops, reason]
    try:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(cache, indent=1))
    except OSError:
        pass  # a read-only home only costs a probe per start
    return ok, gflops, reason


def _name_of(path: Path) -> str:
    stem = path.name.lower()
    if "mkl" in stem:
        return "mkl"
    if "openblas" in stem:
        return "openblas"
    return path.name


def select(mode: str | None = None) -> BlasChoice:
    """Choose and load the BLAS. Call once, before anything imports `mlx.core`.

    Args:
        mode: `auto`, `bundled`, or a path to a CBLAS library; defaults to $PPLTOP_BLAS.
    """
    global _chosen
    if _chosen is not None:
        return _chosen
    allocator.keep_freed_buffers()  # the other half of the CPU path's setup, as early
    mode = (mode or os.environ.get(ENV_VAR) or "auto").strip()
    _chosen = _select(mode)
    return _chosen


def _select(mode: str) -> BlasChoice:
    if sys.platform == "darwin":
        return BlasChoice("accelerate", None, None, None)
    if mode == "bundled":
        return BlasChoice("bundled", None, None, None)
    if mode == "auto":
        candidates, explicit = candidate_libraries(), False
    else:
        path = Path(mode).expanduser()
        if not path.exists():
            return BlasChoice(
                "bundled", None, None, f"BLAS: {ENV_VAR}/--blas path {path} does not exist; "
                "using MLX's bundled reference BLAS (slow)"
            )
        candidates, explicit = [path], True
    if "mlx.core" in sys.modules:
        return BlasChoice(
            "bundled", None, None, "BLAS: mlx was imported before ppltop could load a fast BLAS"
        )
    measured = [(path, *(probe(path) if explicit else _probe_cached(path)))
                for path in candidates]
    chosen = fastest(measured)
    if chosen is not None:
        if chosen.name == "openblas":
            _short_spin()
        ctypes.CDLL(str(chosen.path), mode=ctypes.RTLD_GLOBAL)
        return chosen
    reasons = [f"{path.name}: {reason}" for path, _, _, reason in measured]
    why = "; ".join(reasons) if reasons else "no MKL or OpenBLAS found"
    return BlasChoice(
        "bundled",
        None,
        None,
        f"BLAS: using MLX's bundled reference BLAS, which is slow ({why}). "
        'Install the fast path with: pip install "ppltop[fast-cpu]"',
    )


SPIN_2_POW = "4"
"""OPENBLAS_THREAD_TIMEOUT: OpenBLAS's idle threads spin 2**n cycles before they sleep."""


def _short_spin() -> None:
    """Put OpenBLAS's idle threads to sleep at once (unless the user chose otherwise); read
    when the library loads. By default they spin about 0.1 s after every matmul, calling
    sched_yield, while the attention, SwiGLU and statistics run in numpy threads beside
    them: on 2 cores a profile of a real-model run found 14% of the CPU in that spin, and
    the run took 7% longer than with the spin cut (whose wake-ups cost microseconds
    against matmuls of milliseconds)."""
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", SPIN_2_POW)


def fastest(measured: list[tuple[Path, bool, float | None, str]]) -> BlasChoice | None:
    """Of the probed libraries (path, usable, GFLOP/s, reason), the usable one with the
    highest measured rate (the first on a tie); None when none is usable."""
    usable = [(path, gflops or 0.0) for path, ok, gflops, _ in measured if ok]
    if not usable:
        return None
    best = max(usable, key=lambda item: item[1])  # max keeps the first of equals
    others = ", ".join(f"{_name_of(path)} {rate:.0f} GFLOP/s" for path, rate in usable
                       if path != best[0])
    return BlasChoice(_name_of(best[0]), str(best[0]), best[1] or None, None, others)


def current() -> BlasChoice | None:
    """The choice made by `select`, if it ran in this process."""
    return _chosen

"""The fast-BLAS path: probe in a child process, fall back cleanly, same numbers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ppltop.core.model import blas
from support import BLAS

LOGITS = r"""
import json, sys
from ppltop.core.model import blas
choice = blas.select()
import mlx.core as mx, numpy as np
from mlx_lm import load
from ppltop import demo
model, tok = load(str(demo.MODEL_DIR))
ids = tok.encode("Return the number of items in a container.")
logits = model(mx.array([ids]))[0].astype(mx.float32)
print(json.dumps({"blas": choice.name, "logits": np.array(logits).tolist()}))
"""


def logits_with(mode: str) -> tuple[str, np.ndarray]:
    out = subprocess.run([sys.executable, "-c", LOGITS], capture_output=True, text=True,
                         timeout=300, env={**os.environ, blas.ENV_VAR: mode})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["blas"], np.array(result["logits"])


@pytest.mark.skipif(sys.platform != "linux", reason="the BLAS swap is for Linux CPU wheels")
def test_fast_blas_gives_the_reference_results():
    if not blas.candidate_libraries():
        pytest.skip("no MKL or OpenBLAS on this machine")
    name_fast, fast = logits_with("auto")
    name_ref, ref = logits_with("bundled")
    assert name_ref == "bundled" and name_fast in ("mkl", "openblas")
    np.testing.assert_allclose(fast, ref, rtol=1e-4, atol=1e-4)


def test_probe_accepts_a_real_blas():
    if not blas.candidate_libraries():
        pytest.skip("no MKL or OpenBLAS on this machine")
    ok, gflops, reason = blas.probe(blas.candidate_libraries()[0])
    assert ok, reason
    assert gflops > 0


def test_probe_rejects_a_library_without_cblas(tmp_path):
    fake = tmp_path / "libfake.so"
    fake.write_text("not a library")
    ok, _, reason = blas.probe(fake)
    assert not ok and "probe failed" in reason


@pytest.mark.skipif(shutil.which("cc") is None,
                    reason="needs a C compiler to build the crashing library")
def test_probe_survives_a_library_that_kills_its_process(tmp_path):
    """An OpenBLAS built for the wrong CPU dies with SIGILL; ppltop must not."""
    src = tmp_path / "crash.c"
    src.write_text("#include <signal.h>\n__attribute__((constructor)) static void boom(void)"
                   " { raise(SIGILL); }\nvoid cblas_sgemm(void) {}\n")
    lib = tmp_path / "libcrash.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    ok, _, reason = blas.probe(lib)
    assert not ok and reason == "probe killed by signal 4"
    # the command line falls back to the bundled BLAS with a one-line notice, and still runs
    proc = subprocess.run([sys.executable, "-m", "ppltop", "--blas", str(lib), "--headless",
                           "--test-batches", "1", "--no-base"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    notices = [ln for ln in proc.stderr.splitlines() if "BLAS" in ln]
    assert notices and "using MLX's bundled reference BLAS" in notices[0]


def test_opt_out_and_missing_path():
    assert blas._select("bundled").name == "bundled"
    missing = blas._select("/no/such/libblas.so")
    assert missing.name == "bundled" and "does not exist" in missing.notice


def test_the_choice_is_recorded():
    assert blas.current() is BLAS
    assert BLAS.describe().startswith(BLAS.name)


def test_auto_takes_the_fastest_usable_library_and_says_which_it_passed_over(tmp_path):
    mkl, openblas, broken = (tmp_path / "libmkl_rt.so.2", tmp_path / "libopenblas.so.0",
                             tmp_path / "libopenblas64.so")
    chosen = blas.fastest([(mkl, True, 142.0, "ok"), (openblas, True, 184.0, "ok"),
                           (broken, False, None, "probe failed")])
    assert (chosen.name, chosen.path, chosen.gflops) == ("openblas", str(openblas), 184.0)
    assert chosen.passed_over == "mkl 142 GFLOP/s"
    assert "openblas, 184 GFLOP/s; faster than mkl 142 GFLOP/s" in chosen.describe()
    alone = blas.fastest([(mkl, True, 142.0, "ok")])
    assert alone.passed_over == "" and "faster than" not in alone.describe()
    assert blas.fastest([(broken, False, None, "probe failed")]) is None


def test_a_library_reached_by_several_links_is_one_candidate(tmp_path):
    """Debian reaches one OpenBLAS as libopenblas.so.0 in two folders and by find_library's
    bare name: one probe and one entry in the BLAS line, not three."""
    real = tmp_path / "openblas-pthread" / "libopenblasp-r0.3.21.so"
    real.parent.mkdir()
    real.write_bytes(b"")
    (tmp_path / "libopenblas.so.0").symlink_to(real)
    (real.parent / "libopenblas.so.0").symlink_to(real)
    other = tmp_path / "libmkl_rt.so.3"
    other.write_bytes(b"")
    found = [other, Path("libopenblas.so.0"), tmp_path / "libopenblas.so.0",
             real.parent / "libopenblas.so.0"]
    assert blas._one_path_per_library(found) == [other, tmp_path / "libopenblas.so.0"]
    # a bare name no path stands for is kept: the loader may find it where the globs do not
    assert blas._one_path_per_library([other, Path("libblis.so.4")]) == \
        [other, Path("libblis.so.4")]


SPIN = r"""
import json, os, sys
from ppltop.core.model import blas
choice = blas.select(sys.argv[1])
print(json.dumps({"blas": choice.name, "timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT")}))
"""


@pytest.mark.parametrize("user_value", [None, "28"])
def test_openblas_threads_sleep_at_once_unless_the_user_says(user_value):
    """Loading OpenBLAS sets its idle threads' spin to 2**4 cycles (they spun 0.1 s after
    every matmul, beside the numpy threads); a value the user set is theirs."""
    openblas = [p for p in blas.candidate_libraries() if blas._name_of(p) == "openblas"]
    if not openblas:
        pytest.skip("no OpenBLAS on this machine")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if user_value:
        env["OPENBLAS_THREAD_TIMEOUT"] = user_value
    out = subprocess.run([sys.executable, "-c", SPIN, str(openblas[0])], capture_output=True,
                         text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"blas": "openblas", "timeout": user_value or blas.SPIN_2_POW}

"""ppltop against `mlx_lm.lora --test`, side by side in one run, on the same model and data.

Alternates the contenders over several rounds (to cancel drift on a shared machine) and
prints medians and ratios:
  1. `mlx_lm.lora --test --test-batches -1`, exactly as a user runs it;
  2. `ppltop --headless` with all per-token statistics;
  3. `ppltop --headless --loss-only`;
  3b. `ppltop --headless` with mlx-lm's figure from ppltop's own log-probs
      (`PPLTOP_MLX_LM_EXACT=0`): the cost of computing it exactly as mlx-lm does;
  4. the dashboard in a pseudo-terminal at 120x40;
plus the time to the first scored batch, per-token storage, and the forward pass's FLOPs per
token against the machine's float32 GEMM peak.

    python benchmarks/bench_scoring.py                      # the demo model, 3 rounds
    python benchmarks/bench_scoring.py --synthetic          # 8 layers, hidden 512, vocab 32k
    python benchmarks/bench_scoring.py --synthetic --vocab 262144 --precision
    python benchmarks/bench_scoring.py --model M --data D   # any model folder and data
    python benchmarks/bench_scoring.py --blas bundled       # the stock wheel's BLAS
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import re
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def blas_env(mode: str) -> dict:
    """Environment for a child: ppltop's own choice via PPLTOP_BLAS, and LD_PRELOAD of the
    same library for mlx_lm.lora (which has no such option), so both use one BLAS."""
    env = {**os.environ, "PPLTOP_BLAS": mode}
    env.pop("LD_PRELOAD", None)
    if mode != "bundled":
        sys.path.insert(0, str(ROOT / "src"))
        from ppltop.core.model import blas

        found = blas.candidate_libraries()
        if mode == "auto" and found:
            env["LD_PRELOAD"] = str(found[0])
        elif mode not in ("auto", "bundled"):
            env["LD_PRELOAD"] = mode
    return env


def timed(cmd: list[str], env: dict, first_marker: re.Pattern | None) -> dict:
    """Wall time, time to the first line matching `first_marker` on stderr, peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=tempfile.mkdtemp())
    first = None
    err = []
    pending = ""
    # tqdm (mlx_lm.lora's progress) ends its updates with \r, not \n: read raw chunks
    for raw in iter(lambda: os.read(proc.stderr.fileno(), 65536), b""):
        text = raw.decode(errors="replace")
        err.append(text)
        pending = (pending + text)[-4096:]
        if first is None and first_marker is not None and first_marker.search(pending):
            first = time.perf_counter() - start
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{''.join(err)[-2000:]}")
    rss = usage.ru_maxrss / 1024
    return {"wall": wall, "first": first, "stdout": out, "stderr": "".join(err), "rss_mb": rss}


def dashboard_time(args: list[str], env: dict) -> float:
    """The dashboard in a 120x40 pty: seconds until it exits after the run finishes."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(tempfile.mkdtemp())
        os.environ.clear()
        os.environ.update({**env, "TERM": "xterm-256color"})
        os.execv(sys.executable, [sys.executable, "-m", "ppltop", *args])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    start = time.perf_counter()
    seen = b""
    finished = None
    while time.perf_counter() - start < 3600:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            seen = (seen + chunk)[-4096:]
            if finished is None and b"finished" in seen:
                finished = time.perf_counter() - start
                os.write(fd, b"q")
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            break
        if done:
            break
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    return finished if finished is not None else float("nan")


def tokens_scored(stdout: str) -> int:
    m = re.search(r"ppltop figure: .*\n\s+[\d.]+ bits/token, [\d.]+ bits/byte, ([\d,]+) tokens",
                  stdout)
    return int(m.group(1).replace(",", "")) if m else 0


def mlx_lm_tokens(stdout: str) -> int:
    m = re.search(r"mlx-lm figure: .*\(([\d,]+) targets", stdout)
    return int(m.group(1).replace(",", "")) if m else 0


def make_synthetic(folder: Path, vocab: int = 32000) -> Path:
    """8 layers, hidden 512, vocabulary `vocab` (32k), random weights; the demo's tokenizer."""
    sys.path.insert(0, str(ROOT / "src"))
    from ppltop import demo

    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_type": "llama", "hidden_size": 512, "num_hidden_layers": 8,
              "intermediate_size": 1536, "num_attention_heads": 8, "num_key_value_heads": 8,
              "rms_norm_eps": 1e-5, "vocab_size": vocab, "tie_word_embeddings": False,
              "rope_theta": 10000.0, "max_position_embeddings": 4096}
    (folder / "config.json").write_text(json.dumps(config))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (demo.MODEL_DIR / name).exists():
            shutil.copy(demo.MODEL_DIR / name, folder / name)
    code = (
        "import json, sys, mlx.core as mx\n"
        "from mlx.utils import tree_flatten\n"
        "from mlx_lm.models.llama import Model, ModelArgs\n"
        "mx.random.seed(0)\n"
        f"m = Model(ModelArgs.from_dict(json.load(open('{folder}/config.json'))))\n"
        f"mx.save_safetensors('{folder}/model.safetensors', dict(tree_flatten(m.parameters())))\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    return folder


def model_flops_per_token(model: Path, context: float) -> float:
    """2 x (matmul parameters) + attention's 4 x layers x hidden x context (QK^T and AV)."""
    cfg = json.loads((model / "config.json").read_text())
    h, layers, inter = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    heads, kv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    head_dim = cfg.get("head_dim", h // heads)
    attn = h * heads * head_dim * 2 + h * kv * head_dim * 2
    mlp = 3 * h * inter
    head = h * cfg["vocab_size"]
    return 2 * (layers * (attn + mlp) + head) + 4 * layers * heads * head_dim * context


def gemm_peak(env: dict) -> float:
    code = ("import time, mlx.core as mx\n"
            "n=2048; a=mx.random.normal((n,n)); b=mx.random.normal((n,n)); mx.eval(a@b)\n"
            "t=time.perf_counter()\n"
            "for _ in range(5): mx.eval(a@b)\n"
            "print(2*n**3*5/(time.perf_counter()-t)/1e9)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return float(out.stdout.strip())


def padding(stderr: str) -> str:
    m = re.search(r"\(padding ([^)]*)\)", stderr)
    return m.group(1) if m else "?"


def summary_loss(stdout: str) -> float:
    m = re.search(r"ppltop figure: loss ([\d.]+)", stdout)
    return float(m.group(1)) if m else float("nan")


def converted(model: Path, **kw) -> Path:
    """A copy of `model` converted by mlx-lm (quantized, or cast to another dtype)."""
    from mlx_lm import convert

    out = Path(tempfile.mkdtemp()) / "converted"
    convert(str(model), mlx_path=str(out), **kw)
    return out


def precision_rounds(model: Path, common: list[str], rounds: int, env: dict) -> None:
    """Quantized (4-bit) and bfloat16 copies of `model`, scored as stored and as ppltop
    does by default on the CPU backend (dequantized, float32)."""
    cases = [("4-bit quantized", converted(model, quantize=True, q_bits=4, q_group_size=64),
              ["--dequantize", "off", "--dtype", "model"], []),
             ("bfloat16", converted(model, dtype="bfloat16"), ["--dtype", "model"], [])]
    print()
    print(f"{'model copy':<18}{'as stored s':>12}{'ppltop default s':>18}{'speedup':>9}"
          f"{'loss as stored':>16}{'loss default':>14}")
    for name, copy, stored_flags, default_flags in cases:
        walls = {"stored": [], "default": []}
        losses = {}
        # quantized matmuls as stored run ~45x slower on the CPU backend: 2 batches suffice
        base = [a if a != str(model) else str(copy) for a in common] + ["--test-batches", "2"]
        for _ in range(rounds):
            for key, flags in (("stored", stored_flags), ("default", default_flags)):
                r = timed([sys.executable, "-m", "ppltop", *base, "--headless", *flags,
                           "--run-dir", str(Path(tempfile.mkdtemp()) / "run")], env, None)
                walls[key].append(r["wall"])
                losses[key] = summary_loss(r["stdout"])
        a, b = statistics.median(walls["stored"]), statistics.median(walls["default"])
        print(f"{name:<18}{a:>12.2f}{b:>18.2f}{a / b:>8.1f}x{losses['stored']:>16.5f}"
              f"{losses['default']:>14.5f}")


def labelled_runs(common: list[str], adapter: Path | None) -> dict[str, list[str]]:
    """ppltop's flags for the several-label rows: base + 2 adapters, and base + a curve of 4
    checkpoints, made from copies of `adapter` (the same cost as distinct weights)."""
    if adapter is None:
        return {}
    folder = Path(tempfile.mkdtemp())
    for name in ("a1", "a2"):
        shutil.copytree(adapter, folder / name)
    curve = folder / "curve"
    curve.mkdir()
    shutil.copy(adapter / "adapter_config.json", curve)
    for step in (10, 20, 30, 40):
        shutil.copy(adapter / "adapters.safetensors", curve / f"{step:07d}_adapters.safetensors")
    base = [c for c in common if c not in ("--no-base",)]
    base = base[:base.index("--adapter-path")] if "--adapter-path" in base else base
    return {"three": [*base, "--adapter-path", str(folder / "a1"), "--adapter-path",
                      str(folder / "a2")],
            "curve": [*base, "--adapter-path", str(curve), "--checkpoints"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path)
    p.add_argument("--data", type=Path)
    p.add_argument("--synthetic", action="store_true")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--adapter-path", type=Path, default=None,
                   help="adapter scored by both (default: the demo's docs-net with the demo)")
    p.add_argument("--blas", default="auto", help="auto (fast BLAS if found) or bundled")
    p.add_argument("--no-dashboard", action="store_true")
    p.add_argument("--vocab", type=int, default=32000, help="vocabulary of --synthetic")
    p.add_argument("--precision", action="store_true",
                   help="also time 4-bit and bfloat16 copies, as stored vs dequantized/float32")
    args = p.parse_args()

    sys.path.insert(0, str(ROOT / "src"))
    from ppltop import demo

    data = args.data or demo.DATA_DIR
    model = args.model or demo.MODEL_DIR
    if args.synthetic:
        model = make_synthetic(Path(tempfile.mkdtemp()) / "synthetic", args.vocab)
    env = blas_env(args.blas)
    common = ["--model", str(model), "--data", str(data), "--batch-size", str(args.batch_size)]
    adapter = args.adapter_path or (demo.ADAPTER_DIRS["docs-net"] if model == demo.MODEL_DIR
                                    else None)
    # mlx_lm.lora --test needs an adapter path ("" scores the bare model); ppltop scores
    # the same single model (--no-base with an adapter)
    theirs = [*common, "--adapter-path", str(adapter) if adapter else ""]
    if adapter:
        common += ["--adapter-path", str(adapter), "--no-base"]
    progress = re.compile(r"(?m)^\[1/")
    labels_common = labelled_runs(common, adapter)
    runs = {"mlx_lm": [], "ppltop": [], "loss_only": [], "approx": [], "mlx_exp": [],
            "dashboard": [], **{key: [] for key in labels_common}}
    first = {"mlx_lm": [], "ppltop": [], "dashboard": []}
    outputs = {}
    for round_no in range(args.rounds):
        r = timed([sys.executable, "-m", "mlx_lm", "lora", *theirs, "--test",
                   "--test-batches", "-1"], env, re.compile(r"Calculating loss[^\r\n]*\s1/"))
        runs["mlx_lm"].append(r["wall"])
        first["mlx_lm"].append(r["first"])
        outputs["mlx_lm"] = r
        run_dir = Path(tempfile.mkdtemp()) / "run"
        r = timed([sys.executable, "-m", "ppltop", *common, "--headless",
                   "--run-dir", str(run_dir)], env, progress)
        runs["ppltop"].append(r["wall"])
        first["ppltop"].append(r["first"])
        outputs["ppltop"] = r
        outputs["run_dir"] = run_dir
        r = timed([sys.executable, "-m", "ppltop", *common, "--headless", "--loss-only",
                   "--run-dir", str(Path(tempfile.mkdtemp()) / "run")], env, progress)
        runs["loss_only"].append(r["wall"])
        r = timed([sys.executable, "-m", "ppltop", *common, "--headless",
                   "--run-dir", str(Path(tempfile.mkdtemp()) / "run")],
                  {**env, "PPLTOP_MLX_LM_EXACT": "0"}, progress)
        runs["approx"].append(r["wall"])
        r = timed([sys.executable, "-m", "ppltop", *common, "--headless",
                   "--run-dir", str(Path(tempfile.mkdtemp()) / "run")],
                  {**env, "PPLTOP_CPU_KERNELS": "mlx"}, progress)
        runs["mlx_exp"].append(r["wall"])
        for key, flags in labels_common.items():
            r = timed([sys.executable, "-m", "ppltop", *flags, "--headless",
                       "--run-dir", str(Path(tempfile.mkdtemp()) / "run")], env, progress)
            runs[key].append(r["wall"])
            outputs[key] = r
        if not args.no_dashboard:
            runs["dashboard"].append(dashboard_time(
                [*common, "--run-dir", str(Path(tempfile.mkdtemp()) / "run")], env))
        print(f"round {round_no + 1}/{args.rounds}: " + ", ".join(
            f"{k} {v[-1]:.2f}s" for k, v in runs.items() if v), flush=True)

    med = {k: statistics.median(v) for k, v in runs.items() if v}
    n_ppltop = tokens_scored(outputs["ppltop"]["stdout"])
    n_mlx = mlx_lm_tokens(outputs["ppltop"]["stdout"])
    tps = {"mlx_lm": n_mlx / med["mlx_lm"], "ppltop": n_ppltop / med["ppltop"],
           "loss_only": n_ppltop / med["loss_only"], "approx": n_ppltop / med["approx"],
           "mlx_exp": n_ppltop / med["mlx_exp"]}
    if "dashboard" in med:
        tps["dashboard"] = n_ppltop / med["dashboard"]
    stored = sum(f.stat().st_size for f in (outputs["run_dir"] / "results").glob("*.npz"))
    flops = model_flops_per_token(model, context=256)
    peak = gemm_peak(env)
    print()
    print(f"model {model.name}, data {data}, batch size {args.batch_size}, BLAS {args.blas}, "
          f"{args.rounds} rounds (medians), whole process wall time incl. loading")
    print(f"{'contender':<26}{'wall s':>8}{'tokens/s':>11}{'first batch s':>15}")
    for key, name in (("mlx_lm", "mlx_lm.lora --test"), ("ppltop", "ppltop --headless"),
                      ("loss_only", "ppltop --loss-only"),
                      ("approx", "ppltop, mlx-lm fig. approx"),
                      ("mlx_exp", "ppltop, MLX's own exp"),
                      ("dashboard", "ppltop dashboard")):
        if key in med:
            f = first.get(key) or []
            f = [x for x in f if x is not None]
            ttfb = f"{statistics.median(f):.2f}" if f else "–"
            print(f"{name:<26}{med[key]:>8.2f}{tps[key]:>11,.0f}{ttfb:>15}")
    print()
    print(f"ratio ppltop / mlx_lm.lora, tokens per second:     {tps['ppltop'] / tps['mlx_lm']:.2f}")
    print(f"per-token statistics cost over loss-only (time):  "
          f"{med['ppltop'] / med['loss_only'] - 1:+.1%}")
    print(f"exact mlx-lm figure cost over approximate (time): "
          f"{med['ppltop'] / med['approx'] - 1:+.1%}")
    if "dashboard" in med:
        print(f"dashboard cost over headless (time):              "
              f"{med['dashboard'] / med['ppltop'] - 1:+.1%}")
    print(f"CPU kernels (numpy exp) over MLX's own exp (time): "
          f"{med['ppltop'] / med['mlx_exp'] - 1:+.1%}")
    for key, name in (("three", "base + 2 adapters"), ("curve", "base + 4 checkpoints")):
        if key in med:
            shared = re.search(r"shared trunk: [^\n]*", outputs[key]["stderr"])
            print(f"{name}: {med[key] / med['ppltop']:.2f}x the wall time of one label "
                  f"({shared.group(0) if shared else 'no shared trunk'})")
    print(f"per-token storage: {stored / max(n_ppltop, 1):.1f} bytes/token on disk (npz)")
    print(f"forward pass: {flops / 1e6:.1f} MFLOP/token, achieved "
          f"{flops * tps['ppltop'] / 1e9:.1f} GFLOP/s over the whole run; float32 GEMM peak "
          f"{peak:.1f} GFLOP/s; ratio {flops * tps['ppltop'] / 1e9 / peak:.3f}")
    print(f"padding share: ppltop {padding(outputs['ppltop']['stderr'])} "
          "(ppltop's length-sorted batches, then mlx-lm's file-order ones)")
    print(f"peak RSS: mlx_lm.lora {outputs['mlx_lm']['rss_mb']:.0f} MB, "
          f"ppltop {outputs['ppltop']['rss_mb']:.0f} MB")
    if args.precision:
        precision_rounds(model, common, args.rounds, env)


if __name__ == "__main__":
    main()

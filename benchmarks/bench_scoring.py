"""ppltop against `mlx_lm.lora --test`, side by side in one run, on the same model and data.

Alternates the contenders over several rounds (to cancel drift on a shared machine) and
prints medians and ratios:
  1. `mlx_lm.lora --test --test-batches -1`, exactly as a user runs it;
  2. `ppltop --headless` with all per-token statistics;
  3. `ppltop --headless --loss-only`;
  3b. `ppltop --headless` with mlx-lm's figure from ppltop's own log-probs
      (`PPLTOP_MLX_LM_EXACT=0`): the cost of computing it exactly as mlx-lm does;
  4. the dashboard in a pseudo-terminal at 120x40;
  5. several labels: base + 2 adapters and base + a curve of 4 checkpoints, in one ppltop
     run each, against mlx_lm.lora --test run once per label (the walls summed);
  6. `llama-perplexity -c 512 -t 2` on the same text, as an F32 GGUF (dequantized from the
     shipped Q4_1 by llama-quantize) and as the Q4_1 itself, when llama.cpp's binaries are
     given (`--llama-cpp DIR` or PPLTOP_LLAMA_CPP; else the rows say why they are skipped);
plus the time to the first scored batch, per-token storage, and each float32 row's
positions per second as a share of the GEMM limit (float32 GEMM peak / FLOPs per position).

    python benchmarks/bench_scoring.py                      # the demo model, 3 rounds
    python benchmarks/bench_scoring.py --synthetic          # 8 layers, hidden 512, vocab 32k
    python benchmarks/bench_scoring.py --synthetic --vocab 262144 --precision
    python benchmarks/bench_scoring.py --model M --data D   # any model folder and data
    python benchmarks/bench_scoring.py --blas bundled       # the stock wheel's BLAS
    python benchmarks/bench_scoring.py --model M --data D --llama-cpp DIR  # + llama.cpp rows
    python benchmarks/bench_scoring.py --model M --data D --repeat 3      # the test split x3
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
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp  # benchmarks/llama_cpp.py, beside this script

ROOT = Path(__file__).resolve().parent.parent


def blas_env(mode: str) -> dict:
    """Environment for a child: ppltop's own choice via PPLTOP_BLAS, and LD_PRELOAD of the
    same library for mlx_lm.lora (which has no such option), so both use one BLAS."""
    env = {**os.environ, "PPLTOP_BLAS": mode}
    env.pop("LD_PRELOAD", None)
    if mode != "bundled":
        sys.path.insert(0, str(ROOT / "src"))
        from ppltop.core.model import blas

        if mode == "auto":
            # the library ppltop's own `auto` takes (the fastest measured), not merely the
            # first found: a preloaded MKL would win over the OpenBLAS ppltop then loads
            chosen = blas.select("auto").path
            if chosen:
                env["LD_PRELOAD"] = chosen
        else:
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


def model_flops_per_token(model: Path, context: float, head_share: float = 1.0) -> float:
    """2 x (matmul parameters) + attention's 4 x layers x hidden x context (QK^T and AV);
    the output projection on `head_share` of the positions."""
    cfg = json.loads((model / "config.json").read_text())
    h, layers, inter = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", heads)
    head_dim = cfg.get("head_dim", h // heads)
    attn = h * heads * head_dim * 2 + h * kv * head_dim * 2
    mlp = 3 * h * inter
    head = h * cfg["vocab_size"]
    return 2 * (layers * (attn + mlp) + head * head_share) + 4 * layers * heads * head_dim * context


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


@dataclass
class LabelSet:
    """One several-label row: ppltop's flags (all labels in one run) and the adapters
    mlx_lm.lora --test is run with, once each, as a user would (None: the bare model)."""
    ppltop: list[str]
    mlx_lm: list[Path | None]


def labelled_runs(common: list[str], adapter: Path | None) -> dict[str, LabelSet]:
    """Base + 2 adapters, and base + a curve of 4 checkpoints, made from copies of `adapter`
    (the same cost as distinct weights). mlx_lm.lora reads one adapters.safetensors per
    folder, so each checkpoint also gets a folder of its own for it."""
    if adapter is None:
        return {}
    folder = Path(tempfile.mkdtemp())
    for name in ("a1", "a2"):
        shutil.copytree(adapter, folder / name)
    curve = folder / "curve"
    curve.mkdir()
    shutil.copy(adapter / "adapter_config.json", curve)
    singles = []
    for step in (10, 20, 30, 40):
        shutil.copy(adapter / "adapters.safetensors", curve / f"{step:07d}_adapters.safetensors")
        singles.append(folder / f"checkpoint-{step}")
        shutil.copytree(adapter, singles[-1])
    base = bare(common)
    return {"three": LabelSet([*base, "--adapter-path", str(folder / "a1"), "--adapter-path",
                               str(folder / "a2")], [None, folder / "a1", folder / "a2"]),
            "curve": LabelSet([*base, "--adapter-path", str(curve), "--checkpoints"],
                              [None, *singles])}


def second_model(base: list[str], second: Path) -> list[str]:
    """The base model's flags with `second` in its place."""
    at = base.index("--model") + 1
    return [*base[:at], str(second), *base[at + 1:]]


def bare(common: list[str]) -> list[str]:
    """ppltop's flags without the adapter: the base model alone."""
    base = [c for c in common if c != "--no-base"]
    return base[:base.index("--adapter-path")] if "--adapter-path" in base else base


PROGRESS = re.compile(r"(?m)^\[1/")
MLX_LM_FIRST = re.compile(r"Calculating loss[^\r\n]*\s1/")


class Bench:
    """Every row's wall times (one a round), times to the first batch, and last output."""

    def __init__(self, env: dict, only: set[str] | None = None):
        self.env = env
        self.only = only
        """The rows to run (`--only`); None: all of them."""
        self.walls: dict[str, list[float]] = {}
        self.first: dict[str, list[float]] = {}
        self.outputs: dict[str, dict] = {}
        self.skipped: dict[str, str] = {}

    def note(self, key: str, result: dict) -> None:
        self.walls.setdefault(key, []).append(result["wall"])
        if result.get("first") is not None:
            self.first.setdefault(key, []).append(result["first"])
        self.outputs[key] = result

    def wanted(self, key: str) -> bool:
        return self.only is None or key in self.only

    def ppltop(self, key: str, flags: list[str], extra_env: dict | None = None) -> None:
        if not self.wanted(key):
            return
        run_dir = Path(tempfile.mkdtemp()) / "run"
        r = timed([sys.executable, "-m", "ppltop", *flags, "--headless", "--run-dir",
                   str(run_dir)], {**self.env, **(extra_env or {})}, PROGRESS)
        self.note(key, {**r, "run_dir": run_dir})

    def mlx_lm(self, key: str, common: list[str], adapters: list[Path | None]) -> None:
        """mlx_lm.lora --test once per label: the walls summed, the first run's first batch."""
        if not self.wanted(key):
            return
        results = [timed([sys.executable, "-m", "mlx_lm", "lora", *common, "--adapter-path",
                          str(a) if a else "", "--test", "--test-batches", "-1"], self.env,
                         MLX_LM_FIRST) for a in adapters]
        self.note(key, {**results[0], "wall": sum(r["wall"] for r in results)})

    def llama(self, key: str, cmd: list[str]) -> None:
        """One llama-perplexity run; a failure becomes the row's reason, not the end."""
        if not self.wanted(key):
            return
        env = {k: v for k, v in self.env.items() if k != "LD_PRELOAD"}  # its own CPU code
        try:
            r = timed(cmd, env, None)
        except SystemExit as failed:
            self.skipped[key] = str(failed).splitlines()[-1][:200]
            return
        parsed = llama_cpp.parse_output(r["stdout"] + r["stderr"])
        if parsed is None:
            self.skipped[key] = "llama-perplexity printed no chunk count"
            return
        self.note(key, {**r, "first": None, "llama": parsed})

    def median(self, key: str) -> float | None:
        return statistics.median(self.walls[key]) if self.walls.get(key) else None

    def first_median(self, key: str) -> float | None:
        return statistics.median(self.first[key]) if self.first.get(key) else None


@dataclass
class Plan:
    """What every round runs."""
    model: Path
    common: list[str]
    theirs: list[str]
    adapter: Path | None
    labels: dict[str, LabelSet]
    llama: dict[str, list[str]] = field(default_factory=dict)
    llama_skip: str = ""
    dashboard: bool = True
    second: Path | None = None
    """--second-model: a model of the same tokenizer, scored alone and with --model in one run."""


def llama_rows(args, model: Path, data: Path) -> tuple[dict[str, list[str]], str]:
    """llama-perplexity's commands for the F32 and the shipped Q4_1 GGUF, or why none."""
    binaries, why = llama_cpp.find_binaries(args.llama_cpp or os.environ.get(llama_cpp.ENV_VAR))
    if binaries is None:
        return {}, why
    gguf, why = llama_cpp.shipped_gguf(model, args.gguf)
    if gguf is None:
        return {}, why
    try:
        f32 = llama_cpp.f32_copy(binaries["llama-quantize"], gguf)
    except RuntimeError as failed:
        return {}, str(failed)
    text = llama_cpp.write_raw_text(data, Path(tempfile.mkdtemp()) / "test.raw")
    run = binaries["llama-perplexity"]
    return {"llama_f32": llama_cpp.perplexity_cmd(run, f32, text, LLAMA_CONTEXT, args.threads),
            "llama_q4_1": llama_cpp.perplexity_cmd(run, gguf, text, LLAMA_CONTEXT,
                                                   args.threads)}, ""


LLAMA_CONTEXT = 512


def one_round(bench: Bench, plan: Plan) -> None:
    """Every contender once, in a fixed order (the rounds alternate them)."""
    bench.mlx_lm("mlx_lm", bare(plan.theirs), [plan.adapter])
    bench.ppltop("ppltop", plan.common)
    if plan.adapter is not None and (plan.llama or plan.second):
        bench.ppltop("base", bare(plan.common))  # the weights llama-perplexity scores
    if plan.second is not None:
        bench.ppltop("second", [*second_model(bare(plan.common), plan.second)])
        bench.ppltop("two_models", [*bare(plan.common), "--model", str(plan.second)])
    bench.ppltop("loss_only", [*plan.common, "--loss-only"])
    bench.ppltop("approx", plan.common, {"PPLTOP_MLX_LM_EXACT": "0"})
    bench.ppltop("mlx_exp", plan.common, {"PPLTOP_CPU_KERNELS": "mlx"})
    for key, labels in plan.labels.items():
        bench.mlx_lm(f"mlx_lm_{key}", bare(plan.theirs), labels.mlx_lm)
        bench.ppltop(key, labels.ppltop)
    for key, cmd in plan.llama.items():
        bench.llama(key, cmd)
    if plan.dashboard and bench.wanted("dashboard"):
        wall = dashboard_time([*plan.common, "--run-dir", str(Path(tempfile.mkdtemp()) / "run")],
                              bench.env)
        bench.note("dashboard", {"wall": wall, "first": None})


# key, name, labels a run scores, whose target count; every row is whole processes
ROWS = (("mlx_lm", "mlx_lm.lora --test", 1, "mlx_lm"),
        ("ppltop", "ppltop --headless", 1, "ppltop"),
        ("base", "ppltop, base model alone", 1, "ppltop"),
        ("loss_only", "ppltop --loss-only", 1, "ppltop"),
        ("approx", "ppltop, mlx-lm fig. approx", 1, "ppltop"),
        ("mlx_exp", "ppltop, MLX's own exp", 1, "ppltop"),
        ("dashboard", "ppltop dashboard", 1, "ppltop"),
        ("mlx_lm_three", "mlx_lm.lora --test x3", 3, "mlx_lm"),
        ("three", "ppltop base + 2 adapters", 3, "ppltop"),
        ("mlx_lm_curve", "mlx_lm.lora --test x5", 5, "mlx_lm"),
        ("curve", "ppltop base + 4 checkpoints", 5, "ppltop"),
        ("second", "ppltop, --second-model alone", 1, "ppltop"),
        ("two_models", "ppltop both models, one run", 2, "ppltop"),
        ("llama_f32", "llama-perplexity F32", 1, "llama"),
        ("llama_q4_1", "llama-perplexity Q4_1", 1, "llama"))
# float32 dense rows of one label, whose FLOPs the GEMM peak bounds
GEMM_ROWS = {"mlx_lm", "ppltop", "base", "loss_only", "approx", "mlx_exp", "dashboard",
             "llama_f32"}


def row_figures(bench: Bench, key: str, labels: int, whose: str, counts: dict) -> dict:
    """Wall, targets (all labels), targets and model positions per second of wall time.
    ppltop and mlx_lm run the model on one position per target; llama-perplexity runs
    whole chunks and scores their second halves."""
    wall = bench.median(key)
    parsed = bench.outputs[key].get("llama")
    targets = parsed["targets"] if parsed else counts[whose] * labels
    positions = parsed["positions"] if parsed else targets
    return {"wall": wall, "targets": targets, "tps": targets / wall,
            "pps": positions / wall, "first": bench.first_median(key)}


def flops_per_position(model: Path, key: str) -> float:
    """llama-perplexity: mean context n_ctx/2, logits of half the positions; the others:
    context 256 and logits everywhere (ppltop computes them on target rows only: all)."""
    if key.startswith("llama"):
        return model_flops_per_token(model, LLAMA_CONTEXT / 2, head_share=0.5)
    return model_flops_per_token(model, 256)


def print_table(bench: Bench, plan: Plan, counts: dict, peak: float) -> dict:
    """The side-by-side table; returns each measured row's figures."""
    print(f"{'contender':<29}{'runs':>5}{'wall s':>8}{'targets':>9}{'targets/s':>11}"
          f"{'positions/s':>13}{'first batch s':>15}{'of GEMM limit':>15}")
    rows = {}
    for key, name, labels, whose in ROWS:
        if bench.median(key) is None:
            continue
        f = rows[key] = row_figures(bench, key, labels, whose, counts)
        runs = len(plan.labels[key[7:]].mlx_lm) if key.startswith("mlx_lm_") else 1
        first = f"{f['first']:.2f}" if f["first"] is not None else "–"
        limit = (f"{f['pps'] / (peak * 1e9 / flops_per_position(plan.model, key)):.1%}"
                 if key in GEMM_ROWS else "–")
        print(f"{name:<29}{runs:>5}{f['wall']:>8.2f}{f['targets']:>9,}{f['tps']:>11,.0f}"
              f"{f['pps']:>13,.0f}{first:>15}{limit:>15}")
    reasons = {plan.llama_skip} if plan.llama_skip else set(bench.skipped.values())
    for reason in sorted(reasons):
        print(f"llama-perplexity rows skipped: {reason}")
    return rows


def print_ratios(bench: Bench, rows: dict) -> None:
    """The ratios the issue asks for, in targets per second of wall time or in wall time."""
    one = rows.get("base", rows["ppltop"])
    if "mlx_lm" in rows:
        print(f"ratio ppltop / mlx_lm.lora, targets/s of wall:      "
              f"{rows['ppltop']['tps'] / rows['mlx_lm']['tps']:.2f}")
    for key, name in (("llama_f32", "F32"), ("llama_q4_1", "Q4_1")):
        if key in rows:
            print(f"ratio ppltop one label / llama-perplexity {name}: targets/s "
                  f"{one['tps'] / rows[key]['tps']:.2f}, positions/s "
                  f"{one['pps'] / rows[key]['pps']:.2f}")
    for key, name in (("three", "3 labels / 1 label"), ("curve", "curve of 5 / 1 label")):
        if key not in rows:
            continue
        shared = re.search(r"shared trunk: [^\n]*", bench.outputs[key]["stderr"])
        print(f"{name}, wall time: ppltop {rows[key]['wall'] / rows['ppltop']['wall']:.2f} "
              f"(ppltop's {shared.group(0) if shared else 'no shared trunk'})")
        theirs = rows.get("mlx_lm_" + key)
        if theirs and "mlx_lm" in rows:
            print(f"  mlx_lm.lora once per label: {theirs['wall'] / rows['mlx_lm']['wall']:.2f}; "
                  f"ppltop {key} / mlx_lm.lora {key}, wall time: "
                  f"{rows[key]['wall'] / theirs['wall']:.2f}")
    if "two_models" in rows and "second" in rows:
        alone = one["wall"] + rows["second"]["wall"]
        print(f"two models in one run / each alone, wall time: "
              f"{rows['two_models']['wall'] / alone:.2f} (target: at most 1.00)")
    own = re.search(r"bits/byte, [^\n]*?([\d,]+) tok/s", bench.outputs["ppltop"]["stdout"])
    parts = [f"ppltop {own.group(1)} targets/s" if own else "ppltop ?"]
    for key in ("llama_f32", "llama_q4_1"):
        if key in rows:
            p = bench.outputs[key]["llama"]
            parts.append(f"{key[6:].upper()} {p['eval_positions'] / p['eval_s']:,.0f} "
                         f"positions/s ({p['targets'] / p['eval_s']:,.0f} targets/s)")
    print("scoring time only, as each tool reports it: " + "; llama-perplexity ".join(parts))


def print_costs(bench: Bench, plan: Plan, n_ppltop: int, peak: float) -> None:
    """What ppltop's options cost, its storage, padding and memory, and the GEMM limit."""
    med = {key: bench.median(key) for key in bench.walls}
    for key, what in (("loss_only", "per-token statistics cost over loss-only (time):  "),
                      ("approx", "exact mlx-lm figure cost over approximate (time): "),
                      ("dashboard", "dashboard cost over headless (time):              "),
                      ("mlx_exp", "CPU kernels (numpy exp) over MLX's own exp (time): ")):
        if key in med:
            ratio = med[key] / med["ppltop"] if key == "dashboard" else med["ppltop"] / med[key]
            print(f"{what}{ratio - 1:+.1%}")
    results = bench.outputs["ppltop"]["run_dir"] / "results"
    stored = sum(f.stat().st_size for f in results.glob("*.npz"))
    print(f"per-token storage: {stored / max(n_ppltop, 1):.1f} bytes/token on disk (npz)")
    flops = flops_per_position(plan.model, "ppltop")
    print(f"GEMM limit: float32 GEMM peak {peak:.1f} GFLOP/s / {flops / 1e6:.1f} MFLOP per "
          f"position = {peak * 1e9 / flops:,.0f} positions/s (attention at context 256; "
          f"llama-perplexity's rows at {LLAMA_CONTEXT // 2}, logits on half the positions)")
    print(f"padding share: ppltop {padding(bench.outputs['ppltop']['stderr'])} "
          "(ppltop's length-sorted batches, then mlx-lm's file-order ones)")
    theirs = bench.outputs.get("mlx_lm")
    mlx_lm_rss = f"{theirs['rss_mb']:.0f} MB" if theirs else "not run"
    print(f"peak RSS: mlx_lm.lora {mlx_lm_rss}, "
          f"ppltop {bench.outputs['ppltop']['rss_mb']:.0f} MB")


def parse_args() -> argparse.Namespace:
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
    p.add_argument("--llama-cpp", default=None,
                   help=f"folder with llama-perplexity and llama-quantize (or {llama_cpp.ENV_VAR})")
    p.add_argument("--gguf", type=Path, default=None,
                   help="the Q4_1 GGUF of the same model (default: *Q4_1*.gguf beside --model)")
    p.add_argument("--threads", type=int, default=2, help="llama-perplexity's -t")
    p.add_argument("--only", default=None,
                   help="comma-separated rows to run (keys of ROWS, e.g. ppltop,llama_f32); "
                        "ppltop always runs")
    p.add_argument("--second-model", type=Path, default=None,
                   help="a model with the same tokenizer (a quantized copy, say): adds its "
                        "run alone and both models in one run (--model twice)")
    p.add_argument("--repeat", type=int, default=1,
                   help="score the data's test split this many times over (longer runs, "
                        "so that loading weighs less; every contender reads the same copy)")
    return p.parse_args()


def repeated(data: Path, times: int) -> Path:
    """`data` itself, or a temporary folder whose test.jsonl holds its records `times`
    times over."""
    if times <= 1:
        return data
    out = Path(tempfile.mkdtemp(prefix="bench-data-"))
    lines = [line for line in (data / "test.jsonl").read_text().splitlines() if line.strip()]
    (out / "test.jsonl").write_text("\n".join(lines * times) + "\n")
    return out


def make_plan(args) -> tuple[Plan, Path, dict]:
    """The model, the flags of every contender, and the children's environment."""
    from ppltop import demo

    # absolute: every child runs in a temporary folder of its own
    data = repeated((args.data or demo.DATA_DIR).resolve(), args.repeat)
    model = (args.model or demo.MODEL_DIR).resolve()
    if args.synthetic:
        model = make_synthetic(Path(tempfile.mkdtemp()) / "synthetic", args.vocab)
    common = ["--model", str(model), "--data", str(data), "--batch-size", str(args.batch_size)]
    adapter = args.adapter_path or (demo.ADAPTER_DIRS["docs-net"] if args.model is None
                                    else None)
    # mlx_lm.lora --test needs an adapter path ("" scores the bare model); ppltop scores
    # the same single model (--no-base with an adapter)
    theirs = [*common, "--adapter-path", str(adapter) if adapter else ""]
    if adapter:
        common += ["--adapter-path", str(adapter), "--no-base"]
    llama, why = llama_rows(args, model, data) if not args.synthetic else ({}, "--synthetic")
    plan = Plan(model, common, theirs, adapter, labelled_runs(common, adapter), llama, why,
                not args.no_dashboard,
                args.second_model.resolve() if args.second_model else None)
    return plan, data, blas_env(args.blas)


def main() -> None:
    args = parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    plan, data, env = make_plan(args)
    only = None if args.only is None else {*args.only.split(","), "ppltop"}
    bench = Bench(env, only)
    for round_no in range(args.rounds):
        one_round(bench, plan)
        print(f"round {round_no + 1}/{args.rounds}: " + ", ".join(
            f"{k} {v[-1]:.2f}s" for k, v in bench.walls.items()), flush=True)
    n_ppltop = tokens_scored(bench.outputs["ppltop"]["stdout"])
    counts = {"ppltop": n_ppltop, "mlx_lm": mlx_lm_tokens(bench.outputs["ppltop"]["stdout"])}
    peak = gemm_peak(env)
    print()
    print(f"model {plan.model.name}, data {data}, batch size {args.batch_size}, BLAS "
          f"{args.blas}, {args.rounds} rounds (medians); every row whole processes, loading "
          "included; targets and positions per second of wall time")
    rows = print_table(bench, plan, counts, peak)
    print()
    print_ratios(bench, rows)
    print_costs(bench, plan, n_ppltop, peak)
    if args.precision:
        precision_rounds(plan.model, plan.common, args.rounds, env)


if __name__ == "__main__":
    main()

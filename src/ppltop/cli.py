"""Command line: parse flags (mirroring `mlx_lm.lora --test`), choose the BLAS, then run.

Nothing here imports mlx at module level: the BLAS must be loaded before `mlx.core` is.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from . import __version__


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str):
        sys.stderr.write(f"ppltop: {message} (see ppltop --help)\n")
        raise SystemExit(2)


def _int_arg(name: str, minimum: int, allow: tuple[int, ...] = (), maximum: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} {text!r}: expected a whole number")
        if value < minimum and value not in allow:
            extra = f" (or {', '.join(map(str, allow))})" if allow else ""
            raise argparse.ArgumentTypeError(f"{name} {value}: must be at least {minimum}{extra}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{name} {value}: must be at most {maximum}")
        return value
    return parse


def _float_arg(name: str, low: float, high: float):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} {text!r}: expected a number")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{name} {value}: must be between {low} and {high}")
        return value
    return parse


def _size_arg(name: str):
    def parse(text: str) -> int:
        from .core.errors import InputError
        from .core.memory import parse_size

        try:
            return parse_size(text, name)
        except InputError as e:
            raise argparse.ArgumentTypeError(str(e))
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="ppltop",
        description="Test loss and perplexity of MLX models and LoRA adapters, token by token. "
        "With no --model/--data, scores the bundled demo model and its two adapters.",
    )
    p.add_argument("--version", action="version", version=f"ppltop {__version__}")
    p.add_argument("--model", type=Path, help="model folder (as mlx_lm.lora --model)")
    p.add_argument("--adapter-path", type=Path, action="append", default=[], dest="adapters",
                   metavar="PATH", help="adapter folder; repeat to compare several")
    p.add_argument("--checkpoints", action="store_true",
                   help="score every *_adapters.safetensors checkpoint in each adapter folder")
    p.add_argument("--no-base", action="store_true",
                   help="with adapters, do not score the base model")
    p.add_argument("--reference", metavar="LABEL", default=None,
                   help="label the others are compared with (default: base, else the first)")
    p.add_argument("--kl", action="store_true",
                   help="per-token KL divergence of each adapter's prediction from the "
                   "reference's, computed on the fly")
    p.add_argument("--data", type=Path, help="folder with train/valid/test.jsonl, or one .jsonl")
    p.add_argument("--split", choices=("test", "valid", "train"), default="test")
    p.add_argument("--batch-size", type=_int_arg("--batch-size", 1), default=4)
    p.add_argument("--max-seq-length", type=_int_arg("--max-seq-length", 2), default=2048)
    p.add_argument("--test-batches", type=_int_arg("--test-batches", 1, (-1,)), default=-1,
                   help="-1: all; N: the N batches mlx_lm.lora --test-batches N scores")
    p.add_argument("--mask-prompt", action="store_true",
                   help="do not score prompt tokens (chat and prompt/completion data)")
    p.add_argument("--seed", type=_int_arg("--seed", 0, maximum=2**32 - 1), default=0,
                   help="as mlx_lm.lora --seed (default 0; numpy's range, 0 to 2**32-1)")
    p.add_argument("--long-sequences", choices=("truncate", "window"), default="truncate",
                   help="truncate at --max-seq-length (as mlx-lm) or score whole in "
                   "overlapping windows (stride half the window)")
    p.add_argument("--loss-only", action="store_true",
                   help="skip per-token statistics (entropy, rank, top-5)")
    p.add_argument("--dequantize", choices=("auto", "on", "off"), default="auto",
                   help="turn quantized layers into float ones before scoring; auto: on the "
                   "CPU backend, when they fit in half the RAM (quantized matmuls are slow there)")
    p.add_argument("--dtype", choices=("auto", "model", "float32"), default="auto",
                   help="compute dtype; auto: float32 on the CPU backend when it fits in half "
                   "the RAM (half-precision matmuls are slow there), the stored dtype on a GPU")
    p.add_argument("--max-memory", type=_size_arg("--max-memory"), default=None,
                   metavar="SIZE", help="peak memory a batch may take, weights included "
                   "(e.g. 8G); larger batches run in micro-batches with the same figures "
                   "(default: 70%% of the RAM, or of the GPU's working set)")
    p.add_argument("--headless", action="store_true",
                   help="no dashboard: progress lines on stderr, figures on stdout")
    p.add_argument("--theme", metavar="NAME", default=None,
                   help="dashboard theme (ppltop-dark, ppltop-light, ppltop-high-contrast, "
                   "ppltop-mono, or a user theme); NO_COLOR picks ppltop-mono")
    p.add_argument("--refresh", type=_float_arg("--refresh", 0.2, 30.0), default=2.0,
                   metavar="HZ", help="dashboard redraws per second at most (default 2)")
    p.add_argument("--csv", type=Path, metavar="FILE",
                   help="write the summary as CSV (one row per model/adapter)")
    p.add_argument("--run-dir", type=Path, metavar="DIR", default=None,
                   help="where the run is written (default: ./ppltop-runs/<time>-<model>)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a run already in --run-dir")
    p.add_argument("--detach", action="store_true",
                   help="score in a background process that survives the terminal; the "
                   "dashboard watches its run directory")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the summary as JSON")
    p.add_argument("--blas", metavar="auto|bundled|PATH", default=None,
                   help="CPU BLAS for MLX on Linux: auto (default: MKL or OpenBLAS if "
                   "found), bundled (MLX's own, slow), or a library path; also $PPLTOP_BLAS")
    return p


def _check_paths(args: argparse.Namespace) -> None:
    from .core.errors import InputError

    if (args.model is None) != (args.data is None):
        missing = "--data" if args.data is None else "--model"
        raise InputError(f"{missing} is missing: give both --model and --data, "
                         "or neither to run the bundled demo")
    for flag, value in (("--json", args.json), ("--csv", args.csv)):
        if value is None:
            continue
        parent = value.expanduser().resolve().parent
        if not parent.is_dir():
            raise InputError(f"{flag} {value}: folder {parent} does not exist; create it first")
        if not os.access(parent, os.W_OK):
            raise InputError(f"{flag} {value}: folder {parent} is not writable")
    _check_flag_combinations(args)


def _check_flag_combinations(args: argparse.Namespace) -> None:
    """Flags that need adapters, refused before anything loads (the demo brings its own)."""
    from .core.errors import InputError

    if args.model is None:
        return
    if not args.adapters:
        for flag, why in (("--no-base", "without --adapter-path nothing would be scored"),
                          ("--checkpoints", "needs --adapter-path folders to find checkpoints in"),
                          ("--kl", "needs an adapter to compare with the reference")):
            if getattr(args, flag[2:].replace("-", "_"), False):
                raise InputError(f"{flag}: {why}; add --adapter-path or drop {flag}")
    if args.kl and args.no_base and len(args.adapters) == 1 and not args.checkpoints:
        raise InputError("--kl with --no-base and one adapter: nothing to compare it with; "
                         "drop --no-base or add another --adapter-path")


def _check_run_dir(run_dir: Path | None, overwrite: bool) -> None:
    """Refuse a run directory that holds a run (unless --overwrite) or cannot be written,
    before the model loads. None: the default under ./ppltop-runs/."""
    from .core.errors import InputError

    manifest = "manifest.json"  # run_store.MANIFEST; run_store imports numpy, not yet wanted
    flag = f"--run-dir {run_dir}" if run_dir is not None else "run directory ./ppltop-runs"
    path = Path(run_dir if run_dir is not None else "ppltop-runs").expanduser().absolute()
    if path.is_file():
        raise InputError(f"{flag}: is a file; give a folder (it is created if missing)")
    if run_dir is not None and (path / manifest).exists() and not overwrite:
        raise InputError(f"{flag}: already holds a run; continue it with `ppltop resume "
                         f"{run_dir}`, replace it with --overwrite, or choose another --run-dir")
    existing = next((p for p in [path, *path.parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise InputError(f"{flag}: cannot write there ({existing} is a file, not a folder); "
                         "choose another --run-dir")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{flag}: cannot write there (folder {existing} is not writable); "
                         "choose a writable --run-dir")


def make_config(args: argparse.Namespace):
    from .core.config import EvalConfig

    if args.model is None:
        from . import demo

        model, data = demo.MODEL_DIR, demo.DATA_DIR
        adapters = args.adapters or list(demo.ADAPTER_DIRS.values())
    else:
        model, data, adapters = args.model, args.data, args.adapters
    return EvalConfig(
        model=model, data=data, adapters=list(adapters), split=args.split,
        batch_size=args.batch_size, max_seq_length=args.max_seq_length,
        test_batches=args.test_batches, mask_prompt=args.mask_prompt, seed=args.seed,
        no_base=args.no_base, checkpoints=args.checkpoints, long_sequences=args.long_sequences, reference=args.reference,
        kl=args.kl,
        per_token=not args.loss_only,
        dequantize=args.dequantize, dtype=args.dtype, max_memory=args.max_memory,
    )


def write_json(path: Path, config, summaries, blas, comparisons=()) -> None:
    from .core.errors import InputError

    payload = {
        "version": 1,
        "ppltop": __version__,
        "model": str(config.model),
        "data": str(config.data),
        "split": config.split,
        "config": config.to_dict(),
        "blas": blas.to_dict() if blas else None,
        "peak_memory_bytes": _peak_memory(),
        "runs": [s.to_dict() for s in summaries],
        "comparison": [c.to_dict() for c in comparisons],
    }
    path = path.expanduser()
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        raise InputError(f"--json {path}: cannot write ({e.strerror})")


def _peak_memory() -> int | None:
    """MLX's peak allocation in this process (weights included), if MLX is loaded."""
    mx = sys.modules.get("mlx.core")
    return int(mx.get_peak_memory()) if mx is not None else None


SUBCOMMANDS = ("open", "resume", "runs")


def write_outputs(args, config, finished, blas) -> None:
    """--json and --csv, once the run has finished (or stopped)."""
    if getattr(args, "json", None) is not None:
        write_json(args.json, config, finished.summaries, blas, finished.comparisons)
    if getattr(args, "csv", None) is not None:
        from .core.export import write_summary_csv

        write_summary_csv(args.csv.expanduser(), finished.summaries)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        from .runs_cli import main as runs_main

        return runs_main(argv)
    args = build_parser().parse_args(argv)
    from .core.errors import InputError

    rank = None
    try:
        _check_paths(args)
        from .core import blas as blas_mod

        blas = blas_mod.select(args.blas)
        from .core.distributed import env_rank, expected_size  # imports mlx: after the BLAS

        rank = env_rank()  # under mlx.launch, ranks other than 0 print only errors
        if blas.notice and not rank:
            print(f"ppltop: {blas.notice}", file=sys.stderr)
        config = make_config(args)
        run_dir = args.run_dir or default_run_dir(config.model)
        if expected_size() > 1:  # under mlx.launch: one evaluation sharded over its ranks
            from .headless import run_sharded

            return run_sharded(config, args, blas, run_dir)
        _check_run_dir(args.run_dir, args.overwrite)  # sharded: RunWriter, on rank 0, in agreement
        if args.detach:
            from .runs_cli import detach

            return detach(argv, run_dir, args)
        from .core.scoring import Evaluation

        evaluation = Evaluation(config)
        return run_evaluation(evaluation, args, blas, run_dir)
    except InputError as e:
        print(f"ppltop: {f'rank {rank}: ' if rank else ''}{e}", file=sys.stderr)
        return 2


def default_run_dir(model: Path) -> Path:
    name = Path(str(model)).name or "model"
    return Path("ppltop-runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"


def run_evaluation(evaluation, args, blas, run_dir: Path, resume: bool = False) -> int:
    """Prepare, open the run directory, then score headless or under the dashboard."""
    from .core.distributed import expected_size
    from .core.errors import InputError
    from .core.recorder import recorded
    from .core.run_store import RunWriter

    if resume and expected_size() > 1:  # every rank would write the same run directory
        raise InputError("ppltop resume runs in one process: start it without mlx.launch "
                         "(the figures are the same)")
    if evaluation.plan is None:
        if sys.stderr.isatty():  # a progress hint for people, not for logs
            print("ppltop: loading model and data ...", file=sys.stderr, flush=True)
        evaluation.prepare()  # bad input fails here with one line, before anything is written
    writer = RunWriter(run_dir, evaluation.manifest(blas), resume=resume,
                       overwrite=getattr(args, "overwrite", False))
    print(f"ppltop: run directory {run_dir}", file=sys.stderr, flush=True)

    def make_events():
        return recorded(evaluation.events(), writer)

    args.run_dir = run_dir
    if args.headless or not sys.stdout.isatty():
        return run_headless(evaluation.config, args, blas, make_events, evaluation.cancel)
    return run_dashboard(evaluation.config, args, blas, make_events, evaluation.cancel)


def run_headless(config, args, blas, make_events, cancel) -> int:
    from .core.events import RunFinished
    from .core.recorder import ScoringError
    from .headless import HeadlessPrinter

    printer = HeadlessPrinter(config, blas, out=sys.stdout, err=sys.stderr)
    interrupts = []

    def on_signal(signum, frame):
        interrupts.append(signum)
        if len(interrupts) > 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt
        cancel()
        if signum == signal.SIGHUP:  # the terminal is gone; files and pipes still get the figures
            from .hangup import silence_terminal

            silence_terminal()
        print("ppltop: stopping after this batch (Ctrl-C again to quit now; "
              "the run stays resumable)", file=sys.stderr, flush=True)

    stops = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # under nohup: keep ignoring it
        stops.append(signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in stops}
    finished = None
    try:
        for event in make_events():
            printer.handle(event)
            if isinstance(event, RunFinished):
                finished = event
    except KeyboardInterrupt:
        print("ppltop: interrupted; the run directory keeps every finished batch", file=sys.stderr)
        return 130
    except ScoringError as e:
        print(f"ppltop: {e}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if finished is not None:
        write_outputs(args, config, finished, blas)
    if finished is not None and finished.cancelled:
        return 130
    return 0


def short_path(path, room: int = 32) -> str:
    """A path that fits the config pane: its tail, with an ellipsis when cut."""
    text = str(path)
    return text if len(text) <= room else "…" + text[-(room - 1):]


def describe_config(config, blas) -> dict[str, str]:
    """The config pane's lines."""
    from importlib.metadata import version

    import mlx.core as mx

    adapters = ", ".join(Path(a).name for a in config.adapters) or "none"
    return {
        "model": short_path(config.model),
        "adapters": adapters + (" (no base)" if config.no_base and config.adapters else ""),
        "data": f"{short_path(config.data)} [{config.split}]",
        "batch size": str(config.batch_size),
        "max seq length": f"{config.max_seq_length} ({config.long_sequences})",
        "mask prompt": "yes" if config.mask_prompt else "no",
        "device": f"{mx.default_device().type.name} · BLAS {blas.short() if blas else '?'}",
        "versions": f"mlx {version('mlx')} · mlx-lm {version('mlx-lm')}",
    }


def run_dashboard(config, args, blas, make_events, cancel, detached_pid: int | None = None
                  ) -> int:
    # Low frame rate and no animations for SSH: read by Textual when it is imported.
    os.environ.setdefault("TEXTUAL_FPS", "15")
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    from .themes import initial_theme, load_themes
    from .ui.app import PplTopApp, load_keymap

    themes = load_themes()
    keymap, keymap_error = load_keymap()
    notices = [n for n in (blas.notice if blas else None, keymap_error) if n]
    app = PplTopApp(make_events, describe_config(config, blas),
                    request_stop=cancel, refresh_hz=args.refresh,
                    theme=initial_theme(args.theme, themes), themes=themes, keymap=keymap,
                    startup_notices=notices,
                    runs_folder=Path(args.run_dir).parent if getattr(args, "run_dir", None)
                    else None, handle_signals=True)
    app.run()
    stopped = app.stop_worker()
    for event in app.buffer.drain():  # what arrived after the last UI tick
        app.live.apply(event)
    live = app.live
    if live.error or app.crash is not None:
        status = 1
    elif app.stop_signal:
        status = 130
    elif _watching(args, detached_pid) or (live.finished and not live.finished.cancelled):
        status = 0  # q on a dashboard that only watched a run interrupts nothing
    else:
        status = 130
    try:
        _report_dashboard(app, args, detached_pid)
    except OSError:  # the terminal hung up (SIGHUP): nobody to tell, the run dir has it all
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            os.dup2(devnull, stream.fileno())
    if live.finished:
        write_outputs(args, config, live.finished, blas)
    if not stopped:  # a batch still computing: leave without waiting for it
        os._exit(status)
    return status


def _watching(args, detached_pid: int | None) -> bool:
    """True when the dashboard follows a run scored by another process (--detach, open)."""
    return detached_pid is not None or getattr(args, "command", None) == "open"


def _report_dashboard(app, args, detached_pid: int | None) -> None:
    """What the dashboard leaves on the terminal: why it stopped, then the figures."""
    from .core.recorder import ScoringError
    from .headless import render_comparison, render_summary

    live = app.live
    resumable = not _watching(args, detached_pid)
    hint = (f"; the run directory keeps every finished batch; continue with: ppltop resume "
            f"{args.run_dir}") if resumable and getattr(args, "run_dir", None) else ""
    if live.error:
        what = live.error if isinstance(live.exception, ScoringError) \
            else f"scoring stopped by an error: {live.error}"
        print(f"ppltop: {what}", file=sys.stderr)
    if app.stop_signal:
        print(f"ppltop: stopped by {app.stop_signal}{hint}", file=sys.stderr)
    if live.finished:
        if live.finished.cancelled:  # with the hint once: a signal's or a failure's line has it
            once = "" if app.stop_signal or app.crash is not None else hint
            print(f"ppltop: cancelled: the figures below are partial{once}")
        for summary in live.finished.summaries:
            sys.stdout.write(render_summary(summary))
        if live.finished.comparisons:
            sys.stdout.write(render_comparison(live.finished.summaries,
                                               live.finished.comparisons))
    if detached_pid is not None and not (live.finished and not live.finished.cancelled):
        print(f"ppltop: the run goes on in the background (pid {detached_pid}); "
              f"watch it again with: ppltop open {args.run_dir}", file=sys.stderr)
    if app.crash is not None:  # last, under Textual's traceback and the figures
        unfinished = hint if not (live.finished and not live.finished.cancelled) else ""
        first_line = (str(app.crash).strip().splitlines() or [""])[0]
        print(f"ppltop: the dashboard failed: {type(app.crash).__name__}: {first_line} "
              f"(traceback above){unfinished}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()

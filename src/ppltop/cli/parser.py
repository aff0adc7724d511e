"""The one argparse tree: `ppltop` scores (no subcommand), `open`, `resume` and `runs` work
with run directories. Flags shared by several commands are declared once, in parent parsers;
defaults and choices come from `core.config`. Nothing here imports mlx."""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path

from .. import __version__
from ..core.config import DEQUANTIZE, DTYPES, LONG_SEQUENCES, SPLITS, EvalConfig
from .arg_types import (
    CheckpointChoice,
    IndexList,
    Number,
    OneLineParser,
    PathValue,
    Size,
    SplitList,
    WholeNumber,
)
from .mlx_lm_lora import add_mlx_lm_flags

COMMANDS = ("open", "resume", "runs", "report")
DEFAULTS = EvalConfig(model=Path(), data=Path())
"""The config's defaults, shown in --help and filled in after `-c FILE` is read."""
DEFAULTED_LATER = ("batch_size", "max_seq_length", "test_batches", "mask_prompt", "seed")
"""Flags an mlx-lm config file may set: None when not given, so that the file can fill them,
then the config's default (model, data and adapters stay None: the demo's)."""


def _parent() -> argparse.ArgumentParser:
    return OneLineParser(add_help=False)


def _display_flags() -> argparse.ArgumentParser:
    """How a run is shown and what it leaves behind: score, open, resume."""
    p = _parent()
    g = p.add_argument_group("display and outputs")
    g.add_argument("--headless", action="store_true",
                   help="no dashboard: progress lines on stderr, figures on stdout "
                   "(also when stdout is not a terminal)")
    g.add_argument("--theme", metavar="NAME", default=None,
                   help="dashboard theme (ppltop-dark, ppltop-light, ppltop-high-contrast, "
                   "ppltop-mono, or a user theme); NO_COLOR picks ppltop-mono")
    g.add_argument("--refresh", type=Number("--refresh", 0.2, 30.0), default=2.0,
                   metavar="HZ", help="dashboard redraws per second at most (default 2)")
    g.add_argument("--json", type=Path, metavar="FILE", help="write the summary as JSON")
    g.add_argument("--csv", type=Path, metavar="FILE",
                   help="write the summary as CSV (one row per model/adapter)")
    return p


def _blas_flag() -> argparse.ArgumentParser:
    """The CPU BLAS, chosen before MLX loads: score and resume."""
    p = _parent()
    p.add_argument("--blas", metavar="auto|bundled|PATH", default=None,
                   help="CPU BLAS for MLX on Linux: auto (default: the fastest of MKL and "
                   "OpenBLAS found, by a measured matmul), bundled (MLX's own, slow), or a "
                   "library path; also $PPLTOP_BLAS")
    return p


def _score_flags() -> argparse.ArgumentParser:
    """What to score and how: the flags of `mlx_lm.lora --test`, then ppltop's own."""
    p = _parent()
    _mlx_lm_test_flags(p.add_argument_group("what to score (as mlx_lm.lora --test)"))
    add_mlx_lm_flags(p)
    _ppltop_scoring_flags(p.add_argument_group("ppltop's scoring flags"))
    _run_dir_flags(p.add_argument_group("run directory"))
    return p


def _mlx_lm_test_flags(g) -> None:
    """The flags of `mlx_lm.lora --test`, with its meaning."""
    d = DEFAULTS
    g.add_argument("--model", type=PathValue(), action="append", default=None, metavar="PATH",
                   help="model folder, or a Hugging Face id already in the local cache "
                   "(default: the bundled demo); repeat to compare several models with the "
                   "same tokenizer (the first is the reference)")
    g.add_argument("--adapter-path", type=PathValue(blank_is_none=True), action="append",
                   default=None, dest="adapters", metavar="PATH",
                   help='adapter folder; repeat to compare several; "" for none, as mlx-lm')
    g.add_argument("--data", type=PathValue(), metavar="PATH",
                   help="folder with train/valid/test.jsonl, or one .jsonl file")
    g.add_argument("--batch-size", type=WholeNumber("--batch-size", 1), metavar="N",
                   help=f"rows per batch (default {d.batch_size})")
    g.add_argument("--max-seq-length", type=WholeNumber("--max-seq-length", 2), metavar="N",
                   help=f"longer examples are truncated, as mlx-lm (default {d.max_seq_length})")
    g.add_argument("--test-batches", type=WholeNumber("--test-batches", 1, (-1,)), metavar="N",
                   help=f"-1: all; N: the N batches mlx_lm.lora --test-batches N scores "
                   f"(default {d.test_batches})")
    g.add_argument("--mask-prompt", action="store_true", default=None,
                   help="do not score prompt tokens (chat and prompt/completion data)")
    g.add_argument("--seed", type=WholeNumber("--seed", 0, maximum=2**32 - 1), metavar="N",
                   help=f"as mlx_lm.lora --seed (default {d.seed}; numpy's range, 0 to 2**32-1)")


def _ppltop_scoring_flags(g) -> None:
    """What ppltop scores beyond mlx-lm: several splits, checkpoints, a watch, comparisons,
    breakdowns, windows, precision and memory."""
    d = DEFAULTS
    g.add_argument("--split", type=SplitList(), default=(d.split,), metavar="|".join(SPLITS),
                   help=f"which file of a --data folder (default {d.split}); several, "
                   "comma-separated (valid,test), are scored one after the other in one run")
    g.add_argument("--checkpoints", nargs="?", const="all", default=None,
                   type=CheckpointChoice(), metavar="all|every=N|last=K",
                   help="score the *_adapters.safetensors checkpoints in each adapter folder "
                   "(all; those at multiples of N iterations; the K latest) and show the "
                   "curve")
    g.add_argument("--watch", action="store_true",
                   help="follow the --adapter-path folders while mlx_lm.lora --train writes "
                   "them: score every checkpoint there, then each new one, until Ctrl-C")
    g.add_argument("--no-base", action="store_true",
                   help="with adapters, do not score the base model")
    g.add_argument("--reference", metavar="LABEL", default=d.reference,
                   help="label the others are compared with (default: base, else the first; "
                   "with several --model, the first model)")
    g.add_argument("--group-by", metavar="KEY", action="append", default=None,
                   help="break the loss down by this key of the records (repeatable), "
                   "e.g. --group-by source; the bundled demo groups by source")
    g.add_argument("--kl", action="store_true",
                   help="per-token KL divergence of each adapter's prediction from the "
                   "reference's, computed on the fly (always on with several --model)")
    g.add_argument("--long-sequences", choices=LONG_SEQUENCES, default=d.long_sequences,
                   help="truncate at --max-seq-length (as mlx-lm) or score whole in "
                   "overlapping windows (stride half the window)")
    g.add_argument("--loss-only", action="store_true",
                   help="skip per-token statistics (entropy, rank, top-5)")
    g.add_argument("--dequantize", choices=DEQUANTIZE, default=d.dequantize,
                   help="turn quantized layers into float ones before scoring; auto: on the "
                   "CPU backend, when they fit in half the RAM (quantized matmuls are slow there)")
    g.add_argument("--dtype", choices=DTYPES, default=d.dtype,
                   help="compute dtype; auto: float32 on the CPU backend when it fits in half "
                   "the RAM (half-precision matmuls are slow there), the stored dtype on a GPU")
    g.add_argument("--max-memory", type=Size("--max-memory"), default=d.max_memory,
                   metavar="SIZE", help="peak memory a batch may take, weights included "
                   "(e.g. 8G); larger batches run in micro-batches with the same figures "
                   "(default: 70%% of the RAM, or of the GPU's working set)")


def _run_dir_flags(g) -> None:
    """Where the run is written, and whether it runs in the background."""
    g.add_argument("--run-dir", type=Path, metavar="DIR", default=None,
                   help="where the run is written (default: ./ppltop-runs/<time>-<model>)")
    g.add_argument("--overwrite", action="store_true",
                   help="replace a run already in --run-dir")
    g.add_argument("--detach", action="store_true",
                   help="score in a background process that survives the terminal; the "
                   "dashboard watches its run directory")


def build_parser() -> argparse.ArgumentParser:
    display, blas = _display_flags(), _blas_flag()
    p = OneLineParser(
        prog="ppltop", parents=[_score_flags(), display, blas],
        usage="ppltop [FLAGS]                  score (see the flags below)\n"
        "       ppltop open|resume RUN_DIR [FLAGS]\n       ppltop runs [FOLDER]\n"
        "       ppltop report RUN_DIR [-o FILE]",
        description="Test loss and perplexity of MLX models and LoRA adapters, token by token. "
        "With no subcommand, scores (with no --model/--data, the bundled demo model and its "
        "two adapters); flags mirror mlx_lm.lora --test, so its command lines can be pasted.")
    p.add_argument("--version", action="version", version=f"ppltop {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", prog="ppltop",
                           title="commands (flags go after the command)")
    o = sub.add_parser("open", parents=[display], help="show a run directory (finished, or "
                       "followed live while it is written)",
                       description="Show a run directory: the dashboard, or its figures with "
                       "--headless. Loads only the tokenizer and the data, not the model.")
    o.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory")
    o.add_argument("--no-follow", action="store_true", help="do not wait for new batches")
    r = sub.add_parser("resume", parents=[display, blas],
                       help="continue an interrupted run where it stopped",
                       description="Continue an interrupted run: read back every complete "
                       "batch, score the rest. Refused if the model, an adapter or the data "
                       "changed since the run started.")
    r.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run directory to continue")
    ls = sub.add_parser("runs", help="list the runs in a folder (default ./ppltop-runs)",
                        description="List the run directories in a folder with their status "
                        "and figures.")
    ls.add_argument("folder", type=Path, nargs="?", default=None, metavar="FOLDER",
                    help="the folder that holds run directories (default ./ppltop-runs)")
    _report_parser(sub)
    return p


def _report_parser(sub) -> None:
    rp = sub.add_parser("report", help="write a run directory as one HTML page to share",
                        description="Write one self-contained HTML page of a run (no external "
                        "requests): both figures per label and why they differ, the "
                        "comparison, the worst examples and tokens, and document views with "
                        "tooltips. Loads only the tokenizer and the data, not the model.")
    rp.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory")
    rp.add_argument("-o", "--output", type=Path, metavar="FILE", default=None,
                    help="the HTML file to write (default: RUN_DIR/report.html; a run "
                    "over splits: one per split, RUN_DIR/SPLIT/report.html, or FILE "
                    "with -SPLIT before its suffix)")
    rp.add_argument("--label", metavar="LABEL", default=None,
                    help="whose tokens the document views show (default: the first label "
                    "that is not the reference)")
    rp.add_argument("--worst", type=WholeNumber("--worst", 0), default=10, metavar="N",
                    help="document views of the N worst examples (default 10)")
    rp.add_argument("--examples", type=IndexList("--examples"), default=[], metavar="I,J,...",
                    help="split indices of examples to show as well")
    rp.add_argument("--theme", metavar="NAME", default=None,
                    help="built-in theme whose colors the page takes (default ppltop-dark)")


def parse(argv: list[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The tree and the parsed flags; a usage error exits with one line and status 2."""
    parser = build_parser()
    _refuse_unknown_flags(parser, argv)
    args = parser.parse_args(argv)
    if args.command is not None and argv[0] != args.command:  # score flags before `open`
        parser.error(f"flags go after the command: ppltop {args.command} ... "
                     f"(not before it: {argv[0]})")
    return parser, args


def _refuse_unknown_flags(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Name an unknown flag and the nearest known one. argparse would take the value of
    `--lr 1e-5` for a command and say "invalid choice: '1e-5'", never naming `--lr`."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    command = commands.choices.get(argv[0]) if argv else None
    known = [flag for action in (command or parser)._actions for flag in action.option_strings]
    for word in argv:
        if word == "--":
            return
        flag = word.split("=", 1)[0]
        if flag.startswith("--") and flag not in known:
            long_flags = [k for k in known if k.startswith("--")]
            near = difflib.get_close_matches(flag, long_flags, 1, cutoff=0.8)
            hint = f" (did you mean {near[0]}?)" if near else ""
            (command or parser).error(f"unknown flag {flag}{hint}")


def fill_defaults(args: argparse.Namespace) -> None:
    """The config's defaults for what neither the command line nor `-c FILE` gave."""
    for dest in DEFAULTED_LATER:
        if getattr(args, dest) is None:
            setattr(args, dest, getattr(DEFAULTS, dest))

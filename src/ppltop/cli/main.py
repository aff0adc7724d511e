"""`ppltop [COMMAND]`: parse once, then score (no command) or work with run directories.

Nothing here imports mlx at module level: the BLAS must be loaded before `mlx.core` is.
"""

from __future__ import annotations

import os
import sys

from ..core.errors import InputError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # ppltop never downloads: a Hugging Face id is read from the local cache or refused
    # (read by huggingface_hub when it is imported, which is later)
    os.environ["HF_HUB_OFFLINE"] = "1"
    from .parser import parse

    parser, args = parse(argv)
    try:
        if args.command is None:
            return score(args, argv, parser)
        if args.command == "report":  # its --theme is the page's: no dashboard warning
            from ..run.report import write_report

            return write_report(args)
        _say(args)
        from ..run import runs

        if args.command == "runs":
            return runs.list_runs(args.folder)
        if args.command == "resume":
            return runs.resume(args)
        return runs.open_run(args)
    except InputError as e:
        print(f"ppltop: {e}", file=sys.stderr)
        return 2


def _say(args, ignored=None) -> None:
    """The notices of the command line, one line each on stderr (and in the dashboard)."""
    from .checks import theme_warning

    args.notices = [n for n in (ignored and ignored.notice(), theme_warning(args)) if n]
    for notice in args.notices:
        print(f"ppltop: {notice}", file=sys.stderr, flush=True)


def score_config(args, parser):
    """The score flags, `-c FILE` read into them, checked: (EvalConfig, what is ignored).
    Raises InputError; imports no mlx."""
    from .checks import check_before_loading, make_config
    from .mlx_lm_lora import apply_config
    from .parser import fill_defaults

    ignored = apply_config(args, parser)
    fill_defaults(args)
    check_before_loading(args)
    return make_config(args), ignored


def score(args, argv: list[str], parser) -> int:
    """Score: the flags (and `-c FILE`), checked, then one evaluation here, sharded over the
    ranks of mlx.launch, or detached."""
    from .checks import check_model_in_cache, check_run_dir

    rank = None
    try:
        config, ignored = score_config(args, parser)
        from ..core.model import blas as blas_mod

        blas = blas_mod.select(args.blas)
        from ..core.distributed.sharding import (  # imports mlx: after the BLAS
            env_rank,
            expected_size,
        )

        rank = env_rank()  # under mlx.launch, ranks other than 0 print only errors
        if not rank:
            if blas.notice:
                print(f"ppltop: {blas.notice}", file=sys.stderr)
            _say(args, ignored=ignored)
        check_model_in_cache(config.model)
        from ..run.score import default_run_dir

        run_dir = args.run_dir or default_run_dir(config.model)
        if args.watch and expected_size() > 1:
            raise InputError("--watch runs in one process: start it without mlx.launch")
        several = len(config.all_splits) > 1
        if several and expected_size() > 1:
            raise InputError(f"--split {','.join(config.all_splits)} under mlx.launch: "
                             "launch one run per split")
        if several and args.detach:
            raise InputError(f"--split {','.join(config.all_splits)} with --detach: detach "
                             "one run per split (each with its own --run-dir)")
        if expected_size() > 1:  # under mlx.launch: one evaluation sharded over its ranks
            from ..run.sharded import run_sharded

            return run_sharded(config, args, blas, run_dir)
        check_run_dir(args.run_dir, args.overwrite)  # sharded: RunWriter, on rank 0, in agreement
        if args.watch:
            from ..run.watch import detach_watch, watch

            return (detach_watch(argv, run_dir, args) if args.detach
                    else watch(config, args, blas, run_dir))
        if several:
            from ..run.splits import run_splits

            return run_splits(config, args, blas, run_dir)
        if args.detach:
            from ..run.runs import detach

            return detach(argv, run_dir, args)
        from ..core.engine.evaluation import Evaluation
        from ..run.score import run_evaluation

        return run_evaluation(Evaluation(config), args, blas, run_dir)
    except InputError as e:
        print(f"ppltop: {f'rank {rank}: ' if rank else ''}{e}", file=sys.stderr)
        return 2

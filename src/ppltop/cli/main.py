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

            return write_report(args.run_dir, args.output, label=args.label,
                                examples=args.examples, worst=args.worst, theme=args.theme)
        from ..run import runs
        from .request import run_request

        if args.command == "runs":
            return runs.list_runs(args.folder)
        request = _say(run_request(args, argv))
        if args.command == "resume":
            return runs.resume(request)
        from ..run.run_set import open_run_set

        return open_run_set(request)
    except InputError as e:
        print(f"ppltop: {e}", file=sys.stderr)
        return 2


def _say(request, ignored=None):
    """The notices of the command line, one line each on stderr; the request that carries
    them to the dashboard's log."""
    from .checks import theme_warning

    notices = [n for n in (ignored and ignored.notice(), theme_warning(request)) if n]
    for notice in notices:
        print(f"ppltop: {notice}", file=sys.stderr, flush=True)
    return request.saying(notices)


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
    from .checks import check_mode, check_model_in_cache, check_run_dir
    from .request import run_request

    rank = None
    try:
        config, ignored = score_config(args, parser)
        request = run_request(args, argv)
        from ..core.model import blas as blas_mod

        blas = blas_mod.select(request.blas)
        from ..core.distributed.sharding import (  # imports mlx: after the BLAS
            env_rank,
            expected_size,
        )

        rank = env_rank()  # under mlx.launch, ranks other than 0 print only errors
        if not rank:
            if blas.notice:
                print(f"ppltop: {blas.notice}", file=sys.stderr)
            request = _say(request, ignored=ignored)
        for model in config.all_models:
            check_model_in_cache(model)
        check_mode(config, request, expected_size())
        from ..run.score import default_run_dir

        request = request.at(request.run_dir or default_run_dir(config.model))
        if expected_size() > 1:  # under mlx.launch: one evaluation sharded over its ranks
            from ..run.sharded import run_sharded

            return run_sharded(config, request, blas)
        # sharded: RunWriter, on rank 0, in agreement
        check_run_dir(request.run_dir if request.run_dir_given else None, request.overwrite)
        from ..run.run_set import start

        return start(config, request, blas)
    except InputError as e:
        print(f"ppltop: {f'rank {rank}: ' if rank else ''}{e}", file=sys.stderr)
        return 2

"""The parsed command line turned into the run layer's frozen `RunRequest`: the one place
that reads the display, output and run-directory flags off the argparse namespace."""

from __future__ import annotations

import argparse
import sys

from ..run.request import RunRequest


def run_request(args: argparse.Namespace, argv: list[str]) -> RunRequest:
    """The request of `ppltop`, `open` or `resume` (each has only some of these flags)."""
    given = vars(args)
    return RunRequest(
        command=args.command, run_dir=given.get("run_dir"),
        run_dir_given=given.get("run_dir") is not None,
        json=given.get("json"), csv=given.get("csv"),
        # no dashboard when asked, or when stdout is no terminal (a pipe, a file, a log)
        headless=bool(given.get("headless")) or not sys.stdout.isatty(),
        theme=given.get("theme"), refresh=given.get("refresh", 2.0),
        overwrite=bool(given.get("overwrite")), detach=bool(given.get("detach")),
        watch=bool(given.get("watch")),
        follow=not given.get("no_follow") and not given.get("headless"),
        blas=given.get("blas"), argv=tuple(argv))

"""`python -m ppltop` and the `ppltop` console script."""

import sys

INTERRUPTED = 130
"""The exit status of a run stopped by Ctrl-C, as a shell reports a process it interrupted."""


def main() -> None:
    # Ctrl-C from the first instruction on is one line and 130: loading a model takes
    # minutes, and its imports and loader are no place for a KeyboardInterrupt traceback.
    # Scoring installs its own stops later (after the batch in flight); until then Python's
    # own handler raises KeyboardInterrupt, caught here.
    try:
        from .cli import main as cli_main

        status = cli_main()
    except KeyboardInterrupt:
        print("ppltop: interrupted (Ctrl-C)", file=sys.stderr, flush=True)
        status = INTERRUPTED
    sys.exit(status)


if __name__ == "__main__":
    main()

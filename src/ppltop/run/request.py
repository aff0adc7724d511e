"""`RunRequest`: how a run is shown and what it leaves behind, as `ppltop.cli` read it from
the command line (the argparse namespace never leaves `cli/`). What is scored is the core's
`EvalConfig`; this is everything else."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class RunRequest:
    """One frozen request per command; a step that settles a field (the run directory
    chosen, a resume that never overwrites) makes a new one with `replace`."""

    command: str | None = None
    """None: score; `open`, `resume` (the subcommands that show or continue a run)."""
    run_dir: Path | None = None
    """The run directory: as given by --run-dir until the run chooses one (the default
    under ./ppltop-runs), then that one."""
    run_dir_given: bool = False
    """--run-dir was on the command line (the default one is not passed on, nor checked)."""
    json: Path | None = None
    """--json FILE: the summary as JSON."""
    csv: Path | None = None
    """--csv FILE: the summary as CSV."""
    headless: bool = True
    """No dashboard: --headless, or standard output is not a terminal."""
    theme: str | None = None
    """--theme NAME of the dashboard."""
    refresh: float = 2.0
    """--refresh HZ: dashboard redraws per second at most."""
    overwrite: bool = False
    """--overwrite: replace a run already in the run directory."""
    detach: bool = False
    """--detach: score in a background process, watched by the dashboard."""
    watch: bool = False
    """--watch: follow the adapter folders while training writes them."""
    follow: bool = True
    """`ppltop open`: wait for new batches (not --no-follow, not --headless)."""
    blas: str | None = None
    """--blas: the CPU BLAS asked for (None: $PPLTOP_BLAS, else auto)."""
    argv: tuple[str, ...] = ()
    """The command line as given, for the background process of --detach."""
    notices: tuple[str, ...] = ()
    """The command line's notices, also shown in the dashboard's log."""

    @property
    def opened(self) -> bool:
        """`ppltop open`: a run scored elsewhere is shown and left as it is."""
        return self.command == "open"

    def at(self, run_dir: Path) -> RunRequest:
        """The same request, in the run directory the run has chosen."""
        return replace(self, run_dir=Path(run_dir))

    def saying(self, notices) -> RunRequest:
        return replace(self, notices=tuple(notices))

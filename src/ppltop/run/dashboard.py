"""Any run set under the dashboard (`show_run_set`, one call for every mode): the app on its
one stream, then what it leaves on the terminal."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path


def short_path(path, room: int = 32) -> str:
    """A path that fits the config pane: its tail, with an ellipsis when cut."""
    text = str(path)
    return text if len(text) <= room else "…" + text[-(room - 1):]


def describe_config(config, blas, recorded=None, record=None) -> dict[str, str]:
    """The config pane's lines. `recorded`: the `Manifest` of a run scored elsewhere or
    earlier (`ppltop open`): its device, BLAS and versions are the run's, not this
    machine's; without it (this process scores: a run, `resume`) this machine's. `record`:
    the run set's (several tokenizers: said on the models line)."""
    adapters = ", ".join(Path(a).name for a in config.adapters) or "none"
    models = config.all_models  # several: each one's form and size once they are loaded
    from ..core.store.records import TokenizersRecord

    tokens = (f"{len(record.parts)} tokenizers, one part each"
              if isinstance(record, TokenizersRecord) else "on the same tokens")
    return {
        **({"model": short_path(config.model)} if len(models) == 1 else
           {"models": f"{len(models)}, {tokens}"}),
        "adapters": adapters + (" (no base)" if config.no_base and config.adapters else ""),
        "data": f"{short_path(config.data)} [{', '.join(config.all_splits)}]",
        "batch size": str(config.batch_size),
        "max seq length": f"{config.max_seq_length} ({config.long_sequences})",
        "mask prompt": "yes" if config.mask_prompt else "no",
        "group by": group_by_text(config),
        **(machine_of_run(recorded) if recorded is not None else this_machine(blas)),
    }


def this_machine(blas) -> dict[str, str]:
    """The config pane's device and versions lines for a run this process scores."""
    from importlib.metadata import version

    import mlx.core as mx

    return {"device": f"{mx.default_device().type.name} · BLAS {blas.short() if blas else '?'}",
            "versions": f"mlx {version('mlx')} · mlx-lm {version('mlx-lm')}"}


def machine_of_run(manifest) -> dict[str, str]:
    """The same lines as the run's manifest recorded them (`not recorded` where a run
    written before they were has none)."""
    from ..core.model.blas import BlasChoice

    # the manifest keeps str(mx.default_device()): `Device(cpu, 0)`
    device = re.sub(r"^Device\((\w+).*", r"\1", manifest.device) or "not recorded"
    recorded = manifest.blas or {}
    blas = (BlasChoice(recorded.get("name", "?"), recorded.get("path"), recorded.get("gflops"),
                       None).short() if recorded else "not recorded")
    versions = (f"mlx {manifest.mlx} · mlx-lm {manifest.mlx_lm}" if manifest.mlx
                else "not recorded")
    return {"device": f"{device} · BLAS {blas}", "versions": versions}


def group_by_text(config) -> str:
    """The config pane's `group by` line: the --group-by keys, else the keys of the records
    that look like groups, proposed."""
    if config.group_by:
        return ", ".join(config.group_by)
    from ..core.data.record_groups import propose_keys
    from ..core.data.split import resolve_split_file
    from ..core.errors import InputError

    try:
        proposed = propose_keys(resolve_split_file(Path(config.data), config.split),
                                config.features)
    except InputError:  # the data's own line comes when it loads
        return "none"
    keys = ", ".join(k for k, _ in proposed)
    return f"none (try --group-by {keys})" if proposed else "none"


def show_run_set(run_set, detached_pid: int | None = None) -> int:
    """Any run set under the dashboard, in one call: the app on its one stream, then what
    the set says at its end (`detached_pid`: the process that scores it, --detach)."""
    status = run_dashboard(run_set.config, run_set.request, run_set.blas, run_set.events,
                           run_set.stop, detached_pid=detached_pid,
                           resumable=run_set.resumable, recorded=run_set.manifest,
                           record=run_set.record)
    return run_set.ended_dashboard(status)


def run_dashboard(config, request, blas, make_events, cancel, detached_pid: int | None = None,
                  resumable: bool = True, recorded=None, record=None) -> int:
    """The app on `make_events()`; `resumable`: a stopped run is continued with `ppltop
    resume RUN_DIR` (not a watch's folder: each of its checkpoints is a run of its own);
    `recorded`: the manifest of a run scored by another process (`describe_config`);
    `record`: the run set's (what its parts say across them at the end)."""
    # Low frame rate and no animations for SSH: read by Textual when it is imported.
    os.environ.setdefault("TEXTUAL_FPS", "15")
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    from ..core.store.breakdown_events import with_breakdowns
    from ..hangup import silence_terminal
    from ..themes import initial_theme, load_themes
    from ..ui.app import PplTopApp, load_keymap
    from .outputs import write_outputs

    themes = load_themes()
    keymap, keymap_error = load_keymap()
    notices = [n for n in (blas.notice if blas else None, keymap_error,
                           *request.notices) if n]
    make_events = with_breakdowns(make_events, config)
    run_dir = Path(request.run_dir) if request.run_dir is not None else None
    app = PplTopApp(make_events, describe_config(config, blas, recorded, record),
                    request_stop=cancel, refresh_hz=request.refresh,
                    theme=initial_theme(request.theme, themes), themes=themes, keymap=keymap,
                    startup_notices=notices,
                    runs_folder=run_dir.parent if run_dir is not None else None,
                    handle_signals=True, watching=_watching(request, detached_pid),
                    run_dir=run_dir, split=config.split)
    app.run()
    stopped = app.stop_worker()
    for event in app.buffer.drain():  # what arrived after the last UI tick
        app.apply(event)
    live = app.runs.live  # the split scored last (the dashboard may show another)
    if live.error or app.crash is not None:
        status = 1
    elif app.stop_signal:
        status = 130
    elif _watching(request, detached_pid) or (live.finished and not live.finished.cancelled):
        status = 0  # q on a dashboard that only watched a run interrupts nothing
    else:
        status = 130
    try:
        _report_dashboard(app, request, detached_pid, resumable, record)
    except OSError:  # the terminal hung up (SIGHUP): nobody to tell, the run dir has it all
        silence_terminal()
    if app.runs.several and app.runs.finished():
        from .across_parts import write_across_outputs

        write_across_outputs(request, config, record, app.runs.finished(), blas)
    elif live.finished:
        write_outputs(request, config, live.finished, blas)
    if not stopped:  # a batch still computing: leave without waiting for it
        os._exit(status)
    return status


def _watching(request, detached_pid: int | None) -> bool:
    """True when the dashboard follows a run scored by another process (--detach, open)."""
    return detached_pid is not None or request.opened


def _report_dashboard(app, request, detached_pid: int | None, resumable: bool = True,
                      record=None) -> None:
    """What the dashboard leaves on the terminal: why it stopped, then the figures."""
    from ..core.errors import ScoringError
    from ..headless import render_figures
    from ..view.display_names import named_finished
    from .stops import resume_hint

    live = app.runs.live
    resumable = resumable and not _watching(request, detached_pid)
    hint = resume_hint(request.run_dir) if resumable and request.run_dir else ""
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
        if app.runs.several:  # every part scored, then the labels across them
            from .across_parts import across_text

            sys.stdout.write(across_text(record, app.runs.finished()))
        else:  # against the reference and under the names chosen in the comparison view
            # (`f`, `e`), as every pane showed them
            sys.stdout.write(render_figures(named_finished(live.finished, live, app.names)
                                            or live.finished))
    if detached_pid is not None and not (live.finished and not live.finished.cancelled):
        print(f"ppltop: the run goes on in the background (pid {detached_pid}); "
              f"watch it again with: ppltop open {request.run_dir}", file=sys.stderr)
    if app.crash is not None:  # last, under Textual's traceback and the figures
        unfinished = hint if not (live.finished and not live.finished.cancelled) else ""
        first_line = (str(app.crash).strip().splitlines() or [""])[0]
        print(f"ppltop: the dashboard failed: {type(app.crash).__name__}: {first_line} "
              f"(traceback above){unfinished}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()

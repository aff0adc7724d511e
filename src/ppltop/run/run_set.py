"""Where a score request goes: one evaluation, several splits or a watch, here or detached."""

from __future__ import annotations


def start(config, request, blas) -> int:
    """Score what `config` asks, as `request` says (the run directory is chosen)."""
    if request.watch:
        from .detach import detach_watch
        from .watch import watch

        return detach_watch(request) if request.detach else watch(config, request, blas)
    if len(config.all_splits) > 1:
        from .splits import run_splits

        return run_splits(config, request, blas)
    if request.detach:
        from .detach import detach_run

        return detach_run(request)
    from ..core.engine.evaluation import Evaluation
    from .score import run_evaluation

    return run_evaluation(Evaluation(config), request, blas)

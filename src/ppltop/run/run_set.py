"""Every run is a run set (`run_set_parts.RunSet`): one run, several splits or a watch, each
part a run directory of its own; a run set of several parts is marked by its record
(`records.SplitsRecord`, `records.WatchRecord`). `start` builds the one the request asks
for and `run_set_parts.show`s it (prepared, its one stream consumed headless or under the
dashboard); `read_back` is the one reader of any of them (`open`, `report`).

    RUN_DIR/                  one run: manifest.json, events.jsonl, results/
    RUN_DIR/splits.json       several splits: SplitsRecord (the splits, the reference)
    RUN_DIR/watch.json        a watch: WatchRecord (the folders, the reference, the stop)
    RUN_DIR/tokenizers.json   models of several tokenizers: TokenizersRecord (the parts)
    RUN_DIR/<part>/           each part of a run set: a run of its own (open, resume)
"""

from __future__ import annotations

from .run_set_parts import ReadBack, show


def start(config, request, blas) -> int:
    """Score what `config` asks, as `request` says (the run directory is chosen)."""
    if request.watch:
        from .detach import detach_watch
        from .watch import WatchRun

        return detach_watch(request) if request.detach else show(WatchRun(config, request,
                                                                          blas))
    handles: list = []
    if len(config.all_models) > 1 and not request.detach:  # one tokenization, or several?
        # (a detached run decides in its background process)
        from .tokenizers import tokenizer_run

        several, handles = tokenizer_run(config, request, blas)
        if several is not None:
            return show(several)
    if len(config.all_splits) > 1:
        from .splits import SplitRun

        return show(SplitRun(config, request, blas, handles))
    if request.detach:
        from .detach import detach_run

        return detach_run(request, read_back)
    from ..core.engine.evaluation import Evaluation
    from .score import run_evaluation

    return run_evaluation(Evaluation(config, handles=handles), request, blas)


def read_back(request) -> ReadBack:
    """The run set in `request.run_dir`, by its record: a watch (one run per checkpoint,
    read as one), a run over splits (one run per split, in order), or one run."""
    from ..core.store.records import SplitsRecord, TokenizersRecord, WatchRecord
    from ..core.store.run_dir import read_run_set

    record = read_run_set(request.run_dir)
    if isinstance(record, WatchRecord):
        from .watch_replay import read_back_watch

        return read_back_watch(request, record)
    if isinstance(record, SplitsRecord):
        from .splits import read_back_splits

        return read_back_splits(request, record)
    if isinstance(record, TokenizersRecord):
        from .tokenizers import read_back_tokenizers

        return read_back_tokenizers(request, record)
    return ReadBack.of_run(request)


def open_run_set(request) -> int:
    """`ppltop open RUN_DIR`: any run set, headless or under the dashboard."""
    return show(read_back(request))

"""The one run-set model: the stream of every mode (splits, a watch's added labels) goes
through the one headless loop; events are frozen, and the finish is passed on with its
checkpoint curve attached, computed once."""

import dataclasses
import json

import pytest

from ppltop.core.config import EvalConfig
from ppltop.core.figures.checkpoints import (
    checkpoint_curve,
    curve_of_finished,
    figures_of_summaries,
)
from ppltop.core.store.breakdown_events import with_breakdowns
from ppltop.core.store.events import RunFinished
from ppltop.run.headless_run import run_headless
from ppltop.run.request import RunRequest
from ppltop.run.run_set_parts import ReadBack
from support import synthetic


def _read_back(make_events, tmp_path, **request) -> ReadBack:
    config = EvalConfig(model=tmp_path / "model", data=tmp_path / "data")
    return ReadBack(RunRequest(command="open", follow=False, **request), config, None,
                    make_events)


def test_splits_print_under_their_names_then_across_in_one_loop(tmp_path, capsys):
    out = tmp_path / "o.json"
    status = run_headless(_read_back(synthetic.split_checkpoint_events, tmp_path, json=out))
    printed = capsys.readouterr().out
    assert status == 0
    assert printed.index("== split valid ==") < printed.index("== split test ==") \
        < printed.index("side by side")
    assert printed.count("== checkpoints of run1 by iteration") == 2
    payload = json.loads(out.read_text())
    assert list(payload["by_split"]) == ["valid", "test"]
    assert [p["label"] for p in payload["by_split"]["test"]["checkpoints"]["series"][0]
            ["checkpoints"]] == list(synthetic.CHECKPOINT_LABELS[1:])


def test_a_watch_stream_shows_the_progress_of_each_label_it_adds(tmp_path, capsys):
    status = run_headless(_read_back(lambda: synthetic.watch_events(partial_batches=6),
                                     tmp_path))
    progress = [line for line in capsys.readouterr().err.splitlines()
                if line.startswith("[")]
    assert status == 0  # no finish yet: nothing stopped, nothing to write
    for label in synthetic.WATCH_CURVE:  # the checkpoint being scored, on its own
        others = [other for other in synthetic.WATCH_CURVE if other != label]
        assert any(line.startswith(f"[6/6] {label} loss")  # a label's last batch: always
                   and not any(other in line for other in others)
                   for line in progress), progress


def test_events_are_frozen_and_the_finish_is_passed_on_with_its_curve(tmp_path):
    *_, raw = synthetic.checkpoint_events()
    with pytest.raises(dataclasses.FrozenInstanceError):
        raw.cancelled = True  # type: ignore[misc]
    config = EvalConfig(model=tmp_path / "model", data=tmp_path / "data")
    *_, passed = with_breakdowns(synthetic.checkpoint_events, config)()
    assert isinstance(passed, RunFinished) and raw.checkpoints is None
    want = checkpoint_curve(figures_of_summaries(raw.summaries), raw.results)
    assert passed.checkpoints.to_dict() == want.to_dict()
    assert curve_of_finished(passed) is passed.checkpoints  # read, not computed again

"""--long-sequences window: every target scored exactly once, with overlapping context."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppltop import demo
from ppltop.core.config import EvalConfig
from ppltop.core.data.batching import segments_for, truncated_targets
from ppltop.core.data.split import Example
from ppltop.core.engine.evaluation import Evaluation
from ppltop.core.store.events import BatchScored, RunFinished


@given(n=st.integers(2, 400), window=st.integers(2, 64), offset=st.integers(0, 50))
def test_windows_cover_each_target_once(n, window, offset):
    example = Example(0, 1, np.zeros(n, dtype=np.int32), offset)
    segments = segments_for(example, window, "window")
    scored = [p for s in segments for p in range(s.first_target, s.end)]
    assert scored == list(range(max(1, offset), n))
    for s in segments:
        assert s.length <= window and s.first_target > s.start
    if n > window:  # each later window starts half a window after the previous one
        starts = [s.start for s in segments]
        assert all(b - a == max(1, window // 2) for a, b in zip(starts, starts[1:]))
    truncate = segments_for(example, window, "truncate")
    assert len(truncate) == 1
    kept = truncate[0].n_targets
    assert kept + truncated_targets(example, window) == len(scored)


def _run(handle, **kw):
    cfg = EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR / "test.jsonl", **kw)
    evaluation = Evaluation(cfg, handle)
    events = list(evaluation.events())
    results = {r.example: r for e in events if isinstance(e, BatchScored) for r in e.results}
    finished = [e for e in events if isinstance(e, RunFinished)][0]
    return evaluation, results, finished.summaries[0]


def test_window_scores_long_examples_whole(handle):
    evaluation, results, summary = _run(handle, max_seq_length=128, long_sequences="window")
    long = [e for e in evaluation.split.examples if len(e.tokens) > 128]
    assert long, "the demo test split has examples longer than 128 tokens"
    for example in long:
        r = results[example.index]
        np.testing.assert_array_equal(r.positions, np.arange(1, len(example.tokens)))
        assert r.truncated == 0
    _, truncated, t_summary = _run(handle, max_seq_length=128)
    assert t_summary.truncated_tokens > 0
    assert summary.tokens == t_summary.tokens + t_summary.truncated_tokens
    # the first window is the truncated sequence: identical values there
    r_w, r_t = results[long[0].index], truncated[long[0].index]
    np.testing.assert_allclose(r_w.logprob[: r_t.n_tokens], r_t.logprob, atol=1e-5)
    # both runs reproduce the same mlx-lm figure to the bit (mlx-lm always truncates; its
    # cross-entropy is computed for the first window only)
    assert summary.mlx_lm.loss == t_summary.mlx_lm.loss
    # per token, the two runs' batches hold other rows, which float32 matmuls may round
    # differently in the last bits
    np.testing.assert_allclose(r_w.mlx_lm.ce(r_w.logprob), r_t.mlx_lm.ce(r_t.logprob),
                               rtol=1e-6, atol=1e-6)


def test_window_equals_whole_sequence_when_it_fits(handle):
    _, whole, s_whole = _run(handle)
    _, windowed, s_window = _run(handle, long_sequences="window")
    assert s_window.loss == pytest.approx(s_whole.loss, rel=1e-6)


def test_an_example_with_no_target_is_refused_with_its_line(tmp_path):
    """The demo tokenizer adds BOS and EOS, so no real record of it is empty; a tokenizer
    without them turns "" into no token at all. Such a split, built directly here, must stop
    with file and line, not be averaged over zero tokens."""
    from ppltop.core.data.split import Split
    from ppltop.core.engine.plan import plan_scoring
    from ppltop.core.errors import InputError

    path = tmp_path / "test.jsonl"
    path.write_text('{"text": "a b"}\n{"text": ""}\n')
    examples = [Example(0, 1, np.array([1, 5, 6, 2], np.int32), 0),
                Example(1, 2, np.array([2], np.int32), 0)]
    cfg = EvalConfig(model=demo.MODEL_DIR, data=path)
    with pytest.raises(InputError, match=r"test.jsonl:2: this example has no token to score"):
        plan_scoring(cfg, Split(path, "text", examples), [], lambda batches: None)


def test_padding_share_of_mlx_lm_batches_counts_what_it_feeds():
    """Two batches of 2 in file order: widths 32 (lengths 10, 30) and 64 (40, 5): mlx-lm
    feeds 2*32 + 2*64 positions for 9 + 29 + 39 + 4 real inputs."""
    from ppltop.core.mlx_lm import padding_share as mlx_lm_padding_share

    share = mlx_lm_padding_share([10, 30, 40, 5], 2, -1, 0, 2048)
    assert share == pytest.approx(1 - (9 + 29 + 39 + 4) / (2 * 32 + 2 * 64))
    capped = mlx_lm_padding_share([100, 100], 2, -1, 0, 50)
    assert capped == pytest.approx(0.0)

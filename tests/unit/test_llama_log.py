"""The benchmark reads llama-perplexity's log: chunks, positions and the scoring time, from
either form of log its builds print (a "prompt eval time" line, or only time stamps)."""

from __future__ import annotations

import sys

import pytest

from support.paths import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import llama_cpp  # noqa: E402

STAMPED = """\
0.03.744.285 I perplexity: tokenizing the input ..
0.03.803.039 I perplexity: calculating perplexity over 19 chunks, n_ctx=512, batch_size=2048, \
n_seq=4
0.34.476.008 I perplexity: 30.67 seconds per pass - ETA 2.42 minutes
[1]23.4,[2]27.1,[3]26.9,
2.07.199.528 I Final estimate: PPL = 27.2046 +/- 1.08088
"""

TIMED = """\
perplexity: calculating perplexity over 3 chunks, n_ctx=512, batch_size=2048, n_seq=4
Final estimate: PPL = 12.5000 +/- 0.5
llama_perf_context_print: prompt eval time =    4500.00 ms /  1536 tokens
"""


def test_a_stamped_log_times_the_chunks_from_their_first_to_the_final_estimate():
    parsed = llama_cpp.parse_output(STAMPED)
    assert parsed["chunks"] == 19 and parsed["positions"] == 19 * 512
    assert parsed["targets"] == 19 * 255  # the second half of each chunk, less one
    assert parsed["ppl"] == 27.2046
    # 2 min 7.199528 s less 3.803039 s
    assert parsed["eval_s"] == pytest.approx(127.199528 - 3.803039, abs=1e-9)


def test_through_a_pipe_the_final_stamp_shares_a_line_with_the_progress():
    piped = STAMPED.replace("ETA 2.42 minutes\n[1]23.4,[2]27.1,[3]26.9,\n", "ETA ")
    assert "ETA 2.07.199.528 I Final" in piped
    assert llama_cpp.parse_output(piped)["eval_s"] == pytest.approx(127.199528 - 3.803039)


def test_a_log_with_the_prompt_eval_line_takes_that_time():
    parsed = llama_cpp.parse_output(TIMED)
    assert parsed["eval_s"] == pytest.approx(4.5)
    assert parsed["positions"] == 3 * 512


def test_a_log_without_chunks_is_not_a_run():
    assert llama_cpp.parse_output("error: failed to load model\n") is None

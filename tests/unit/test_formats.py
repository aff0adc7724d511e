"""The one way figures are written (`core.figures.formats`), and the printout, the dashboard's
panes and the report writing them that way."""

from __future__ import annotations

import math

import pytest

from ppltop.core.figures import formats as fmt


@pytest.mark.parametrize("value", [-0.00001, -0.00004999, 0.0, -0.0, 0.00004])
def test_a_change_that_rounds_to_zero_has_no_sign(value):
    assert fmt.signed(value) == "0.0000"
    assert fmt.number(value) == "0.0000"
    assert "-0.0000" not in fmt.interval(value, 0.5, sign=True)


def test_signed_changes_and_intervals():
    assert fmt.signed(0.01764) == "+0.0176"
    assert fmt.signed(-0.67171) == "-0.6717"
    assert fmt.signed(-0.004, 2) == "0.00"  # Δbits that round to nothing
    assert fmt.interval(-0.0034, 0.0409, sign=True) == "[-0.0034, +0.0409]"
    assert fmt.interval(18.4412, 22.5239, 3) == "[18.441, 22.524]"
    assert fmt.signed(math.nan) == fmt.interval(math.nan, None)[1:2] == "–"


def test_counts_plurals_and_rates():
    assert fmt.count(1277) == "1,277"
    assert fmt.plural(1, "batch") == "1 batch"
    assert fmt.plural(2, "batch") == "2 batches"
    assert fmt.plural(1, "example") == "1 example"
    assert fmt.plural(2400, "target") == "2,400 targets"
    assert fmt.rate(3593.4) == "3,593 tok/s"
    assert fmt.rate(math.nan) == "– tok/s"


def test_losses_ppl_and_shares():
    assert (fmt.loss(3.01464), fmt.ppl(20.3801), fmt.share(1.0)) == ("3.0146", "20.380", "100%")
    assert fmt.loss(None) == fmt.ppl(math.inf) == "–"


def test_durations_and_the_eta_once_the_run_is_over():
    assert fmt.duration(65) == "01:05"
    assert fmt.duration(3725) == "1:02:05"
    assert fmt.duration(math.nan) == "–"
    assert fmt.eta(0.0) == "ETA 00:00"  # the last batch in flight
    assert fmt.eta(0.0, over=True) == "ETA –"  # finished or cancelled: nothing left to wait
    assert fmt.eta(12, paused=True) == "ETA paused"


@pytest.mark.parametrize("lo, hi", [(48.2, 60.1), (-0.061, 0.012), (2.6, 3.05), (0, 1277),
                                    (-1.2546, -0.6665)])
def test_ticks_are_round_values(lo, hi):
    ticks = fmt.nice_ticks(lo, hi, 5)
    assert 2 <= len(ticks) <= 8
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5)), (ticks, mantissa)
    labels = fmt.tick_labels(ticks)
    assert all(len(label.partition(".")[2]) <= 3 for label in labels), labels
    assert "-0" not in labels and not any(label.startswith("-0.0") and float(label) == 0
                                          for label in labels)


def test_the_printouts_group_table_cuts_no_header_and_writes_no_negative_zero():
    """The reference is an adapter with a long name: its column's header is whole (it was
    cut to `docs-net l`), and no change in the printout reads -0.0000."""
    from ppltop.core.store.breakdown_events import with_breakdowns
    from ppltop.headless import render_breakdowns
    from ppltop.view.live import LiveRun
    from support import synthetic
    from support.apps import CONFIG

    events = with_breakdowns(lambda: synthetic.document_events(
        max_examples=51, labels=("docs-net", "docs-math")), CONFIG)
    live = LiveRun()
    for event in events():
        live.apply(event)
    printed = render_breakdowns(live.breakdowns())
    assert "docs-net loss " in printed and "docs-math Δloss [95% CI]" in printed
    for line in printed.splitlines():
        if line.startswith("group "):
            assert "docs-net l " not in line
    assert "-0.0000" not in printed

"""The run directory's typed records: one class per record, read and written by the same
code, older formats still read, newer ones refused with one line."""

from __future__ import annotations

import json

import pytest

from ppltop.core.errors import InputError
from ppltop.core.store.records import (
    FORMAT,
    AdapterEntry,
    BatchLine,
    FinishedLine,
    Manifest,
    NoticeLine,
    StartedLine,
    decode_line,
    encode_line,
)


def _manifest(**extra) -> Manifest:
    return Manifest(config={"model": "m", "data": "d"}, labels=["base", "a"], data_file="d/t.jsonl",
                    adapters=[AdapterEntry("a", "/ad/a", "f00")], n_batches=3, n_examples=9,
                    **extra)


def test_a_manifest_reads_back_as_written():
    written = _manifest(ranks=2, precision={"stored": "float32"})
    read = Manifest.from_json(written.to_json().decode(), "manifest.json")
    assert read == written and read.format == FORMAT
    assert read.adapter_paths() == {"a": "/ad/a"}


def test_an_early_manifest_opens_with_defaults():
    """Format 1 had no ranks, precision or batch count; extra keys of any writer are ignored."""
    raw = {"format": 1, "config": {"model": "m"}, "labels": ["base"], "data_file": "x.jsonl",
           "adapters": [{"label": "a", "path": "p", "fingerprint": "f", "size": 3}],
           "something_new": True}
    read = Manifest.from_json(json.dumps(raw), "run/manifest.json")
    assert read.ranks == 1 and read.precision is None and read.n_batches == 0
    assert read.adapters == [AdapterEntry("a", "p", "f")]


@pytest.mark.parametrize("text, message", [
    ('{"format": 99, "config": {}, "labels": [], "data_file": "x"}', "format 99, newer"),
    ("{not json", "unreadable"),
    ('{"format": 2, "labels": []}', "unreadable"),
    ("[1, 2]", "unreadable"),
])
def test_a_manifest_that_cannot_be_read_is_one_line_naming_the_file(text, message):
    with pytest.raises(InputError) as err:
        Manifest.from_json(text, "run/manifest.json")
    assert str(err.value).startswith("run/manifest.json: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_every_event_line_round_trips_and_unknown_lines_are_skipped():
    lines = [StartedLine({"labels": ["base"], "n_batches": 1}), NoticeLine("info", "hello"),
             BatchLine("base", 0, 12.5, 10, "000000-0.npz", 0.3, [0, 1], 5.0),
             FinishedLine(False, 1.0, [{"label": "base"}], [])]
    for line in lines:
        raw = encode_line(line)
        assert raw.endswith(b"\n") and raw.count(b"\n") == 1
        assert decode_line(raw) == line
    assert decode_line(b'{"type": "heartbeat-from-the-future", "x": 1}') is None
    assert decode_line(b'{"type": "batch", "label": "base"') is None  # torn by a kill
    assert decode_line(b'{"type": "batch", "label": "base"}') is None  # fields missing


def test_a_finished_line_says_each_labels_ppl_once():
    line = FinishedLine(False, 1.0, [{"label": "base", "ppl": 63.5629}, {"label": "a", "ppl": None},
                                     {"label": "b", "ppl": 65.2764}])
    assert line.ppl_text() == "base ppl 63.563  b ppl 65.276"
    assert line.ppl_text(" ") == "base 63.563  b 65.276"

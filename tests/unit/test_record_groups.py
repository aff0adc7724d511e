"""Groups from record keys and roles from template markers: the rules, on small inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ppltop.core.data.record_groups import (
    MAX_GROUPS,
    NONE,
    OTHER,
    cap_groups,
    check_group_keys,
    example_groups,
    group_value,
    propose_keys,
)
from ppltop.core.data.token_groups import template_mask
from ppltop.core.data.token_marks import example_marks, position_bucket, position_buckets
from ppltop.core.errors import InputError


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_values_become_group_names():
    assert group_value("wiki") == "wiki"
    assert group_value(None) == NONE and group_value("") == NONE
    assert group_value(3) == "3" and group_value(0.5) == "0.5"
    assert group_value(True) == "true" and group_value(False) == "false"
    assert group_value(["a", 1]) == '["a",1]'
    long = group_value({"k": "x" * 100})
    assert len(long) == 40 and long.endswith("…")


def test_many_values_keep_the_largest_groups_and_say_how_many_went_to_other():
    values = [f"v{i}" for i in range(20) for _ in range(20 - i)]  # v0 largest
    capped, note = cap_groups(values, "task")
    kept = set(capped) - {OTHER}
    assert kept == {f"v{i}" for i in range(MAX_GROUPS - 1)}
    moved = sum(20 - i for i in range(MAX_GROUPS - 1, 20))
    assert capped.count(OTHER) == moved
    assert note == (f"task: 20 distinct values; the {MAX_GROUPS - 1} largest groups shown, "
                    f"{20 - MAX_GROUPS + 1} values ({moved} examples) in {OTHER}")
    assert cap_groups(["a", "b"], "task") == (["a", "b"], None)


def test_examples_are_grouped_by_their_line_and_missing_keys_are_none(tmp_path):
    path = tmp_path / "test.jsonl"
    path.write_text('{"text": "a", "source": "wiki"}\n\n'
                    '{"text": "b"}\n{"text": "c", "source": 7}\n')
    groups, notes = example_groups(path, ("source",), [1, 3, 4])
    assert groups == {"source": ["wiki", NONE, "7"]} and notes == {}


def test_a_key_no_record_has_is_refused_in_one_line(tmp_path):
    write(tmp_path / "test.jsonl", [{"text": "a", "source": "x"}])
    check_group_keys(tmp_path, "test", ("source",))
    with pytest.raises(InputError, match=r"^--group-by task: no record of .*test.jsonl has "
                                         r"this key \(keys found: source, text\)"):
        check_group_keys(tmp_path, "test", ("task",))


def test_keys_that_look_like_groups_are_proposed(tmp_path):
    records = [{"text": str(i), "source": "ab"[i % 2], "id": str(i), "n": i % 2,
                "rare": "x" if i == 0 else None} for i in range(30)]
    path = write(tmp_path / "test.jsonl", records)
    assert propose_keys(path) == [("source", 2)]  # not the format key, ids, numbers, rare


def test_positions_fall_in_their_buckets():
    names = position_buckets()
    assert names == ["1-16", "17-64", "65-256", "257-1024", "1025+"]
    got = [names[k] for k in position_bucket(np.array([1, 16, 17, 64, 65, 256, 257, 1024, 1025]))]
    assert got == ["1-16", "1-16", "17-64", "17-64", "65-256", "65-256", "257-1024",
                   "257-1024", "1025+"]


def marks_of(pieces: list[bytes], special_names: set[bytes]):
    special = np.array([p in special_names for p in pieces])
    marks = example_marks(pieces, special, template_mask(pieces, special))
    return [marks.role[k] for k in marks.role_of], marks.turn.tolist(), marks


def test_roles_and_turns_from_im_start_markers():
    """ChatML-style: the role name follows the special token."""
    s, e = b"<|im_start|>", b"<|im_end|>"
    pieces = [s, b"system", b"\n", b"Be", b" brief", e, b"\n",
              s, b"user", b"\n", b"Hi", e, b"\n",
              s, b"assistant", b"\n", b"Hello", e, b"\n",
              s, b"user", b"\n", b"Again", e, b"\n",
              s, b"assistant", b"\n", b"Yes", e, b"\n"]
    roles, turns, marks = marks_of(pieces, {s, e})
    assert roles[:7] == ["system"] * 7 and roles[7:13] == ["user"] * 6
    assert roles[13:19] == ["assistant"] * 6 and roles[-6:] == ["assistant"] * 6
    assert turns[:19] == [1] * 19 and turns[19:] == [2] * 12
    assert marks.n_bytes[0] == 0 and marks.n_bytes[3] == 2  # special tokens: no bytes


def test_roles_from_special_tokens_that_name_them():
    """The demo's template: `<s><|user|>\\n...</s>\\n<|assistant|>\\n...</s>\\n`."""
    names = {b"<s>", b"</s>", b"<|user|>", b"<|assistant|>"}
    pieces = [b"<s>", b"<|user|>", b"\n", b"Q", b"</s>", b"\n", b"<|assistant|>", b"\n",
              b"A", b"</s>", b"\n"]
    roles, turns, _ = marks_of(pieces, names)
    assert roles == ["user"] * 6 + ["assistant"] * 5
    assert set(turns) == {1}


def test_text_has_no_role():
    roles, turns, _ = marks_of([b"<s>", b"plain", b" text", b"</s>"], {b"<s>", b"</s>"})
    assert roles == ["(none)"] * 4 and set(turns) == {0}

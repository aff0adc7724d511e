"""Reading .jsonl splits: mlx-lm's token streams, and one clear error per bad input."""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest
from mlx_lm.tuner.datasets import create_dataset

from ppltop import demo
from ppltop.core.data.split import load_split, read_records
from ppltop.core.errors import InputError


def write(path: Path, content: bytes | str) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_token_streams_are_mlx_lms_own(handle):
    for folder, mask in ((demo.DATA_DIR, False), (demo.CHAT_DATA_DIR, True),
                         (demo.COMPLETIONS_DATA_DIR, True)):
        split = load_split(folder, "test", handle.tokenizer, mask)
        records = [json.loads(line) for line in (folder / "test.jsonl").read_text().splitlines()]
        ds = create_dataset(records, handle.tokenizer, types.SimpleNamespace(mask_prompt=mask))
        for example, record in zip(split.examples, records):
            tokens, offset = ds.process(record)
            np.testing.assert_array_equal(example.tokens, tokens)
            assert example.offset == offset
        if mask:
            assert all(e.offset > 0 for e in split.examples)


def test_blank_lines_bom_and_crlf_are_accepted(tmp_path, handle):
    f = write(tmp_path / "test.jsonl",
              b'\xef\xbb\xbf{"text": "one two"}\r\n\r\n   \n{"text": "three"}\r\n')
    split = load_split(f, "test", handle.tokenizer, False)
    assert len(split.examples) == 2 and [e.line for e in split.examples] == [1, 4]
    assert "skipped 2 blank line(s) (line 2, 3)" in split.warnings[0]


@pytest.mark.parametrize("content, expected", [
    ('{"text": "ok"}\n{"text": "broken"\n', r"test.jsonl:2: invalid JSON"),
    ('{"text": "ok"}\n[1, 2]\n', r"test.jsonl:2: expected a JSON object, got list"),
    ('{"words": "x"}\n', r"test.jsonl:1: record of no known format"),
    ('{"text": "ok"}\n{"text": 5}\n', r"test.jsonl:2: expected a string \"text\""),
    ('{"text": "ok"}\n{"messages": []}\n', r"test.jsonl:2: expected a string \"text\""),
    ('{"messages": [{"role": "user"}]}\n', r"test.jsonl:1: each message needs"),
    ('{"prompt": "p", "completion": null}\n', r"test.jsonl:1: expected string \"prompt\""),
    (b'{"text": "\xff"}\n', r"test.jsonl:1: not valid UTF-8"),
    ("", r"test split is empty"),
    ("\n\n", r"test split is empty"),
    ("[" * 100000 + "]" * 100000 + "\n", r"test.jsonl:1: "),
])
def test_bad_lines_name_file_and_line(tmp_path, handle, content, expected):
    write(tmp_path / "test.jsonl", content)
    with pytest.raises(InputError, match=expected) as info:
        load_split(tmp_path, "test", handle.tokenizer, False)
    assert "\n" not in str(info.value)


def test_missing_split_and_mask_prompt_on_text(tmp_path, handle):
    write(tmp_path / "train.jsonl", '{"text": "a"}\n')
    with pytest.raises(InputError, match=r"no test.jsonl in this folder \(found: train.jsonl\)"):
        load_split(tmp_path, "test", handle.tokenizer, False)
    with pytest.raises(InputError, match="--mask-prompt: .* holds text records"):
        load_split(demo.DATA_DIR, "test", handle.tokenizer, True)
    with pytest.raises(InputError, match="no such file or folder"):
        load_split(tmp_path / "nope", "test", handle.tokenizer, False)


def test_read_records_skips_only_blank_lines(tmp_path):
    f = write(tmp_path / "x.jsonl", '{"a": 1}\n\n{"b": 2}')
    records, lines, warnings = read_records(f)
    assert records == [{"a": 1}, {"b": 2}] and lines == [1, 3] and len(warnings) == 1


def test_data_feature_keys_as_mlx_lm_reads_them(tmp_path, handle):
    """mlx-lm's `prompt_feature`/`completion_feature`/`chat_feature`/`text_feature` config
    keys rename the record keys; the tokens are those of the default keys."""
    from ppltop.core.config import DataFeatures, EvalConfig

    renames = [(demo.COMPLETIONS_DATA_DIR, {"prompt": "question", "completion": "answer"}),
               (demo.CHAT_DATA_DIR, {"messages": "conversation"}),
               (demo.DATA_DIR, {"text": "body"})]
    features = DataFeatures(text="body", chat="conversation", prompt="question",
                            completion="answer")
    for folder, rename in renames:
        records = [json.loads(line) for line in (folder / "test.jsonl").read_text().splitlines()]
        renamed = [{rename.get(k, k): v for k, v in r.items()} for r in records]
        f = write(tmp_path / f"{folder.name}.jsonl",
                  "".join(json.dumps(r) + "\n" for r in renamed))
        mask = folder != demo.DATA_DIR
        expected = load_split(folder, "test", handle.tokenizer, mask)
        split = load_split(f, "test", handle.tokenizer, mask, features)
        assert split.format == expected.format
        for got, want in zip(split.examples, expected.examples, strict=True):
            np.testing.assert_array_equal(got.tokens, want.tokens)
            assert got.offset == want.offset
        with pytest.raises(InputError, match="record of no known format"):
            load_split(f, "test", handle.tokenizer, mask)  # the default keys find nothing
    config = EvalConfig(model=Path("m"), data=Path("d"), features=features)
    assert EvalConfig(**{**config.to_dict(), "model": Path("m"),
                         "data": Path("d")}).features == features  # as a manifest reads back

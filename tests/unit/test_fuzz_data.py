"""The data loader under fuzzing: every input either scores, tokenized exactly as mlx-lm
tokenizes it, or stops with one InputError line that names the file and its first bad line.
Never another exception.

A named corpus covers each kind of bad input (random bytes, truncated and invalid JSON, wrong
value types, missing keys, mixed formats, blank lines, BOM, CRLF, invalid UTF-8, NUL bytes, a
50 MB line, a 0-byte file, deep nesting); hypothesis then generates many more, in process
against `load_split`. A few corpus files also go through the real command line. The module
reports how many inputs it tried.
"""

from __future__ import annotations

import json
import re
import types
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppltop import demo
from ppltop.core.data.split import load_split
from ppltop.core.errors import InputError
from support.cli import run_ppltop

ASCII_BLANK = " \t\n\r\x0b\x0c"
"""What counts as a blank line (bytes.strip's whitespace)."""
TRIED: Counter = Counter()
"""Inputs tried by this module, by outcome."""
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module", autouse=True)
def report_count(request):
    yield
    if sum(TRIED.values()):
        line = (f"\nfuzzed data inputs tried: {sum(TRIED.values())} "
                f"({TRIED['scored']} scored, {TRIED['refused']} refused)")
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        if capture is None:
            print(line)
            return
        with capture.global_and_fixture_disabled():  # shown without -s
            print(line)


@pytest.fixture(scope="module")
def tokenizer(handle):
    return handle.tokenizer


def mlx_lm_reads(path: Path, tokenizer, mask_prompt: bool):
    """What `mlx_lm.lora` makes of the file: its own reading (`open` in text mode, one
    `json.loads` per line) and its own dataset classes. The two documented differences: blank
    lines are skipped and a UTF-8 byte order mark is dropped. Returns (tokens/offset pairs,
    number of blank lines)."""
    from mlx_lm.tuner.datasets import create_dataset

    with open(path, encoding="utf-8-sig") as fid:
        lines = list(fid)
    records = [json.loads(line) for line in lines if line.strip(ASCII_BLANK)]
    dataset = create_dataset(records, tokenizer, types.SimpleNamespace(mask_prompt=mask_prompt))
    return [dataset.process(r) for r in records], len(lines) - len(records)


def check(raw: bytes, folder: Path, tokenizer, mask_prompt: bool = False) -> str:
    """Load `raw` as a split and check the contract; 'scored' or the refusal's message."""
    path = folder / "test.jsonl"
    path.write_bytes(raw)
    try:
        split = load_split(path, "test", tokenizer, mask_prompt)
    except InputError as e:
        TRIED["refused"] += 1
        _check_refusal(str(e), raw, path, folder, tokenizer, mask_prompt)
        return str(e)
    TRIED["scored"] += 1
    expected, blank = mlx_lm_reads(path, tokenizer, mask_prompt)
    assert len(split.examples) == len(expected)
    for example, (tokens, offset) in zip(split.examples, expected):
        assert example.tokens.tolist() == list(tokens)
        assert example.offset == offset
    if blank:
        assert f"skipped {blank} blank line(s)" in split.warnings[0]
    else:
        assert not split.warnings
    return "scored"


def _check_refusal(message: str, raw: bytes, path: Path, folder: Path, tokenizer,
                   mask_prompt: bool) -> None:
    assert not re.search(r"[\x00-\x1f\x7f]", message), message
    assert str(path) in message, message
    assert len(message) < 400, message
    at_line = re.match(rf"{re.escape(str(path))}:(\d+): ", message)
    if at_line is None:  # about the whole file
        assert "split is empty" in message or message.startswith("--mask-prompt:"), message
        return
    number = int(at_line.group(1))
    lines = raw.removeprefix(b"\xef\xbb\xbf").splitlines(keepends=True)
    assert 1 <= number <= len(lines) and lines[number - 1].strip(), message
    # it is the first bad line: the lines before it load (or are only blank)
    before = folder / "before.jsonl"
    before.write_bytes(b"".join(lines[:number - 1]))
    try:
        load_split(before, "test", tokenizer, mask_prompt)
    except InputError as e:
        assert "split is empty" in str(e) or str(e).startswith("--mask-prompt:"), (message, e)


# -- the corpus --------------------------------------------------------------------------

def _j(record) -> bytes:
    return json.dumps(record).encode()


TEXT = _j({"text": "The cat sat on the mat."})
CHAT = _j({"messages": [{"role": "user", "content": "Hi there"},
                        {"role": "assistant", "content": "Hello, how can I help?"}]})
COMPLETION = _j({"prompt": "Two plus two is", "completion": " four."})
DEEP = b"[" * 100_000 + b"]" * 100_000
CORPUS = {
    # name: (file bytes, mask_prompt, "scored" or a fragment of the one-line message)
    "0-byte file": (b"", False, "test split is empty"),
    "only blank lines": (b"\n \n\t\r\n", False, "test split is empty"),
    "empty and whitespace-only lines": (TEXT + b"\n\n   \n\t\n" + TEXT + b"\n", False, "scored"),
    "UTF-8 BOM": (b"\xef\xbb\xbf" + TEXT + b"\n" + TEXT, False, "scored"),
    "BOM then blank": (b"\xef\xbb\xbf\n" + TEXT, False, "scored"),
    "CRLF": (TEXT + b"\r\n" + TEXT + b"\r\n", False, "scored"),
    "CR only (old Mac)": (CHAT + b"\r" + CHAT + b"\r", True, "scored"),
    "no final newline": (COMPLETION + b"\n" + COMPLETION, True, "scored"),
    "random bytes": (bytes(range(256)) * 3, False, "test.jsonl:1: "),
    "invalid UTF-8": (TEXT + b'\n{"text": "caf\xe9"}\n', False, "test.jsonl:2: not valid UTF-8"),
    "overlong UTF-8": (b'{"text": "\xc0\xaf"}', False, "test.jsonl:1: not valid UTF-8"),
    "NUL byte in a string": (b'{"text": "a\x00b"}', False, "test.jsonl:1: invalid JSON"),
    "NUL bytes as a line": (TEXT + b"\n\x00\x00\x00\n", False, "test.jsonl:2: invalid JSON"),
    "escaped NUL": (b'{"text": "a\\u0000b"}', False, "scored"),
    "lone surrogate": (b'{"text": "a\\ud800b"}', False,
                       "test.jsonl:1: expected a string \"text\""),
    "truncated JSON": (TEXT + b"\n" + TEXT[:-7], False, "test.jsonl:2: invalid JSON"),
    "trailing comma": (b'{"text": "a",}', False, "test.jsonl:1: invalid JSON"),
    "single quotes": (b"{'text': 'a'}", False, "test.jsonl:1: invalid JSON"),
    "two objects on a line": (TEXT + TEXT, False, "test.jsonl:1: invalid JSON (Extra data"),
    "huge integer": (b'{"text": "a", "n": ' + b"9" * 5000 + b"}", False,
                     "test.jsonl:1: invalid JSON (Exceeds the limit"),
    "NaN and Infinity": (b'{"text": "a", "x": NaN, "y": -Infinity}', False, "scored"),
    "JSON array": (b'["text", "a"]', False, "test.jsonl:1: expected a JSON object, got list"),
    "JSON string": (b'"text"', False, "test.jsonl:1: expected a JSON object, got str"),
    "JSON null": (b"null", False, "test.jsonl:1: expected a JSON object, got NoneType"),
    "text is a number": (b'{"text": 5}', False, 'got int'),
    "text is null": (TEXT + b'\n{"text": null}', False, 'test.jsonl:2: expected a string "text"'),
    "text is a list": (b'{"text": ["a"]}', False, "got list"),
    "empty text": (b'{"text": ""}', False, "scored"),
    "messages not a list": (b'{"messages": "hi"}', False, "like the first record, got str"),
    "messages empty": (b'{"messages": []}', False, "got an empty list"),
    "content None": (b'{"messages": [{"role": "user", "content": null}]}', False,
                     'test.jsonl:1: each message needs string "role" and "content" (message 1'),
    "message not an object": (b'{"messages": ["hi"]}', False, "each message needs"),
    "role missing": (b'{"messages": [{"content": "hi"}]}', False, "each message needs"),
    "completion missing": (b'{"prompt": "p"}', False, "record of no known format (keys: prompt)"),
    "completion a number": (b'{"prompt": "p", "completion": 3}', False,
                            'got int for "completion"'),
    "no known keys": (b'{"body": "x", "title": "y"}', False, "keys: body, title"),
    "empty object": (b"{}", False, "record of no known format (keys: none)"),
    "key with a newline": (b'{"a\\nb": 1}', False, "keys: a\\nb"),
    "mixed text then chat": (TEXT + b"\n" + CHAT, False, 'test.jsonl:2: expected a string "text"'),
    "mixed chat then completion": (CHAT + b"\n" + COMPLETION, False,
                                   'test.jsonl:2: expected a non-empty "messages" list'),
    "mixed completion then text": (COMPLETION + b"\n" + TEXT, False,
                                   'test.jsonl:2: expected string "prompt" and "completion"'),
    "text with --mask-prompt": (TEXT, True, "--mask-prompt: "),
    "deeply nested array": (DEEP, False, "test.jsonl:1: JSON nested too deeply"),
    "deeply nested value": (b'{"text": "a", "x": ' + DEEP + b"}", False, "nested too deeply"),
    "nested within the limit": (b'{"text": "a", "x": ' + b"[" * 500 + b"]" * 500 + b"}",
                                False, "scored"),
    "first bad line wins": (TEXT + b'\n{"text": 1}\n{"text": oops}\n', False,
                            "test.jsonl:2: "),
    "50 MB line, padded JSON": (b'{"text": "a small text", "pad": "' + b"x" * (50 << 20)
                                + b'"}\n', False, "scored"),
    "50 MB line, truncated": (b'{"text": "' + b"x" * (50 << 20), False,
                              "test.jsonl:1: invalid JSON (Unterminated string"),
    "many blank lines": (b"\n" * 1_000_000 + TEXT, False, "scored"),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus(name, tmp_path, tokenizer):
    raw, mask_prompt, expected = CORPUS[name]
    outcome = check(raw, tmp_path, tokenizer, mask_prompt)
    assert expected in outcome, (name, outcome)


# -- generated inputs --------------------------------------------------------------------

texts = st.text(max_size=30)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                           max_leaves=6)
messages = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["system", "user",
                                                                    "assistant"]),
                                           "content": texts}), min_size=1, max_size=3)
record_formats = [
    st.fixed_dictionaries({"text": texts}),
    st.fixed_dictionaries({"messages": messages}),
    st.fixed_dictionaries({"prompt": texts, "completion": texts}),
]
good_records = st.one_of(record_formats)
# the right keys with values of any type; then any object at all; then any JSON value
odd_records = st.one_of(
    st.fixed_dictionaries({"text": json_values}),
    st.fixed_dictionaries({"messages": json_values | st.lists(json_values, max_size=2)}),
    st.fixed_dictionaries({"prompt": json_values, "completion": json_values}),
    st.dictionaries(st.sampled_from(["text", "messages", "prompt", "completion", "tools", "x"]),
                    json_values, max_size=3),
    json_values,
)


@st.composite
def lines(draw) -> bytes:
    kind = draw(st.sampled_from(["good"] * 5 + ["odd"] * 2 + ["blank", "mutated"]))
    if kind == "blank":
        return draw(st.sampled_from([b"", b" ", b"\t", b"  \t ", b"\x0c"]))
    record = draw(good_records if kind in ("good", "mutated") else odd_records)
    line = json.dumps(record, ensure_ascii=draw(st.booleans())).encode()
    if kind == "mutated":
        at = draw(st.integers(0, len(line)))
        how = draw(st.sampled_from(["cut", "byte", "surrogate"]))
        if how == "cut":
            line = line[:at]
        elif how == "byte":
            byte = draw(st.sampled_from([b"\x00", b"\xff", b"\xc3", b"\r", b"{", b'"', b"\\"]))
            line = line[:at] + byte + line[at:]
        else:
            line = line.replace(b'"', b'"\\ud83d', 1) if at % 2 else line + b"\\udc00"
    return line


@st.composite
def files(draw) -> bytes:
    body = draw(st.lists(lines(), min_size=0, max_size=6))
    ends = draw(st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=len(body),
                         max_size=len(body)))
    raw = b"".join(line + end for line, end in zip(body, ends))
    if body and draw(st.booleans()):
        raw = raw[:-len(ends[-1])]  # no final newline
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + raw


@st.composite
def good_files(draw) -> bytes:
    """One format, valid records and blank lines, any line endings, maybe a BOM."""
    record = draw(st.sampled_from(record_formats))
    records = draw(st.lists(record.map(lambda r: json.dumps(r).encode()), min_size=1,
                            max_size=5))
    blanks = draw(st.lists(st.sampled_from([b"", b"  ", b"\t"]), max_size=2))
    body = draw(st.permutations(records + blanks))
    ends = draw(st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=len(body),
                         max_size=len(body)))
    raw = b"".join(line + end for line, end in zip(body, ends))
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + raw


@FUZZ
@given(raw=good_files())
def test_generated_good_files_score_as_mlx_lm_tokenizes(raw, tmp_path, tokenizer):
    assert check(raw, tmp_path, tokenizer) == "scored"


@FUZZ
@given(raw=files(), mask_prompt=st.booleans())
def test_generated_files(raw, mask_prompt, tmp_path, tokenizer):
    check(raw, tmp_path, tokenizer, mask_prompt)


@settings(FUZZ, max_examples=500)
@given(raw=st.binary(max_size=400))
def test_random_bytes(raw, tmp_path, tokenizer):
    check(raw, tmp_path, tokenizer)


@settings(FUZZ, max_examples=500)
@given(raw=st.text(alphabet='{}[]":,\\ \n\r\ttextmsagpromptcomplen0123456789-.eEnulrufals\x00',
                   max_size=80))
def test_json_like_text(raw, tmp_path, tokenizer):
    check(raw.encode(), tmp_path, tokenizer)


# -- through the command line --------------------------------------------------------------

CLI_CASES = ["random bytes", "invalid UTF-8", "deeply nested value", "content None"]


def _cli(name: str, raw: bytes, folder: Path, mask_prompt: bool):
    folder.mkdir()
    (folder / "test.jsonl").write_bytes(raw)
    args = ["--model", str(demo.MODEL_DIR), "--data", str(folder), "--headless"]
    return run_ppltop(*args, *(["--mask-prompt"] if mask_prompt else []))


def test_corpus_through_the_command_line(tmp_path):
    """The real CLI: exit status 2, exactly one line on stderr, no traceback; and a file with
    a BOM, CRLF and blank lines scores, with one warning."""
    from concurrent.futures import ThreadPoolExecutor

    scored = b"\xef\xbb\xbf" + b"\r\n".join([TEXT, b"", b"  ", TEXT, TEXT, TEXT, TEXT]) + b"\r\n"
    jobs = [(name, *CORPUS[name]) for name in CLI_CASES] + [("scores", scored, False, None)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        procs = list(pool.map(lambda job: _cli(job[0], job[1], tmp_path / re.sub(
            r"\W+", "-", job[0]), job[2]), jobs))
    for (name, _, _, expected), proc in zip(jobs, procs):
        assert "Traceback" not in proc.stderr, name
        if expected is None:
            assert proc.returncode == 0, proc.stderr[-2000:]
            assert "skipped 2 blank line(s) (line 2, 3)" in proc.stderr
            assert proc.stdout.count("Test loss") == 1
            TRIED["scored"] += 1
            continue
        err = [ln for ln in proc.stderr.splitlines() if not ln.startswith("ppltop: BLAS")]
        assert proc.returncode == 2, (name, proc.returncode, proc.stderr[-2000:])
        assert len(err) == 1, (name, proc.stderr[-2000:])
        assert err[0].startswith("ppltop: ") and expected in err[0], (name, err[0])
        assert proc.stdout == "", name
        TRIED["refused"] += 1

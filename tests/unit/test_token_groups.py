"""Tokens grouped into whole characters, template tokens, exact bytes: core only, no app.

The byte-level cases come from `token_groups` directly (bytes in, groups out) and again
through a real tokenizer: the hand-built byte-level BPE of `tiny_bpe`, loaded by mlx-lm.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ppltop.core.data.token_groups import group_tokens, template_mask
from ppltop.core.data.token_text import TokenTexts, readable
from ppltop.core.store.events import BatchScored, RunFinished
from ppltop.core.store.export import export_run, unpack_pieces
from ppltop.view.document import build_document
from ppltop.view.live import LiveRun
from support import synthetic, tiny_bpe


def groups_of(pieces: list[bytes], special=None):
    return group_tokens(pieces, special if special is not None else [False] * len(pieces))


def spans(groups) -> list[tuple[str, list[int]]]:
    return [(groups.text[g], list(groups.tokens_of(g))) for g in range(len(groups))]


ZHONG, WEN, ZI = "中".encode(), "文".encode(), "字".encode()   # 3 bytes each
GRIN = "😀".encode()                                            # 4 bytes


def test_a_character_split_over_two_tokens_is_one_group():
    g = groups_of([ZHONG[:2], ZHONG[2:]])
    assert spans(g) == [("中", [0, 1])]
    assert g.part(0) == (1, 2) and g.part(1) == (2, 2)


def test_a_character_split_over_three_tokens_is_one_group():
    g = groups_of([b"a", ZI[:1], ZI[1:2], ZI[2:], b"b"])
    assert spans(g) == [("a", [0]), ("字", [1, 2, 3]), ("b", [4])]
    assert g.part(2) == (2, 3)


def test_an_emoji_of_four_bytes_split_one_and_three():
    g = groups_of([GRIN[:1], GRIN[1:], b"!"])
    assert spans(g) == [("😀", [0, 1]), ("!", [2])]


def test_a_token_that_ends_one_character_and_starts_the_next():
    both = ZHONG + WEN  # e4 b8 ad e6 96 87 as [e4 b8] [ad e6] [96 87]
    g = groups_of([both[:2], both[2:4], both[4:], ZI])
    assert spans(g) == [("中文", [0, 1, 2]), ("字", [3])]
    assert "".join(g.text) == "中文字"


def test_pure_ascii_is_one_group_per_token_unchanged():
    pieces = [b"The", b" quick", b" brown", b",", b" fox", b"\n"]
    g = groups_of(pieces)
    assert spans(g) == [(p.decode(), [i]) for i, p in enumerate(pieces)]
    assert not g.template.any() and not g.whitespace[:-1].any()


def test_whitespace_only_tokens_are_marked():
    g = groups_of([b"def", b" f", b"():", b"\n", b"    ", b"return", b" ", b"1", b"\t\t"])
    assert [g.text[i] for i in np.nonzero(g.whitespace)[0]] == ["\n", "    ", " ", "\t\t"]


def test_template_tokens_role_markers_end_of_turn_and_newlines():
    raw = [b"<|im_start|>", b"user", b"\n", b"Hi", b" there", b"<|im_end|>", b"\n",
           b"<|im_start|>", b"ass", b"istant", b"\n", b"Hello", b"\n", b"world", b"<|im_end|>"]
    special = [r.startswith(b"<|") for r in raw]
    g = groups_of(raw, special)
    assert [r.decode() for r, t in zip(raw, g.template) if t] == [
        "<|im_start|>", "user", "\n", "<|im_end|>", "\n", "<|im_start|>", "ass", "istant", "\n",
        "<|im_end|>"]
    # the content's own newline (after "Hello") is content
    assert not g.template[12]
    # special tokens are groups of their own
    assert g.text[int(g.group[0])] == "<|im_start|>"


def test_template_a_role_between_two_special_tokens_and_content_after_a_bos():
    raw = [b"<|begin|>", b"<|start_header|>", b"assistant", b"<|end_header|>", b"\n\n",
           b"Sure", b"\n"]
    special = [r.startswith(b"<|") for r in raw]
    assert template_mask(raw, special).tolist() == [True, True, True, True, True, False, False]
    # a text record after a BOS: the words after it are content, even with a newline
    raw = [b"<s>", b"Hello", b" world", b"\n", b"more"]
    assert template_mask(raw, [True, False, False, False, False]).tolist() == [
        True, False, False, False, False]


def test_invalid_bytes_never_become_replacement_characters():
    g = groups_of([b"\xad", b"x"])  # a stray continuation byte (not from valid text)
    assert "\ufffd" not in "".join(g.text) and "\\xad" in g.text[0]
    assert readable(ZHONG[:2]) == "<0xE4><0xB8>"
    assert readable(b"a" + ZHONG + ZHONG[:1]) == "a中<0xE4>"


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    folder = tiny_bpe.build(tmp_path_factory.mktemp("tiny") / "tokenizer")
    return TokenTexts(tiny_bpe.load(folder))


def test_tiny_tokenizer_splits_as_designed(texts):
    """The hand-built merges give exactly the splits the cases above describe."""
    hf = texts.tokenizer._tokenizer
    cases = {"中": [ZHONG[:2], ZHONG[2:]], "中文": [ZHONG[:2], ZHONG[2:] + WEN[:1], WEN[1:]],
             "字": [ZI[:1], ZI[1:2], ZI[2:]], "😀": [GRIN[:1], GRIN[1:]]}
    for text, pieces in cases.items():
        ids = hf.encode(text, add_special_tokens=False)
        assert texts.raw(ids) == pieces, text
        groups = texts.groups(ids)
        assert groups.text == [text] and groups.n_tokens == len(pieces)
        assert not any(texts.is_whole(i) for i in ids)
        assert all("<0x" in texts.label(i) for i in ids)


def test_tiny_tokenizer_record_text_is_byte_exact(texts):
    record = synthetic.CJK_RECORDS[0]["text"]
    ids = texts.tokenizer._tokenizer.encode(record, add_special_tokens=False)
    groups = texts.groups(ids)
    assert b"".join(groups.raw) == record.encode("utf-8")
    assert "".join(groups.text) == record and "\ufffd" not in "".join(groups.text)
    # every group is whole characters: each decodes on its own
    for g in range(len(groups)):
        b"".join(groups.raw[p] for p in groups.tokens_of(g)).decode("utf-8")
    # group_at (the lists' local scan) agrees with the whole-example grouping
    for position in range(len(ids)):
        at = texts.group_at(ids, position)
        g = int(groups.group[position])
        assert (at.text, (at.part, at.parts)) == (groups.text[g], groups.part(position))


def test_tiny_tokenizer_chat_template_tokens(texts):
    ids = texts.tokenizer.apply_chat_template(synthetic.CJK_CHAT[1]["messages"],
                                              return_dict=False)
    groups = texts.groups(ids)
    template = "".join(groups.text[g] for g in range(len(groups)) if groups.is_template_group(g))
    content = "".join(groups.text[g] for g in range(len(groups))
                      if not groups.is_template_group(g))
    assert template == "<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n"
    assert content == "再说一次好的：中文。"


def test_document_group_figures_are_the_core_sums(tmp_path):
    events = list(synthetic.cjk_events(tmp_path))
    source, batch = events[0].source, events[1]
    result = batch.results[0]
    doc = build_document(source.examples[0], result, source.token_texts, 2048)
    groups = doc.groups
    for g in range(len(groups)):
        members = list(groups.tokens_of(g))
        bits = doc.bits[members]
        if np.isfinite(bits).all():
            assert doc.group_bits[g] == pytest.approx(float(bits.sum()), rel=1e-5)
            assert doc.group_rank[g] == doc.rank[members].max()
        else:
            assert math.isnan(doc.group_bits[g]) and doc.group_rank[g] == -1


def test_template_tokens_left_out_of_the_lists_for_masked_chat(tmp_path):
    live = LiveRun()
    for event in synthetic.cjk_events(tmp_path, chat=True, mask_prompt=True):
        live.apply(event)
    index = live.index["base"]
    assert live.hide_template and index.hide_template  # the default for masked chat
    hits = index.worst_tokens(50)
    assert hits and not any(h.template for h in hits)
    assert all(h.bits < 20 for h in hits)  # the template's 20-bit tokens are left out
    assert all(not index.template_of(h.example)[h.position - index.results[h.example].first]
               for h in hits)
    live.set_hide_template(False)
    shown = index.worst_tokens(5)
    assert shown[0].template and shown[0].bits == pytest.approx(20.0)
    rows = index.example_rows(index.example_order("index"), 0, 2)
    assert max(r.worst_bits for r in rows) == pytest.approx(20.0)


def test_text_data_keeps_template_tokens_by_default(tmp_path):
    live = LiveRun()
    for event in synthetic.cjk_events(tmp_path):
        live.apply(event)
    assert not live.hide_template
    assert live.index["base"].worst_tokens(1)[0].template  # the end-of-text token


def test_exports_keep_token_ids_and_byte_exact_text(tmp_path):
    events = list(synthetic.cjk_events(tmp_path))
    source, batch = events[0].source, events[1]
    results = {"base": {r.example: r for r in batch.results}}
    export_run(tmp_path / "out", [], results, {}, source)
    records = [json.loads(line) for line in (tmp_path / "cjk.jsonl").read_text("utf-8")
               .splitlines()]
    with np.load(tmp_path / "out" / "pieces.npz") as z:
        pieces = unpack_pieces(z)
        example, ids, special = z["example"], z["token_id"], z["special"]
        assert len(pieces) == len(ids) == sum(len(e.tokens) for e in source.examples)
        for e, record in zip(source.examples, records):
            mine = example == e.index
            assert ids[mine].tolist() == e.tokens.tolist()
            text = b"".join(p for p, s in zip(np.array(pieces, dtype=object)[mine],
                                                special[mine]) if not s)
            assert text == record["text"].encode("utf-8")
    with np.load(next((tmp_path / "out").glob("tokens-0-*.npz"))) as z:
        scored = unpack_pieces(z)
        assert len(scored) == len(z["target"])
        first = [r for r in batch.results if r.example == 0][0]
        n = first.n_tokens
        assert z["target"][:n].tolist() == source.examples[0].tokens[first.first:].tolist()
        assert scored[:n] == source.token_texts.raw(source.examples[0].tokens[first.first:])


def test_the_recorder_exports_the_pieces(tmp_path):
    from ppltop.core.store.recorder import recorded
    from ppltop.core.store.records import Manifest
    from ppltop.core.store.run_dir import RunWriter

    events = list(synthetic.cjk_events(tmp_path))
    batch: BatchScored = events[1]
    finished = RunFinished([], False, 1.0, [], {"base": {r.example: r for r in batch.results}})
    writer = RunWriter(tmp_path / "run", Manifest(config={}, labels=["base"], data_file="x"))
    list(recorded(iter([*events, finished]), writer))
    with np.load(tmp_path / "run" / "pieces.npz") as z:
        text = b"".join(unpack_pieces(z))
    assert "".join(r["text"] for r in synthetic.CJK_RECORDS).encode() in text.replace(
        b"<|im_end|>", b"")


def _real_tokenizer_folder():
    """SmolLM2-135M as `scripts/real_model.py` builds it, when it is there."""
    import os
    from pathlib import Path

    cache = Path(os.environ.get("PPLTOP_REAL_MODEL_CACHE")
                 or Path.home() / ".cache" / "ppltop" / "real-model")
    folder = cache / "smollm2-135m-f32"
    return folder if (folder / "tokenizer.json").is_file() else None


@pytest.mark.skipif(_real_tokenizer_folder() is None, reason="no real model built "
                    "(scripts/real_model.py)")
def test_real_tokenizer_groups_chinese_and_emoji():
    from mlx_lm.utils import load_tokenizer

    tokenizer = load_tokenizer(_real_tokenizer_folder())
    texts = TokenTexts(tokenizer)
    record = synthetic.CJK_RECORDS[0]["text"] + " 👩‍💻🇫🇷"
    ids = tokenizer._tokenizer.encode(record, add_special_tokens=False)
    groups = texts.groups(ids)
    assert texts.scheme == "byte-level"
    assert b"".join(groups.raw) == record.encode() and "".join(groups.text) == record
    sizes = {len(groups.tokens_of(g)) for g in range(len(groups))}
    assert {2, 3} <= sizes  # SmolLM2 splits CJK characters over two and three tokens
    for position in range(len(ids)):
        at = texts.group_at(ids, position)
        assert at.text == groups.text[int(groups.group[position])]
    chat = tokenizer.apply_chat_template(synthetic.CJK_CHAT[1]["messages"], return_dict=False)
    chat_groups = texts.groups(chat)
    content = "".join(chat_groups.text[g] for g in range(len(chat_groups))
                      if not chat_groups.is_template_group(g))
    # SmolLM2's template adds a default system prompt: content, like the messages
    assert content.endswith("再说一次好的：中文。") and "<|im" not in content

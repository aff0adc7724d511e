"""Chat roles, turns and template tokens come from the messages, whatever the template's
markers: a template whose markers are plain text the tokenizer does not mark special (the
demo model with its role tokens made ordinary text), the demo's own template (special role
tokens), Llama-2's and Gemma's, and the real model's ChatML template, with and without
--mask-prompt; a template that cannot be read falls back to the special tokens in one
warning, and special tokens that contradict the messages are one warning.

The expected role of each token is found here the way mlx-lm finds the prompt under
`--mask-prompt`: the tokens of the template over the first i messages are the tokens before
message i's turn; the expected template tokens are those of the text the template writes
around the messages.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ppltop import demo
from ppltop.core.data.chat_spans import message_tokens
from ppltop.core.data.split import load_split
from ppltop.core.data.token_marks import (
    TokenMarks,
    example_marks,
    message_marks,
    role_disagreements,
)
from ppltop.core.data.token_text import TokenTexts
from support.breakdowns import check_breakdown, content_bytes, expected, pieces_of, score, tokens_of
from support.paths import REAL_DATA

PLAIN_TEMPLATE = ("{{ bos_token }}{% for m in messages %}{{ '<|' + m['role'] + '|>\n' + "
                  "m['content'] + '\n<|end|>\n' }}{% endfor %}"
                  "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}")
"""Role markers and end of turn as plain text (`<|end|>` is in no vocabulary)."""
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")


def plain_text_chat_model(dst: Path, template: str = PLAIN_TEMPLATE) -> Path:
    """The demo model with `template`, its role tokens no longer tokens of their own."""
    shutil.copytree(demo.MODEL_DIR, dst)
    config = json.loads((dst / "tokenizer_config.json").read_text())
    config["chat_template"] = template
    config["additional_special_tokens"] = []
    config["added_tokens_decoder"] = {k: v for k, v in config["added_tokens_decoder"].items()
                                      if v["content"] not in ROLE_TOKENS}
    (dst / "tokenizer_config.json").write_text(json.dumps(config))
    special = json.loads((dst / "special_tokens_map.json").read_text())
    special["additional_special_tokens"] = []
    (dst / "special_tokens_map.json").write_text(json.dumps(special))
    tokenizer = json.loads((dst / "tokenizer.json").read_text())
    tokenizer["added_tokens"] = [t for t in tokenizer["added_tokens"]
                                 if t["content"] not in ROLE_TOKENS]
    (dst / "tokenizer.json").write_text(json.dumps(tokenizer))
    return dst


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory) -> Path:
    return plain_text_chat_model(tmp_path_factory.mktemp("plain") / "model")


def load_tokenizer(model: Path):
    from mlx_lm.utils import load_tokenizer as load
    return load(model)


def records(data: Path) -> list[dict]:
    return [json.loads(line) for line in (data / "test.jsonl").read_text().splitlines()
            if line.strip()]


def prefix_roles(tokenizer, messages) -> list[str]:
    """Each token's role: that of the message whose prefix first holds it (mlx-lm's
    --mask-prompt arithmetic, message by message)."""
    roles, done = [], 0
    for i, m in enumerate(messages):
        upto = len(tokenizer.apply_chat_template(messages[:i + 1], return_dict=False))
        roles += [m["role"]] * (upto - done)
        done = upto
    return roles


def check_marks(tokenizer, data: Path, mask_prompt: bool, n_template=None):
    """Every token's role and turn as the prefixes give them, and each message's content
    byte for byte in its content tokens; `n_template(role)`: template tokens of a turn."""
    split = load_split(data, "test", tokenizer, mask_prompt)
    assert split.warnings == []
    texts = TokenTexts(tokenizer)
    marks = TokenMarks(split.examples, texts)
    for example, record in zip(split.examples, records(data)):
        messages = record["messages"]
        m = marks(example.index)
        roles = np.asarray(m.role)[m.role_of]
        assert roles.tolist() == prefix_roles(tokenizer, messages)
        raw = texts.raw(example.tokens)
        for i, message in enumerate(messages):
            own = (m.role_of == i + 1) & ~m.template
            assert b"".join(r for r, o in zip(raw, own) if o) == message["content"].encode()
            if n_template is not None:
                assert ((m.role_of == i + 1) & m.template).sum() \
                    == n_template(message["role"]) + (i == 0)  # and the first, <s>
        users = np.cumsum([msg["role"] == "user" for msg in messages])
        assert m.turn.tolist() == np.maximum(users, 1)[m.role_of - 1].tolist()
    assert marks.disagreeing == []
    return split, marks


@pytest.mark.parametrize("mask", [False, True])
def test_plain_text_markers_give_each_message_its_role(plain_model, mask):
    tokenizer = load_tokenizer(plain_model)

    def n_template(role: str) -> int:
        marker = tokenizer.encode(f"<|{role}|>\n", add_special_tokens=False)
        assert len(marker) > 1  # plain text: several tokens, none special
        return len(marker) + len(tokenizer.encode("\n<|end|>\n", add_special_tokens=False))

    check_marks(tokenizer, demo.DATA_DIR.parent / "data-chat", mask, n_template)


def test_the_demos_special_role_tokens_agree_with_the_messages():
    check_marks(load_tokenizer(demo.MODEL_DIR), demo.DATA_DIR.parent / "data-chat", False)


def test_prompt_completion_records_are_a_user_and_an_assistant_message():
    tokenizer = load_tokenizer(demo.MODEL_DIR)
    split = load_split(demo.DATA_DIR.parent / "data-completions", "test", tokenizer, True)
    marks = TokenMarks(split.examples, TokenTexts(tokenizer))
    for e in split.examples:
        m = marks(e.index)
        assert m.role[1:] == ["user", "assistant"]
        assert (np.asarray(m.role)[m.role_of[e.offset:]] == "assistant").all()


def test_a_disagreeing_special_token_reading_is_caught():
    tokenizer = load_tokenizer(demo.MODEL_DIR)
    messages = [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Yo"}]
    tokens = tokenizer.apply_chat_template(messages, return_dict=False)
    chat = message_tokens(tokenizer, messages, None, tokens)
    texts = TokenTexts(tokenizer)
    raw, special = texts.raw(tokens), texts.special_mask(tokens)
    guessed = example_marks(raw, special, texts.template_mask(tokens))
    assert role_disagreements(message_marks(chat, raw, special), guessed).size == 0
    chat.message[:] = 0  # every token the user's: the assistant's content now disagrees
    wrong = role_disagreements(message_marks(chat, raw, special), guessed)
    assert [raw[p] for p in wrong] == [b"Y", b"o"]


LLAMA_2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}"
    "{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}"
    "{% endif %}{% endfor %}")
"""Llama-2's template: the system message inside the first user turn, `[INST]` as text."""
GEMMA = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'assistant' %}"
         "{% set role = 'model' %}{% else %}{% set role = m['role'] %}{% endif %}"
         "{{ '<start_of_turn>' + role + '\\n' + m['content'] | trim + '<end_of_turn>\\n' }}"
         "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}")
"""Gemma's: the assistant written `model`, the content trimmed, markers as plain text here."""


@pytest.mark.parametrize("template", [LLAMA_2, GEMMA, PLAIN_TEMPLATE],
                         ids=["llama-2", "gemma", "plain"])
def test_other_templates_give_each_message_its_content(tmp_path, template):
    tokenizer = load_tokenizer(plain_text_chat_model(tmp_path / "model", template))
    data = demo.DATA_DIR.parent / "data-chat"
    split = load_split(data, "test", tokenizer, True)
    assert split.warnings == []
    texts = TokenTexts(tokenizer)
    marks = TokenMarks(split.examples, texts)
    for example, record in zip(split.examples, records(data)):
        m = marks(example.index)
        assert m.role[1:] == [msg["role"] for msg in record["messages"]]
        assert m.role_of.tolist() == sorted(m.role_of.tolist())  # turns in order
        raw = texts.raw(example.tokens)
        for i, message in enumerate(record["messages"]):
            own = (m.role_of == i + 1) & ~m.template
            assert b"".join(r for r, o in zip(raw, own) if o).strip() \
                == message["content"].strip().encode()
        # mlx-lm's prompt under --mask-prompt is the template's and the earlier messages'
        assert (np.asarray(m.role)[m.role_of[example.offset:]] == "assistant").all()


def test_a_template_that_refuses_a_prefix_falls_back_with_one_warning(tmp_path):
    model = plain_text_chat_model(tmp_path / "model", PLAIN_TEMPLATE.replace(
        "{% for m in messages %}", "{% if messages|length < 2 %}"
        "{{ raise_exception('one message') }}{% endif %}{% for m in messages %}"))
    split = load_split(demo.DATA_DIR.parent / "data-chat", "test", load_tokenizer(model), False)
    assert len(split.warnings) == 1
    assert "guessed from the special tokens, not read from the messages (line 1: the " \
           "template cannot be rendered over the first messages" in split.warnings[0]
    assert all(e.chat is None for e in split.examples)


def role_of_targets(tokenizer, data: Path, tokens: dict) -> np.ndarray:
    roles = [prefix_roles(tokenizer, r["messages"]) for r in records(data)]
    return np.array([roles[int(e)][int(p)] for e, p in zip(tokens["example"],
                                                           tokens["position"])])


def check_role_breakdown(tmp_path, model: Path, data: Path, mask: bool, *flags) -> dict:
    """Headless scoring: the role breakdown's figures are those of the prefix roles."""
    result = score(tmp_path, "--model", str(model), "--data", str(data), "--adapter-path", "",
                   *flags, *(["--mask-prompt"] if mask else []))
    tokens = tokens_of(result["run"], ["base"])
    pieces = pieces_of(result["run"])
    roles = role_of_targets(load_tokenizer(model), data, tokens["base"])
    check_breakdown(result["json"], "role", expected(tokens, ["base"], "base", roles,
                                                     content_bytes(pieces, tokens["base"])))
    groups = {g["group"] for g in result["json"]["groups"]["breakdowns"][0]["groups"]}
    assert groups == ({"assistant"} if mask else {"system", "user", "assistant"})
    return result


@pytest.mark.parametrize("mask", [False, True])
def test_role_breakdown_of_a_plain_text_template(plain_model, tmp_path, mask):
    result = check_role_breakdown(tmp_path, plain_model, demo.DATA_DIR.parent / "data-chat",
                                  mask)
    template = next(b for b in result["json"]["groups"]["breakdowns"] if b["key"] == "template")
    assert {g["group"] for g in template["groups"]} == {"content", "template"}


@pytest.mark.parametrize("mask", [False, True])
def test_role_breakdown_of_the_real_models_chatml_template(real_models, tmp_path, mask):
    data = tmp_path / "data"
    data.mkdir()
    lines = (REAL_DATA / "chat" / "test.jsonl").read_text().splitlines()[:3]
    (data / "test.jsonl").write_text("\n".join(lines) + "\n")
    check_marks(load_tokenizer(real_models.f32), data, mask)
    check_role_breakdown(tmp_path, real_models.f32, data, mask, "--max-seq-length", "96",
                         "--batch-size", "3")


def test_content_that_the_template_also_writes_is_found_in_its_own_place(real_models):
    """SmolLM2's template writes a system prompt of its own ("... by Hugging Face") and the
    role names: content equal to them is still the message's, not the template's."""
    tokenizer = load_tokenizer(real_models.f32)
    messages = [{"role": "user", "content": "Face"}, {"role": "assistant", "content": "assistant"}]
    tokens = tokenizer.apply_chat_template(messages, return_dict=False)
    chat = message_tokens(tokenizer, messages, None, tokens)
    raw = TokenTexts(tokenizer).raw(tokens)
    for i, message in enumerate(messages):
        own = np.nonzero((chat.message == i) & ~chat.template)[0]
        assert b"".join(raw[p] for p in own) == message["content"].encode()
        assert raw[own[-1] + 1] == b"<|im_end|>"  # right before its end of turn
    assert chat.message.tolist() == sorted(chat.message.tolist())
    assert chat.template[-2:].all()  # the assistant's <|im_end|> and newline


MISLABELLED = ("{{ bos_token }}{% for m in messages %}"
               "{{ ('<|user|>' if m['role'] == 'assistant' else '<|' + m['role'] + '|>') + '\n' + "
               "m['content'] + eos_token + '\n' }}{% endfor %}")
"""The demo's special role tokens, the assistant's turns marked as the user's."""


def test_special_tokens_that_contradict_the_messages_are_one_warning(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(demo.MODEL_DIR, model)
    config = json.loads((model / "tokenizer_config.json").read_text())
    config["chat_template"] = MISLABELLED
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    result = score(tmp_path, "--model", str(model), "--data",
                   str(demo.DATA_DIR.parent / "data-chat"), "--adapter-path", "")
    warnings = [line for line in result["stderr"].splitlines() if "special tokens name" in line]
    assert len(warnings) == 1, result["stderr"]
    assert "messages in 21 record(s) (first: line 1); the role breakdown follows the " \
           "messages" in warnings[0]
    role = result["json"]["groups"]["breakdowns"][0]
    assert {g["group"] for g in role["groups"]} == {"system", "user", "assistant"}

"""A hand-built byte-level BPE tokenizer (GPT-2 style) whose merges split CJK characters and
an emoji over several tokens in known ways, saved as a folder `mlx_lm` loads like a model's.

Merges (bytes in hex):
  中 = e4 b8 ad      -> [e4 b8] [ad]            (2 + 1)
  文 = e6 96 87      -> [e6] [96 87]            (1 + 2), or after 中: [ad e6] [96 87]
  中文              -> [e4 b8] [ad e6] [96 87]  (the middle token ends 中 and starts 文)
  字 = e5 ad 97      -> [e5] [ad] [97]          (1 + 1 + 1)
  😀 = f0 9f 98 80   -> [f0] [9f 98 80]         (1 + 3)
plus a few English merges (`Ġthe`, `ing`, `ĠĠ`, `ĠĠĠĠ`) and chat special tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
                 "message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
                 "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table of printable stand-ins for the 256 bytes."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def _s(hex_bytes: str) -> str:
    table = bytes_to_unicode()
    return "".join(table[b] for b in bytes.fromhex(hex_bytes))


MERGES = [
    ("e4", "b8"),      # 中: lead pair
    ("ad", "e6"),      # end of 中 + start of 文
    ("96", "87"),      # 文: tail pair
    ("9f", "98"), ("9f98", "80"),  # 😀 tail: three bytes
]
TEXT_MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("in", "g"), ("Ġ", "Ġ"),
               ("ĠĠ", "ĠĠ")]


def build(folder: Path) -> Path:
    """Write tokenizer.json and tokenizer_config.json into `folder` (created)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for b in range(256):
        vocab.setdefault(bytes_to_unicode()[b], len(vocab))
    merges = []
    for left, right in MERGES:
        a, b = _s(left), _s(right)
        merges.append((a, b))
        vocab.setdefault(a + b, len(vocab))
    for a, b in TEXT_MERGES:
        merges.append((a, b))
        vocab.setdefault(a + b, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIALS)
    tok.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|im_end|>",
              "bos_token": None, "pad_token": "<|endoftext|>", "model_max_length": 4096,
              "additional_special_tokens": ["<|im_start|>"],
              "clean_up_tokenization_spaces": False, "chat_template": CHAT_TEMPLATE}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def load(folder: Path):
    """The tokenizer as ppltop gets it: mlx_lm's TokenizerWrapper."""
    from mlx_lm.utils import load_tokenizer

    return load_tokenizer(Path(folder))

#!/usr/bin/env python
"""Build the demo bundled with ppltop: a tiny llama model, two LoRA adapters, data.

Run from the repository root:

    python scripts/make_demo.py

Everything is written to ``src/ppltop/demo/`` (package data), intermediate files go to
``scripts/.demo-work/`` (gitignored). Nothing is downloaded: all text comes from this
Python installation (see "Text sources" below), so the output is redistributable.

Stages, each deterministic given the same Python / library versions and seeds:

1. corpus      docstrings of Python standard-library modules, cleaned into
               paragraph-sized records and cut into slices (in-domain, docs-net,
               docs-math) plus out-of-domain licence text (Python's LICENSE.txt).
2. tokenizer   a byte-level BPE trained with the `tokenizers` library.
3. base model  a 4-layer llama, trained from scratch with MLX (own loop, AdamW)
               on the in-domain training records.
4. adapters    two LoRA adapters trained with mlx-lm's own CLI
               (`python -m mlx_lm lora`), one per slice.
5. summary     losses of base model and adapters on the test split and per slice,
               written into ``src/ppltop/demo/README.md``.

Text sources
------------
The docstrings depend on the Python version: the bundled demo was produced with
CPython 3.11 (3.11.7). Another minor version gives other docstrings and so other
records; the script still works but the output differs. Modules that fail to import
are skipped (and listed in the README), which also changes the output.

Speed
-----
MLX's Linux CPU wheel uses a reference BLAS. When Intel MKL (the `mkl` wheel, which
puts ``libmkl_rt.so.*`` in ``<sys.prefix>/lib``) is present, the MLX stages run in
subprocesses with ``LD_PRELOAD`` set to it, which is ~25x faster. Without it
everything still works, only slower. ``MKL_CBWR=AUTO`` is set so that MKL gives the
same results run to run on the same machine.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import types
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "src" / "ppltop" / "demo"
WORK = ROOT / "scripts" / ".demo-work"

SEED = 0

# ----------------------------------------------------------------------------------
# Slices: which standard-library modules feed which part of the demo.
# ----------------------------------------------------------------------------------

# In-domain: general-purpose modules (no networking, no numbers/dates). Base training.
IN_DOMAIN_MODULES = """
abc argparse array ast base64 binascii bisect builtins bz2 codecs collections
collections.abc concurrent.futures configparser contextlib contextvars copy csv
dataclasses difflib dis doctest enum filecmp fileinput fnmatch functools gc getopt
gettext glob graphlib gzip hashlib heapq importlib inspect io itertools json keyword
linecache locale logging logging.handlers lzma mmap multiprocessing operator os
pathlib pickle pkgutil platform pprint pstats queue re reprlib sched secrets shelve
shlex shutil signal sqlite3 stat string struct subprocess sys tarfile tempfile
textwrap threading timeit tokenize tomllib traceback types typing unittest
unittest.mock uuid warnings weakref xml.dom.minidom xml.etree.ElementTree zipfile
zlib
""".split()

# Adapter "docs-net": networking, e-mail, HTTP, URLs.
NET_MODULES = """
socket ssl select selectors socketserver http http.client http.server http.cookies
http.cookiejar urllib.request urllib.parse urllib.error urllib.robotparser email
email.message email.parser email.generator email.policy email.headerregistry
email.utils email.header email.charset email.encoders email.feedparser
email.mime.text email.mime.multipart email.mime.base smtplib imaplib poplib ftplib
ipaddress mailbox mimetypes xmlrpc.client xmlrpc.server wsgiref.simple_server
wsgiref.handlers wsgiref.headers wsgiref.util wsgiref.validate webbrowser netrc
""".split()

# Adapter "docs-math": numbers, statistics, dates and times.
MATH_MODULES = """
math cmath statistics decimal fractions numbers random datetime calendar time zoneinfo
""".split()

# Members whose __module__ differs from the module they are documented under.
MODULE_ALIASES = {"os": {"posix", "posixpath"}}

SLICES = {
    "in-domain": IN_DOMAIN_MODULES,
    "docs-net": NET_MODULES,
    "docs-math": MATH_MODULES,
}
ADAPTERS = ("docs-net", "docs-math")
OOD = "out-of-domain"

MIN_CHARS, MAX_CHARS = 100, 450  # record size (mostly < 256 tokens)
LONG_CHARS = 1000  # "long" test records: several records joined, > 256 tokens

# Test split composition: (normal records, long records) per slice. 51 records in all,
# deliberately not a multiple of 4 (mlx-lm drops len % batch_size records).
TEST_PLAN = {"in-domain": (12, 2), "docs-net": (11, 1), "docs-math": (11, 1), OOD: (12, 1)}
VALID_IN_DOMAIN = 40  # data/valid.jsonl
TRAIN_SAMPLE = 240  # data/train.jsonl: a sample of the base model's training records
ADAPTER_VALID = 24  # per adapter slice, in the work dir

# Model and training.
VOCAB_SIZE = 1024
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]
MODEL_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 128,
    "intermediate_size": 384,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "head_dim": 32,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "max_position_embeddings": 1024,
    "tie_word_embeddings": True,
    "attention_bias": False,
    "mlp_bias": False,
    "vocab_size": VOCAB_SIZE,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "float32",
}
BASE_TRAIN = {"steps": 400, "batch": 8, "seq": 256, "lr": 1.2e-3, "min_lr": 1e-4,
              "warmup": 30, "weight_decay": 0.05, "clip": 1.0}
ADAPTER_TRAIN = {"iters": {"docs-net": 300, "docs-math": 150}, "batch": 4, "lr": 1e-3, "num_layers": 4,
                 "max_seq_length": 256, "rank": 8, "scale": 10.0}

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('Only system, user and assistant roles are supported') }}"
    "{% endif %}"
    "{{ '<|' + message['role'] + '|>\n' + (message['content'] | trim) + eos_token + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
SYSTEM_PROMPT = "You answer questions about the Python standard library."


# ----------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------

def log(msg: str) -> None:
    print(f"[make_demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def find_mkl() -> Path | None:
    libdir = Path(sys.prefix) / "lib"
    found = sorted(libdir.glob("libmkl_rt.so*"))
    return found[-1] if found else None


def mlx_env() -> dict:
    """Environment for MLX subprocesses: MKL preloaded when available."""
    env = dict(os.environ)
    mkl = find_mkl()
    if mkl is not None:
        pre = env.get("LD_PRELOAD", "")
        if str(mkl) not in pre.split(":"):
            env["LD_PRELOAD"] = f"{mkl}:{pre}" if pre else str(mkl)
        env.setdefault("MKL_CBWR", "AUTO")
    env["PYTHONHASHSEED"] = "0"
    return env


def run_stage(stage: str) -> None:
    """Run one MLX stage of this script in a subprocess (so LD_PRELOAD applies)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", stage]
    subprocess.run(cmd, env=mlx_env(), check=True)


# ----------------------------------------------------------------------------------
# 1. Corpus
# ----------------------------------------------------------------------------------

def _owner_ok(member_module: str | None, modname: str) -> bool:
    if not isinstance(member_module, str):
        return False
    m = member_module.lstrip("_")
    if m == modname or m.startswith(modname + ".") or m == modname.replace(".", "_"):
        return True
    return m in MODULE_ALIASES.get(modname, set())


def module_docs(modname: str, seen: set[str]) -> list[tuple[str, str]]:
    """(qualified name, cleaned docstring) for a module, its public members, and their
    methods, in sorted order. Docstrings already seen (inherited or shared) are skipped."""
    mod = importlib.import_module(modname)
    out: list[tuple[str, str]] = []

    def add(name: str, obj) -> None:
        doc = getattr(obj, "__doc__", None)
        if not isinstance(doc, str) or not doc.strip():
            return
        doc = inspect.cleandoc(doc)
        if doc in seen:
            return
        seen.add(doc)
        out.append((name, doc))

    add(modname, mod)
    for name in sorted(dir(mod)):
        if name.startswith("_"):
            continue
        obj = getattr(mod, name, None)
        if isinstance(obj, types.ModuleType) or not _owner_ok(getattr(obj, "__module__", None), modname):
            continue
        add(f"{modname}.{name}", obj)
        if inspect.isclass(obj):
            members = vars(obj)
            for mname in sorted(members):
                if mname.startswith("_") and mname != "__init__":
                    continue
                member = members[mname]
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if isinstance(member, (property, types.FunctionType, types.BuiltinFunctionType,
                                       types.MethodDescriptorType, types.WrapperDescriptorType,
                                       types.GetSetDescriptorType, types.MemberDescriptorType,
                                       types.ClassMethodDescriptorType)) or callable(member):
                    add(f"{modname}.{name}.{mname}", member)
    return out


_UNDERLINE = re.compile(r"^\s*([=\-~^*#])\1{2,}\s*$")


def clean_paragraph(para: str) -> str:
    """Prose is reflowed to one line; code (doctest, indented blocks, tables) keeps its lines."""
    lines = [ln.rstrip() for ln in para.split("\n") if not _UNDERLINE.match(ln)]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        return ""
    codeish = any(ln.lstrip().startswith((">>>", "...")) for ln in lines) or (
        len(lines) > 1 and sum(ln.startswith("    ") for ln in lines) >= len(lines) / 2
    )
    if codeish:
        indent = min(len(ln) - len(ln.lstrip()) for ln in lines)
        text = "\n".join(ln[indent:] for ln in lines)
    else:
        text = " ".join(" ".join(lines).split())
    text = text.replace("\t", "    ")
    return text if re.search(r"[A-Za-z]{2}", text) else ""


def split_long(text: str, limit: int) -> list[str]:
    """Split an over-long paragraph at sentence ends (else whitespace) into <= limit chars."""
    if len(text) <= limit:
        return [text]
    pieces = re.split(r"(?<=[.;:])\s+(?=[A-Z(`'\"])", text) if "\n" not in text else text.split("\n")
    sep = " " if "\n" not in text else "\n"
    out, cur = [], ""
    for piece in pieces:
        while len(piece) > limit:  # one huge sentence/line: cut at whitespace
            cut = piece.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            if cur:
                out.append(cur)
                cur = ""
            out.append(piece[:cut].rstrip())
            piece = piece[cut:].lstrip()
        if cur and len(cur) + len(sep) + len(piece) > limit:
            out.append(cur)
            cur = piece
        else:
            cur = f"{cur}{sep}{piece}" if cur else piece
    if cur:
        out.append(cur)
    return [p for p in out if p.strip()]


def doc_paragraphs(name: str, doc: str) -> list[str]:
    paras = [clean_paragraph(p) for p in re.split(r"\n\s*\n", doc)]
    paras = [p for p in paras if p]
    if not paras:
        return []
    paras[0] = f"{name}: {paras[0]}"
    out: list[str] = []
    for p in paras:
        out.extend(split_long(p, MAX_CHARS))
    return out


def pack_records(paragraphs: list[str]) -> list[str]:
    """Greedily join consecutive paragraphs into records of MIN_CHARS..MAX_CHARS."""
    records: list[str] = []
    cur = ""
    for p in paragraphs:
        if cur and len(cur) + 2 + len(p) > MAX_CHARS and len(cur) >= MIN_CHARS:
            records.append(cur)
            cur = p
        else:
            cur = f"{cur}\n\n{p}" if cur else p
    if cur:
        if len(cur) >= MIN_CHARS or not records:
            records.append(cur)
        elif len(records[-1]) + 2 + len(cur) <= MAX_CHARS + MIN_CHARS:
            records[-1] = f"{records[-1]}\n\n{cur}"
    return [r for r in records if len(r) >= MIN_CHARS]


def licence_path() -> Path:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for cand in (stdlib / "LICENSE.txt", Path(sys.base_prefix) / "LICENSE.txt"):
        if cand.is_file():
            return cand
    raise SystemExit(f"Python's LICENSE.txt not found under {stdlib}; the out-of-domain "
                     "slice needs it (Debian/Ubuntu system Pythons omit it: use a "
                     "python.org/pyenv/uv build)")


def build_corpus() -> dict:
    """{slice: [ {"module": m, "records": [...]} ... ]} plus metadata."""
    seen: set[str] = set()
    slices: dict[str, list[dict]] = {}
    skipped: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for slice_name, modules in SLICES.items():
            groups = []
            for modname in modules:
                try:
                    docs = module_docs(modname, seen)
                except Exception as e:  # module missing in this build
                    skipped.append(f"{modname} ({type(e).__name__})")
                    continue
                paragraphs = [p for name, doc in docs for p in doc_paragraphs(name, doc)]
                groups.append({"module": modname, "records": pack_records(paragraphs)})
            slices[slice_name] = groups
    lic = licence_path()
    text = lic.read_text(encoding="utf-8")
    paragraphs = []
    for para in re.split(r"\n\s*\n", text):
        p = clean_paragraph(para)
        if p:
            paragraphs.extend(split_long(p, MAX_CHARS))
    slices[OOD] = [{"module": "LICENSE.txt", "records": pack_records(paragraphs)}]
    return {"slices": slices, "skipped": skipped, "licence": str(lic),
            "python": sys.version.split()[0]}


def split_slice(name: str, groups: list[dict], n_test: int, n_long: int,
                n_valid: int) -> dict[str, list[str]]:
    """Held-out long records (consecutive records of one module joined), then a seeded
    shuffle into test / valid / train."""
    rng = random.Random(f"{SEED}-{name}")
    flat = [(gi, ri) for gi, g in enumerate(groups) for ri in range(len(g["records"]))]
    used: set[tuple[int, int]] = set()
    longs: list[str] = []
    starts = list(flat)
    rng.shuffle(starts)
    for gi, ri in starts:
        if len(longs) >= n_long:
            break
        recs = groups[gi]["records"]
        parts, k = [], ri
        while k < len(recs) and sum(map(len, parts)) < LONG_CHARS and (gi, k) not in used:
            parts.append(recs[k])
            k += 1
        if sum(map(len, parts)) >= LONG_CHARS and len(parts) >= 3:
            used.update((gi, j) for j in range(ri, k))
            longs.append("\n\n".join(parts))
    rest = [groups[gi]["records"][ri] for gi, ri in flat if (gi, ri) not in used]
    rng.shuffle(rest)
    return {"long": longs, "test": rest[:n_test], "valid": rest[n_test:n_test + n_valid],
            "train": rest[n_test + n_valid:]}


def make_qa() -> list[tuple[str, str, str]]:
    """(slice, qualified name, answer) for chat / completions data: the first paragraph
    of documented functions, classes and methods, answer 60..400 characters."""
    seen: set[str] = set()
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for slice_name in SLICES:
            for modname in SLICES[slice_name]:
                try:
                    docs = module_docs(modname, seen)
                except Exception:
                    continue
                for name, doc in docs[1:]:
                    first = clean_paragraph(re.split(r"\n\s*\n", doc)[0])
                    if "\n" in first or not (60 <= len(first) <= 400):
                        continue
                    out.append((slice_name, name, first))
    return out


def stage_corpus() -> dict:
    corpus = build_corpus()
    slices = corpus["slices"]
    parts = {}
    for name in SLICES:
        n_test, n_long = TEST_PLAN[name]
        n_valid = VALID_IN_DOMAIN if name == "in-domain" else ADAPTER_VALID
        parts[name] = split_slice(name, slices[name], n_test, n_long, n_valid)
    n_test, n_long = TEST_PLAN[OOD]
    parts[OOD] = split_slice(OOD, slices[OOD], n_test, n_long, 0)

    # data/: the test split interleaves the slices (seeded), long records included.
    rng = random.Random(f"{SEED}-test")
    test = [(s, t) for s in TEST_PLAN for t in parts[s]["long"] + parts[s]["test"]]
    rng.shuffle(test)
    base_train = parts["in-domain"]["train"]
    train_sample = random.Random(f"{SEED}-train-sample").sample(base_train, TRAIN_SAMPLE)
    data_dir = DEMO / "data"
    # every record says its slice in a "source" key (mlx-lm ignores it; ppltop
    # --group-by source breaks the loss down by it)
    write_jsonl(data_dir / "train.jsonl",
                [{"text": t, "source": "in-domain"} for t in train_sample])
    write_jsonl(data_dir / "valid.jsonl",
                [{"text": t, "source": "in-domain"} for t in parts["in-domain"]["valid"]])
    write_jsonl(data_dir / "test.jsonl", [{"text": t, "source": s} for s, t in test])

    # Work dir: full base training set, adapter slices, test labels.
    write_jsonl(WORK / "base" / "train.jsonl", [{"text": t} for t in base_train])
    write_jsonl(WORK / "base" / "valid.jsonl", [{"text": t} for t in parts["in-domain"]["valid"]])
    for name in ADAPTERS:
        write_jsonl(WORK / name / "train.jsonl", [{"text": t} for t in parts[name]["train"]])
        write_jsonl(WORK / name / "valid.jsonl", [{"text": t} for t in parts[name]["valid"]])
    (WORK / "test_slices.json").write_text(json.dumps([s for s, _ in test]))

    # Chat and completions data (mixed slices; disjoint objects across splits).
    qa = make_qa()
    rng = random.Random(f"{SEED}-qa")
    rng.shuffle(qa)
    sizes = {"train": 48, "valid": 12, "test": 21}
    chat_rows, comp_rows = {}, {}
    pos = 0
    for split, n in sizes.items():
        chat = qa[pos:pos + n]
        comp = qa[pos + n:pos + 2 * n]
        pos += 2 * n
        rows = []
        for i, (source, name, answer) in enumerate(chat):
            msgs = [{"role": "user", "content": f"What does `{name}` do?"},
                    {"role": "assistant", "content": answer}]
            if i % 3 == 0:
                msgs.insert(0, {"role": "system", "content": SYSTEM_PROMPT})
            rows.append({"messages": msgs, "source": source})
        chat_rows[split] = rows
        comp_rows[split] = [{"prompt": f"Explain `{name}` in one paragraph.",
                             "completion": answer, "source": source}
                            for source, name, answer in comp]
    for split in sizes:
        write_jsonl(DEMO / "data-chat" / f"{split}.jsonl", chat_rows[split])
        write_jsonl(DEMO / "data-completions" / f"{split}.jsonl", comp_rows[split])

    counts = {s: {k: len(v) for k, v in parts[s].items()} for s in parts}
    counts["modules"] = {s: [g["module"] for g in slices[s]] for s in slices}
    meta = {"python": corpus["python"], "skipped": corpus["skipped"],
            "licence": corpus["licence"], "counts": counts,
            "test_slices": {s: sum(1 for x, _ in test if x == s) for s in TEST_PLAN},
            "chat_sizes": sizes}
    (WORK / "corpus_meta.json").write_text(json.dumps(meta, indent=1))
    # Text for the tokenizer: training text of all three docstring slices (not the
    # licence text, which stays out-of-domain, and no test/valid records).
    tok_text = base_train + [t for n in ADAPTERS for t in parts[n]["train"]]
    write_jsonl(WORK / "tokenizer_text.jsonl", [{"text": t} for t in tok_text])
    log(f"corpus: python {meta['python']}, records "
        + ", ".join(f"{s}: {sum(counts[s][k] for k in ('long', 'test', 'valid', 'train'))}"
                    for s in parts)
        + f"; test split {len(test)} records; skipped modules: {corpus['skipped'] or 'none'}")
    return meta


# ----------------------------------------------------------------------------------
# 2. Tokenizer
# ----------------------------------------------------------------------------------

def stage_tokenizer() -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    texts = [r["text"] for r in read_jsonl(WORK / "tokenizer_text.jsonl")]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    assert [ids[t] for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS))), ids
    # Like llama: encode() prepends <s>; mlx-lm appends </s> itself.
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", ids["<s>"])]
    )
    model_dir = DEMO / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    tok.save(str(model_dir / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "additional_special_tokens": ["<|system|>", "<|user|>", "<|assistant|>"],
        "model_max_length": MODEL_CONFIG["max_position_embeddings"],
        "clean_up_tokenization_spaces": False,
        "chat_template": CHAT_TEMPLATE,
        "added_tokens_decoder": {
            str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                     "single_word": False, "special": True}
            for i, t in enumerate(SPECIAL_TOKENS)
        },
    }
    (model_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (model_dir / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>",
         "additional_special_tokens": ["<|system|>", "<|user|>", "<|assistant|>"]},
        indent=2) + "\n")
    n_tok = sum(len(tok.encode(t).ids) for t in texts)
    log(f"tokenizer: vocab {tok.get_vocab_size()}, {n_tok} tokens in its training text "
        f"({sum(map(len, texts)) / n_tok:.2f} chars/token)")


# ----------------------------------------------------------------------------------
# 3. Base model (runs in a subprocess)
# ----------------------------------------------------------------------------------

def stage_train_base() -> None:
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    import numpy as np
    from mlx.utils import tree_flatten, tree_unflatten
    from mlx_lm.models import llama
    from tokenizers import Tokenizer

    cfg = BASE_TRAIN
    mx.random.seed(SEED)
    np_rng = np.random.default_rng(SEED)
    model_dir = DEMO / "model"
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    eos = tok.token_to_id("</s>")

    def stream(path: Path) -> np.ndarray:
        texts = [r["text"] for r in read_jsonl(path)]
        ids = [i for e in tok.encode_batch(texts) for i in e.ids + [eos]]  # <s> ... </s>
        return np.array(ids, dtype=np.int32)

    train_ids = stream(WORK / "base" / "train.jsonl")
    valid_ids = stream(WORK / "base" / "valid.jsonl")
    block = cfg["seq"] + 1

    args = llama.ModelArgs.from_dict(MODEL_CONFIG)
    model = llama.Model(args)
    # GPT-2 style init (MLX's defaults let the random blocks drown the embeddings,
    # which slows early training a lot): N(0, 0.02), residual outputs scaled down.
    init_std = cfg.get("init_std")
    resid_std = (init_std or 0) / math.sqrt(2 * args.num_hidden_layers)
    new = []
    for name, w in tree_flatten(model.parameters()) if init_std else []:
        if name.endswith("norm.weight"):
            continue
        std = resid_std if name.endswith(("o_proj.weight", "down_proj.weight")) else init_std
        new.append((name, std * mx.random.normal(w.shape)))
    model.update(tree_unflatten(new))
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    log(f"base model: {n_params / 1e6:.2f}M parameters, {len(train_ids)} training tokens, "
        f"{cfg['steps']} steps of {cfg['batch']}x{cfg['seq']} "
        f"(~{cfg['steps'] * cfg['batch'] * cfg['seq'] / len(train_ids):.1f} epochs)")

    warm = optim.linear_schedule(1e-5, cfg["lr"], cfg["warmup"])
    decay = optim.cosine_decay(cfg["lr"], cfg["steps"] - cfg["warmup"], cfg["min_lr"])
    schedule = optim.join_schedules([warm, decay], [cfg["warmup"]])
    opt = optim.AdamW(learning_rate=schedule, weight_decay=cfg["weight_decay"])

    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    value_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    from functools import partial

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = value_and_grad(model, x, y)
        grads, _ = optim.clip_grad_norm(grads, cfg["clip"])
        opt.update(model, grads)
        return loss

    def batches():
        n_blocks = (len(train_ids) - 1) // cfg["seq"]
        while True:
            shift = int(np_rng.integers(0, cfg["seq"]))
            starts = shift + cfg["seq"] * np.arange(n_blocks - 1)
            np_rng.shuffle(starts)
            for i in range(0, len(starts) - cfg["batch"] + 1, cfg["batch"]):
                b = np.stack([train_ids[s:s + block] for s in starts[i:i + cfg["batch"]]])
                yield mx.array(b[:, :-1]), mx.array(b[:, 1:])

    def valid_loss() -> float:
        n = (len(valid_ids) - 1) // cfg["seq"]
        b = np.stack([valid_ids[i * cfg["seq"]:i * cfg["seq"] + block] for i in range(n)])
        model.eval()
        loss = loss_fn(model, mx.array(b[:, :-1]), mx.array(b[:, 1:])).item()
        model.train()
        return loss

    model.train()
    t0 = time.perf_counter()
    it = batches()
    running = []
    for i in range(1, cfg["steps"] + 1):
        x, y = next(it)
        loss = step(x, y)
        mx.eval(state, loss)
        running.append(loss.item())
        if i % cfg.get("log_every", 50) == 0 or i == cfg["steps"]:
            log(f"  step {i:4d}  train loss {np.mean(running):.3f}  valid loss "
                f"{valid_loss():.3f}  ({time.perf_counter() - t0:.0f}s)")
            running = []

    weights = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(str(model_dir / "model.safetensors"), weights,
                        metadata={"format": "mlx"})
    (model_dir / "config.json").write_text(json.dumps(MODEL_CONFIG, indent=2) + "\n")


# ----------------------------------------------------------------------------------
# 4. Adapters (mlx-lm's own CLI)
# ----------------------------------------------------------------------------------

def train_adapter(name: str) -> None:
    cfg = ADAPTER_TRAIN
    out = DEMO / "adapters" / name
    if out.exists():
        shutil.rmtree(out)
    yaml_path = WORK / f"{name}.yaml"
    # mlx-lm reads LoRA rank/scale only from a config file.
    yaml_path.write_text(
        "lora_parameters:\n"
        f"  rank: {cfg['rank']}\n  scale: {cfg['scale']}\n  dropout: 0.0\n"
    )
    cmd = [
        sys.executable, "-m", "mlx_lm", "lora",
        "-c", str(yaml_path),
        "--model", str(DEMO / "model"),
        "--train",
        "--data", str(WORK / name),
        "--adapter-path", str(out),
        "--iters", str(cfg["iters"][name]),
        "--batch-size", str(cfg["batch"]),
        "--num-layers", str(cfg["num_layers"]),
        "--learning-rate", str(cfg["lr"]),
        "--max-seq-length", str(cfg["max_seq_length"]),
        "--steps-per-report", "50",
        "--steps-per-eval", str(cfg["iters"][name]),
        "--val-batches", "-1",
        "--save-every", str(cfg["iters"][name] * 10),
        "--seed", str(SEED),
    ]
    log(f"adapter {name}: {' '.join(cmd[1:4])} ...")
    subprocess.run(cmd, env=dict(mlx_env(), NO_COLOR="1"), check=True, cwd=WORK)
    for extra in out.iterdir():
        if extra.name not in ("adapter_config.json", "adapters.safetensors"):
            extra.unlink()
    # Relative paths in the shipped config: no trace of this machine.
    conf = json.loads((out / "adapter_config.json").read_text())
    conf["model"] = "ppltop/demo/model"
    conf["data"] = f"(built by scripts/make_demo.py: slice {name})"
    conf["adapter_path"] = f"adapters/{name}"
    conf["config"] = None
    (out / "adapter_config.json").write_text(json.dumps(conf, indent=4) + "\n")


# ----------------------------------------------------------------------------------
# 5. Summary (runs in a subprocess)
# ----------------------------------------------------------------------------------

def stage_evaluate() -> None:
    import mlx.core as mx
    import mlx.nn as nn
    from mlx_lm import load
    from mlx_lm.tuner.datasets import CacheDataset, load_local_dataset
    from mlx_lm.tuner.trainer import evaluate
    from mlx_lm.tuner.utils import load_adapters

    labels = json.loads((WORK / "test_slices.json").read_text())
    results = {}
    for variant in ("base",) + ADAPTERS:
        model, tok = load(str(DEMO / "model"))
        if variant != "base":
            model = load_adapters(model, str(DEMO / "adapters" / variant))
        model.eval()
        conf = types.SimpleNamespace(mask_prompt=False)
        _, _, test = load_local_dataset(DEMO / "data", tok, conf)
        test = CacheDataset(test)
        res = {}
        # What `mlx_lm lora --test` reports (batch 4, last len % 4 records dropped).
        res["mlx_lm_test"] = evaluate(model, test, batch_size=4, num_batches=-1,
                                      max_seq_length=2048)
        res["mlx_lm_test_256"] = evaluate(model, test, batch_size=4, num_batches=-1,
                                          max_seq_length=256)
        # Per record, all records, no truncation: per-slice means over tokens.
        sums: dict[str, list[float]] = {}
        for i in range(len(test)):
            ids, _ = test[i]
            x = mx.array(ids)[None]
            ce = nn.losses.cross_entropy(model(x[:, :-1]), x[:, 1:], reduction="sum").item()
            s = sums.setdefault(labels[i], [0.0, 0])
            s[0] += ce
            s[1] += len(ids) - 1
        res["per_slice"] = {k: v[0] / v[1] for k, v in sums.items()}
        res["all_records"] = sum(v[0] for v in sums.values()) / sum(v[1] for v in sums.values())
        results[variant] = res
        lengths = [len(test[i][0]) for i in range(len(test))]
    results["test_lengths"] = lengths
    (WORK / "results.json").write_text(json.dumps(results, indent=1))


def write_readme(meta: dict, results: dict, runtime_s: float) -> None:
    logv = math.log(VOCAB_SIZE)
    lengths = results["test_lengths"]
    n_long = sum(n > 256 for n in lengths)
    n_joined = sum(n for _, n in TEST_PLAN.values())
    counts = meta["counts"]
    mods = counts["modules"]
    rows = []
    for variant in ("base",) + ADAPTERS:
        r = results[variant]
        ps = r["per_slice"]
        name = "base model" if variant == "base" else f"+ adapter `{variant}`"
        rows.append(f"| {name} | {r['mlx_lm_test']:.3f} | {r['all_records']:.3f} | "
                    + " | ".join(f"{ps[s]:.3f}" for s in TEST_PLAN) + " |")
    sizes = []
    for p in sorted(DEMO.rglob("*")):
        if p.is_file() and p.name != "README.md" and "__pycache__" not in p.parts:
            sizes.append(f"| `{p.relative_to(DEMO)}` | {p.stat().st_size / 1024:.1f} KiB |")
    mc = MODEL_CONFIG
    text = f"""# ppltop demo bundle

Generated by `scripts/make_demo.py` (do not edit by hand; rerun the script instead).
Run `ppltop` with no `--model`/`--data` to score this model and both adapters.

Everything here was produced offline from text that ships with CPython itself: its
docstrings (PSF License Version 2) and its `LICENSE.txt` (licence texts, quoted in
paragraphs). The model, adapters and data files are distributed with this project.
Built with CPython {meta['python']}; docstrings change between Python versions, so
another Python builds different records.

## Text sources and slices

| slice | source | used for |
|---|---|---|
| `in-domain` | docstrings of {len(mods['in-domain'])} general stdlib modules: {', '.join(f'`{m}`' for m in mods['in-domain'])} | base model training, `data/` |
| `docs-net` | docstrings of {len(mods['docs-net'])} networking / e-mail / HTTP modules: {', '.join(f'`{m}`' for m in mods['docs-net'])} | adapter `docs-net`, test split |
| `docs-math` | docstrings of {len(mods['docs-math'])} number / statistics / date-time modules: {', '.join(f'`{m}`' for m in mods['docs-math'])} | adapter `docs-math`, test split |
| `out-of-domain` | Python's own `LICENSE.txt` (history of the software and the PSF, BeOpen, CNRI, CWI and 0BSD licence texts) | test split only; never trained on, not even by the tokenizer |

Docstrings are those of each module, its public members (sorted by name) and their
methods, taken with `inspect`; a docstring is used once even if several objects share
it. Paragraphs are reflowed (code and doctest blocks keep their lines), the first
paragraph of each object is prefixed with its qualified name, and consecutive
paragraphs of one module are packed into records of {MIN_CHARS}-{MAX_CHARS} characters.
Records are split at random (fixed seeds) into train / valid / test per slice.
Skipped modules (not importable here): {', '.join(meta['skipped']) or 'none'}.

## Files

- `model/`: llama, {mc['num_hidden_layers']} layers, hidden {mc['hidden_size']},
  {mc['num_attention_heads']} heads, MLP {mc['intermediate_size']}, tied embeddings,
  float32; vocabulary {VOCAB_SIZE} (byte-level BPE trained on the training records of
  the three docstring slices). Special tokens: `<pad>` = 0 (never produced by
  encoding text), `<s>` = 1 (prepended by the tokenizer), `</s>` = 2 (EOS, also ends
  every chat turn), `<|system|>`, `<|user|>`, `<|assistant|>`. The chat template is
  `<s><|role|>\\ncontent</s>\\n...`, with `<|assistant|>\\n` as the generation prompt.
  Trained from scratch with MLX (AdamW, {BASE_TRAIN['steps']} steps of
  {BASE_TRAIN['batch']}x{BASE_TRAIN['seq']} packed tokens) on the
  {counts['in-domain']['train']} in-domain training records. It never saw positions past
  {BASE_TRAIN['seq']}, so its loss rises somewhat there (the long test records show it).
- `adapters/docs-net/`, `adapters/docs-math/`: LoRA adapters trained with
  `python -m mlx_lm lora` (rank {ADAPTER_TRAIN['rank']}, scale {ADAPTER_TRAIN['scale']},
  all {ADAPTER_TRAIN['num_layers']} layers, {ADAPTER_TRAIN['iters']['docs-net']} and
  {ADAPTER_TRAIN['iters']['docs-math']} iterations, batch
  {ADAPTER_TRAIN['batch']}, learning rate {ADAPTER_TRAIN['lr']}) on the training records
  of their slice ({counts['docs-net']['train']} and {counts['docs-math']['train']} records).
- `data/` (`{{"text": ...}}`): `test.jsonl` has {len(lengths)} records, not a multiple of 4, so
  mlx-lm's batching drops the last {len(lengths) % 4} at batch size 4; the slices are
  interleaved: {', '.join(f"{v} {k}" for k, v in meta['test_slices'].items())}.
  {n_long} test records are longer than 256 tokens ({n_joined} of them made by joining
  several consecutive records of one source, up to {max(lengths)} tokens), so
  `--max-seq-length 256` truncates them. `valid.jsonl`:
  {counts['in-domain']['valid']} held-out in-domain records. `train.jsonl`: a
  {TRAIN_SAMPLE}-record sample of the base model's training records (the full set is
  rebuilt by the script).
- `data-chat/` (`{{"messages": ...}}`, user asks "What does `X` do?", assistant answers
  with the first paragraph of its docstring; every third record has a system message)
  and `data-completions/` (`{{"prompt": ..., "completion": ...}}`): {meta['chat_sizes']['train']} /
  {meta['chat_sizes']['valid']} / {meta['chat_sizes']['test']} records (train / valid / test), objects from all three
  docstring slices, no object in two splits.
- Every record names its slice in a `"source"` key (`in-domain`, `docs-net`, `docs-math`,
  `out-of-domain`), which mlx-lm ignores (its figure is the same with or without it) and
  `ppltop --group-by source` breaks the loss down by (the demo's default).
  `python scripts/make_demo.py --data-only` rewrites the data files alone.

## Losses at build time

Mean loss per token (nats) on `data/test.jsonl`; uniform over the vocabulary would
be log {VOCAB_SIZE} = {logv:.3f}. "mlx-lm" is what `mlx_lm lora --test` computes (batch
size 4, last {len(lengths) % 4} records dropped, max length 2048); the other columns use
every record, per slice.

| | mlx-lm | all records | {' | '.join(TEST_PLAN)} |
|---|---|---|{'---|' * len(TEST_PLAN)}
{chr(10).join(rows)}

| file | size |
|---|---|
{chr(10).join(sizes)}

Build time: {runtime_s / 60:.1f} min (MKL: {'yes' if find_mkl() else 'no'}).
"""
    (DEMO / "README.md").write_text(text)


# ----------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stage", choices=["train-base", "evaluate"], help=argparse.SUPPRESS)
    ap.add_argument("--skip-base", action="store_true",
                    help="reuse the existing model (rebuild data and adapters only)")
    ap.add_argument("--data-only", action="store_true",
                    help="rewrite the data files only (model and adapters stay as built)")
    ap.add_argument("--readme-only", action="store_true",
                    help="rewrite README.md from the last build's results in the work dir")
    args = ap.parse_args()
    if args.stage == "train-base":
        return stage_train_base()
    if args.stage == "evaluate":
        return stage_evaluate()
    if args.data_only:
        WORK.mkdir(parents=True, exist_ok=True)
        stage_corpus()
        return None
    if args.readme_only:
        results = json.loads((WORK / "results.json").read_text())
        meta = json.loads((WORK / "corpus_meta.json").read_text())
        return write_readme(meta, results, results.get("runtime_s", float("nan")))

    t0 = time.perf_counter()
    mkl = find_mkl()
    log(f"MLX subprocesses will use {'MKL: ' + str(mkl) if mkl else 'the bundled BLAS (slow)'}")
    WORK.mkdir(parents=True, exist_ok=True)
    keep_model = args.skip_base and (DEMO / "model" / "model.safetensors").exists()
    for sub in ("data", "data-chat", "data-completions", "adapters"):
        shutil.rmtree(DEMO / sub, ignore_errors=True)
    if not keep_model:
        shutil.rmtree(DEMO / "model", ignore_errors=True)
    meta = stage_corpus()
    if not keep_model:
        stage_tokenizer()
        run_stage("train-base")
    for name in ADAPTERS:
        train_adapter(name)
    run_stage("evaluate")
    results = json.loads((WORK / "results.json").read_text())
    runtime = time.perf_counter() - t0
    results["runtime_s"] = runtime
    (WORK / "results.json").write_text(json.dumps(results, indent=1))
    write_readme(meta, results, runtime)
    logv = math.log(VOCAB_SIZE)
    log(f"done in {runtime / 60:.1f} min; log V = {logv:.3f}")
    for variant in ("base",) + ADAPTERS:
        r = results[variant]
        log(f"  {variant:10s} test (mlx-lm) {r['mlx_lm_test']:.3f}  per slice "
            + "  ".join(f"{k} {v:.3f}" for k, v in r["per_slice"].items()))
    total = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    log(f"demo folder: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

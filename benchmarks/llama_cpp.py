"""llama.cpp's `llama-perplexity` on the same weights and text, for `bench_scoring.py`.

ppltop neither ships nor builds llama.cpp: the binaries come from `--llama-cpp DIR` or
`PPLTOP_LLAMA_CPP`, and every helper here says in one line why its rows are skipped when
something is missing. The F32 GGUF is made once from the shipped Q4_1 file with
`llama-quantize --allow-requantize ... F32` (a dequantized copy: the same shapes and the same
float32 work as the model's own weights, though not the same values).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

BINARIES = ("llama-perplexity", "llama-quantize")
ENV_VAR = "PPLTOP_LLAMA_CPP"


def find_binaries(folder: str | None) -> tuple[dict[str, Path] | None, str]:
    """The two binaries in `folder`, its bin/ or its build/bin/; else None and why not."""
    if not folder:
        return None, f"no llama.cpp given (--llama-cpp DIR or {ENV_VAR})"
    root = Path(folder).expanduser()
    for where in (root, root / "bin", root / "build" / "bin"):
        found = {name: where / name for name in BINARIES}
        if all(p.is_file() and os.access(p, os.X_OK) for p in found.values()):
            return found, ""
    return None, f"no {' and '.join(BINARIES)} in {root} (nor its bin/ or build/bin/)"


def shipped_gguf(model: Path, explicit: Path | None) -> tuple[Path | None, str]:
    """The Q4_1 GGUF to score: `explicit`, else the one beside the model's folder."""
    if explicit is not None:
        return (explicit, "") if explicit.is_file() else (None, f"no GGUF file {explicit}")
    # not the F32 copies f32_copy() caches there (their names hold Q4_1 too)
    found = sorted(p for p in model.resolve().parent.glob("*Q4_1*.gguf")
                   if ".as-F32" not in p.name)
    if not found:
        return None, f"no *Q4_1*.gguf beside {model} (pass --gguf FILE)"
    return found[0], ""


def f32_copy(quantize: Path, gguf: Path) -> Path:
    """`gguf` dequantized to F32, cached beside it (or in a temporary folder when that one
    is read-only); written under a temporary name first, so a run in parallel never reads
    half a file."""
    out = gguf.with_name(f"{gguf.stem}.as-F32.gguf")
    if out.is_file():
        return out
    if not os.access(gguf.parent, os.W_OK):
        out = Path(tempfile.mkdtemp()) / out.name
    partial = out.with_name(f"{out.name}.{os.getpid()}.partial")
    done = subprocess.run([str(quantize), "--allow-requantize", str(gguf), str(partial), "F32"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"llama-quantize failed: {done.stderr.strip().splitlines()[-1:]}")
    os.replace(partial, out)
    return out


def record_text(record: dict) -> str:
    """A record's text as one string: `text`, prompt then completion, or a chat's turns."""
    if "text" in record:
        return record["text"]
    if "prompt" in record:
        return record["prompt"] + record.get("completion", "")
    return "\n".join(m.get("content", "") for m in record.get("messages", []))


def write_raw_text(data: Path, out: Path) -> Path:
    """The test split's records as one raw text file, a blank line between records:
    llama-perplexity reads plain text, tokenizes all of it, and cuts the tokens into chunks
    of -c (a record can straddle two chunks; there is no per-record scoring there)."""
    lines = (data / "test.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [record_text(json.loads(line)) for line in lines if line.strip()]
    out.write_text("\n\n".join(texts) + "\n", encoding="utf-8")
    return out


def perplexity_cmd(binary: Path, gguf: Path, text: Path, context: int, threads: int) -> list[str]:
    return [str(binary), "-m", str(gguf), "-f", str(text), "-c", str(context),
            "-t", str(threads)]


def _stamp(text: str, what: str) -> float | None:
    """Seconds since the start of the log entry `what`: this build of llama.cpp stamps
    each entry with minutes.seconds.milliseconds.microseconds ("2.07.199.528 I ...")."""
    # not anchored to a line start: through a pipe, the progress shares its line with the
    # next stamp ("... ETA 0.30.481.515 I Final estimate ...")
    m = re.search(r"(\d+)\.(\d{2})\.(\d{3})\.(\d{3}) I (?:perplexity: )?" + re.escape(what),
                  text)
    if not m:
        return None
    minutes, seconds, ms, us = (int(g) for g in m.groups())
    return minutes * 60 + seconds + ms / 1e3 + us / 1e6


def scoring_seconds(text: str) -> float:
    """From the start of the chunks to the final estimate: the scoring alone, without
    loading and tokenizing. Older builds print a "prompt eval time" line; newer ones only
    "seconds per pass" after the first pass, so their line time stamps tell it."""
    evals = re.search(r"prompt eval time =\s*([\d.]+) ms", text)
    if evals:
        return float(evals.group(1)) / 1000
    start, end = _stamp(text, "calculating perplexity over"), _stamp(text, "Final estimate")
    return end - start if start is not None and end is not None else float("nan")


def parse_output(text: str) -> dict | None:
    """Chunks, positions evaluated, targets scored, PPL and scoring time of one run's log.

    Each chunk of n_ctx positions is run whole, but only its second half is scored
    (n_ctx - n_ctx/2 - 1 targets): the first half is context."""
    m = re.search(r"calculating perplexity over (\d+) chunks, n_ctx=(\d+)", text)
    if not m:
        return None
    chunks, n_ctx = int(m.group(1)), int(m.group(2))
    ppl = re.search(r"Final estimate: PPL = ([\d.]+)", text)
    return {"chunks": chunks, "n_ctx": n_ctx, "positions": chunks * n_ctx,
            "targets": chunks * (n_ctx - n_ctx // 2 - 1),
            "ppl": float(ppl.group(1)) if ppl else float("nan"),
            "eval_s": scoring_seconds(text), "eval_positions": chunks * n_ctx}

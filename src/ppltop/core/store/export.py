"""Exports of a finished (or partial) run: CSV summaries, per-example CSV, per-token .npz.

`tokens-<label>.npz` holds, for every scored token of that label, in example order:
`example` (int32), `position` (int32, index in the example's tokens), `target` (id),
`logprob` (float32, nats), `entropy` (float16, nats), `rank` (1 = top choice),
`top_ids` ([n, 5]) and `top_logprobs` (float16 [n, 5]), and `kl` (float32, nats) when
the run used --kl. Ids and ranks are uint16 for vocabularies under 65,536 ids, else int32
(see `results.py`). With the tokenizer at hand it also holds each target's exact bytes:
`piece_bytes` (uint8) and `piece_offsets` (int64 [n + 1]; target i is
`piece_bytes[piece_offsets[i]:piece_offsets[i + 1]]`), so a CJK character split over two
tokens is two byte strings that join into its UTF-8, never a replacement character.

`pieces.npz` holds every token of every example (scored or not) the same way: `example`,
`position`, `token_id`, `special` and `template` (bool), `piece_bytes`, `piece_offsets`;
joining an example's pieces gives, byte for byte, the text the model read (chat template
and special tokens included; without the special tokens, a text record's exact bytes).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint_files import label_iteration
from ..data.split import Example
from ..data.token_marks import TokenMarks
from ..data.token_text import TokenTexts
from ..figures.compare import Comparison
from ..figures.models import KL_COLUMNS
from ..figures.results import ExampleResult
from ..figures.summary import RunSummary
from ..mlx_lm import present
from .events import DocumentSource

SUMMARY_FIELDS = ("label", "iteration", "adapter", "loss", "ppl", "ppl_ci95_low",
                  "ppl_ci95_high", "stderr_loss", "tokens", "examples", "bits_per_token",
                  "bits_per_byte", "tokens_per_s", "mlx_lm_loss", "mlx_lm_ppl", "mlx_lm_tokens",
                  "dropped_examples", "pad_targets", "complete", "reference", "delta_loss",
                  "delta_ci95_low", "delta_ci95_high", "win_share", "significant",
                  "model", "ppl_ratio", "kl_mean", "kl_ci95_low", "kl_ci95_high", "kl_p90",
                  "kl_p99", "kl_p99.9", "kl_max", "same_top", "peak_memory_bytes", "kl_note")


def summary_rows(summaries: Sequence[RunSummary], comparisons: Sequence[Comparison] = ()
                 ) -> list[dict[str, Any]]:
    """One row per label; with comparisons, each label's against the reference (the
    engine's own objects: the same figures as the printout and the JSON)."""
    against = {c.label: c for c in comparisons}
    reference = comparisons[0].reference if comparisons else ""
    rows = []
    for s in summaries:
        f = s.mlx_lm
        shown = present(f)
        c = against.get(s.label)
        rows.append({
            "label": s.label, "iteration": label_iteration(s.label),
            "adapter": s.adapter or "", "loss": s.loss, "ppl": s.ppl,
            "ppl_ci95_low": s.ppl_ci95[0], "ppl_ci95_high": s.ppl_ci95[1],
            "stderr_loss": s.stderr_loss, "tokens": s.tokens, "examples": s.examples,
            "bits_per_token": s.bits_per_token, "bits_per_byte": s.bits_per_byte,
            "tokens_per_s": s.tokens_per_s,
            # empty, not nan, where mlx-lm has no figure (refused, or not yet)
            "mlx_lm_loss": shown.loss if shown else "", "mlx_lm_ppl": shown.ppl if shown else "",
            "mlx_lm_tokens": f.tokens if f else 0,
            "dropped_examples": f.dropped_examples if f else 0,
            "pad_targets": f.pad_targets if f else 0, "complete": s.complete,
            "reference": reference,
            "delta_loss": c.delta_loss if c else "", "delta_ci95_low": c.delta_ci95[0] if c else "",
            "delta_ci95_high": c.delta_ci95[1] if c else "", "win_share": c.win_share if c else "",
            "significant": c.significant if c else "",
            **_model_columns(s, c),
        })
    return rows


def _model_columns(s: RunSummary, c: Comparison | None) -> dict[str, Any]:
    """The models table's figures (and KL with --kl); empty where not computed."""
    k = c.kld if c is not None else None
    out: dict[str, Any] = {
        "model": s.model or "", "ppl_ratio": c.ppl_ratio if c else "",
        "kl_mean": k["mean"] if k else "", "kl_ci95_low": k["ci95"][0] if k else "",
        "kl_ci95_high": k["ci95"][1] if k else "", "kl_max": k["max"] if k else "",
        "same_top": k["same_top"] if k else "",
        "peak_memory_bytes": s.peak_memory_bytes or "", "kl_note": s.kl_note or ""}
    for q in KL_COLUMNS:
        out[f"kl_p{q}"] = k["percentiles"][q] if k else ""
    return out


def write_summary_csv(path: Path, summaries: Sequence[RunSummary],
                      comparisons: Sequence[Comparison] = ()) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        writer.writerows(summary_rows(summaries, comparisons))


def write_splits_csv(path: Path, finished_by_split: dict[str, Any]) -> None:
    """A run over several splits: the rows of each split's run, a `split` column first."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=("split", *SUMMARY_FIELDS))
        writer.writeheader()
        for split, finished in finished_by_split.items():
            writer.writerows({"split": split, **row}
                             for row in summary_rows(finished.summaries, finished.comparisons))


def write_examples_csv(path: Path, results: dict[str, dict[int, ExampleResult]],
                       lines: dict[int, int]) -> None:
    """One row per label and example: tokens, mean and total loss, worst token."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", "example", "line", "tokens", "mean_loss", "total_loss",
                         "worst_position", "worst_token", "worst_bits", "bytes", "truncated"])
        for label, by_example in results.items():
            for index in sorted(by_example):
                r = by_example[index]
                if r.n_tokens:
                    worst = int(np.argmin(np.where(np.isfinite(r.logprob), r.logprob, np.inf)))
                    wp, wt = int(r.positions[worst]), int(r.targets[worst])
                    wb = float(-r.logprob[worst] / math.log(2))
                else:
                    wp, wt, wb = -1, -1, math.nan
                writer.writerow([label, index, lines.get(index, ""), r.n_tokens,
                                 f"{r.mean_loss:.6f}", f"{r.loss_sum:.6f}", wp, wt, f"{wb:.4f}",
                                 r.n_bytes, r.truncated])


def _packed(pieces: list[bytes]) -> dict[str, np.ndarray]:
    """Byte strings as one uint8 array and int64 offsets (n + 1)."""
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return {"piece_bytes": np.frombuffer(b"".join(pieces), dtype=np.uint8),
            "piece_offsets": offsets}


def unpack_pieces(arrays: Mapping[str, np.ndarray]) -> list[bytes]:
    """The byte strings `_packed` stored (from a loaded .npz)."""
    data, offsets = arrays["piece_bytes"].tobytes(), arrays["piece_offsets"]
    return [data[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


def write_pieces_npz(path: Path, examples: list[Example], token_texts: TokenTexts,
                     marks: TokenMarks) -> None:
    """Every token of every example: ids, exact bytes, special and template flags."""
    arrays: dict[str, list[np.ndarray]] = {"example": [], "position": [], "token_id": [],
                                           "special": [], "template": []}
    pieces: list[bytes] = []
    for e in examples:
        arrays["example"].append(np.full(len(e.tokens), e.index, np.int32))
        arrays["position"].append(np.arange(len(e.tokens), dtype=np.int32))
        arrays["token_id"].append(np.asarray(e.tokens, dtype=np.int32))
        arrays["special"].append(token_texts.special_mask(e.tokens))
        arrays["template"].append(marks(e.index).template)
        pieces.extend(token_texts.raw(e.tokens))
    out = {k: (np.concatenate(v) if v else np.zeros(0, np.int32)) for k, v in arrays.items()}
    np.savez_compressed(path, **out, **_packed(pieces))  # type: ignore[arg-type]


def write_tokens_npz(path: Path, by_example: dict[int, ExampleResult],
                     examples: list[Example] | None = None,
                     token_texts: TokenTexts | None = None) -> None:
    ordered = [by_example[i] for i in sorted(by_example)]
    arrays = {
        "example": np.concatenate([np.full(r.n_tokens, r.example, np.int32) for r in ordered])
        if ordered else np.zeros(0, np.int32),
    }
    for out, name in (("position", "positions"), ("target", "targets"), ("logprob", "logprob"),
                      ("entropy", "entropy"), ("rank", "rank"), ("top_ids", "top_ids"),
                      ("top_logprobs", "top_logprobs")):
        arrays[out] = (np.concatenate([getattr(r, name) for r in ordered]) if ordered
                       else np.zeros(0))
    if ordered and all(r.kl is not None for r in ordered):
        arrays["kl"] = np.concatenate([r.kl for r in ordered])
    if token_texts is not None and examples is not None:
        pieces: list[bytes] = []
        for r in ordered:
            pieces.extend(token_texts.raw(examples[r.example].tokens[r.positions]))
        arrays.update(_packed(pieces))
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]


def export_run(folder: Path, summaries: Sequence[RunSummary],
               results: dict[str, dict[int, ExampleResult]], lines: dict[int, int],
               source: DocumentSource | None = None,
               comparisons: Sequence[Comparison] = ()) -> list[Path]:
    """summary.csv, examples.csv and tokens-<label>.npz into `folder`; with the run's
    `DocumentSource`, the tokens' exact bytes too, and pieces.npz."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "summary.csv", folder / "examples.csv"]
    write_summary_csv(written[0], summaries, comparisons)
    write_examples_csv(written[1], results, lines)
    examples = source.examples if source is not None else None
    texts = source.token_texts if source is not None else None
    for number, label in enumerate(results):
        path = folder / f"tokens-{number}-{_safe(label)}.npz"
        write_tokens_npz(path, results[label], examples, texts)
        written.append(path)
    if source is not None:
        written.append(folder / "pieces.npz")
        write_pieces_npz(written[-1], source.examples, source.token_texts, source.marks)
    return written


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in label)

"""Exports of a finished (or partial) run: CSV summaries, per-example CSV, per-token .npz.

`tokens-<label>.npz` holds, for every scored token of that label, in example order:
`example` (int32), `position` (int32, index in the example's tokens), `target` (id),
`logprob` (float32, nats), `entropy` (float16, nats), `rank` (1 = top choice),
`top_ids` ([n, 5]) and `top_logprobs` (float16 [n, 5]), and `kl` (float32, nats) when
the run used --kl. Ids and ranks are uint16 for vocabularies under 65,536 ids, else int32
(see `results.py`).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from .results import ExampleResult

SUMMARY_FIELDS = ("label", "adapter", "loss", "ppl", "ppl_ci95_low", "ppl_ci95_high",
                  "stderr_loss", "tokens", "examples", "bits_per_token", "bits_per_byte",
                  "tokens_per_s", "mlx_lm_loss", "mlx_lm_ppl", "mlx_lm_tokens",
                  "dropped_examples", "pad_targets", "complete")


def summary_rows(summaries) -> list[dict]:
    rows = []
    for s in summaries:
        f = s.mlx_lm
        rows.append({
            "label": s.label, "adapter": s.adapter or "", "loss": s.loss, "ppl": s.ppl,
            "ppl_ci95_low": s.ppl_ci95[0], "ppl_ci95_high": s.ppl_ci95[1],
            "stderr_loss": s.stderr_loss, "tokens": s.tokens, "examples": s.examples,
            "bits_per_token": s.bits_per_token, "bits_per_byte": s.bits_per_byte,
            "tokens_per_s": s.tokens_per_s,
            "mlx_lm_loss": f.loss if f else math.nan, "mlx_lm_ppl": f.ppl if f else math.nan,
            "mlx_lm_tokens": f.tokens if f else 0,
            "dropped_examples": f.dropped_examples if f else 0,
            "pad_targets": f.pad_targets if f else 0, "complete": s.complete,
        })
    return rows


def write_summary_csv(path: Path, summaries) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        writer.writerows(summary_rows(summaries))


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


def write_tokens_npz(path: Path, by_example: dict[int, ExampleResult]) -> None:
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
    np.savez_compressed(path, **arrays)


def export_run(folder: Path, summaries, results: dict[str, dict[int, ExampleResult]],
               lines: dict[int, int]) -> list[Path]:
    """summary.csv, examples.csv and tokens-<label>.npz into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "summary.csv", folder / "examples.csv"]
    write_summary_csv(written[0], summaries)
    write_examples_csv(written[1], results, lines)
    for number, label in enumerate(results):
        path = folder / f"tokens-{number}-{_safe(label)}.npz"
        write_tokens_npz(path, results[label])
        written.append(path)
    return written


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in label)

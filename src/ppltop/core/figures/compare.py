"""Paired comparison of two labels scored on the same tokens.

Δloss = loss(candidate) - loss(reference) over the examples both have scored (negative:
the candidate is better). Its 95% interval comes from a paired bootstrap over examples:
the same resampled examples on both sides, so example difficulty cancels out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .ranking import top_k
from .results import ExampleResult
from .stats import Z95, clustered_mean, finite_or_none, safe_exp

BOOTSTRAP_REPS = 2000
BOOTSTRAP_SEED = 0
"""One number of repetitions and one seed for every paired interval, so a figure is the
same on every screen, line and file that shows it."""
_CHUNK = 200


@dataclass
class Comparison:
    label: str
    reference: str
    examples: int
    tokens: int
    loss: float
    reference_loss: float
    delta_loss: float
    delta_ppl: float
    delta_ci95: tuple[float, float]
    win_share: float
    """Share of examples whose mean loss is lower than the reference's."""
    significant: bool
    """The interval excludes zero."""
    kld: dict[str, Any] | None = None
    """With --kl (and always with several models): KL(reference || label) statistics as
    llama-perplexity reports them."""
    ppl_ratio: float = math.nan
    """PPL(label) / PPL(reference) = exp(Δloss), over the same tokens (llama.cpp's ratio)."""

    @property
    def verdict(self) -> str:
        return verdict(self.significant, self.delta_loss)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["delta_ci95"] = list(self.delta_ci95)
        finite: dict[str, Any] = finite_or_none(out)
        return finite


def verdict(significant: bool, delta: float) -> str:
    """What a paired Δ says, in the words every table uses (negative Δ: better)."""
    if not significant:
        return "not significant"
    return "better" if delta < 0 else "worse"


KLD_PERCENTILES = (99.9, 99.0, 95.0, 90.0, 50.0, 10.0, 5.0, 1.0, 0.1)


def kld_summary(candidate: dict[int, ExampleResult], reference: dict[int, ExampleResult]
                ) -> dict[str, Any] | None:
    """Mean KLD (nats) with its standard error (per token, as llama-perplexity) and its 95%
    interval (clustered by example, as every interval of ppltop), percentiles, maximum and
    minimum; the RMS of the change in the target's probability; the share of tokens where
    both rank the same token first (from each side's top-1 id)."""
    kl, dp, same, sums = [], [], [], []
    for i in sorted(set(candidate) & set(reference)):
        c, r = candidate[i], reference[i]
        if c.kl is None or c.n_tokens == 0 or c.n_tokens != r.n_tokens:
            continue
        kl.append(c.kl)
        sums.append(float(c.kl.astype(np.float64).sum()))
        dp.append(np.exp(c.logprob.astype(np.float64)) - np.exp(r.logprob.astype(np.float64)))
        if c.top_ids.shape[1] and r.top_ids.shape[1]:
            same.append(c.top_ids[:, 0] == r.top_ids[:, 0])
    if not kl:
        return None
    k = np.concatenate(kl).astype(np.float64)
    d = np.concatenate(dp)
    n = len(k)
    _, clustered_se = clustered_mean(np.array(sums), np.array([len(x) for x in kl]))
    out = {
        "tokens": n,
        "mean": float(k.mean()),
        "stderr": float(k.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
        "ci95": [float(k.mean() - Z95 * clustered_se), float(k.mean() + Z95 * clustered_se)],
        "max": float(k.max()),
        "min": float(k.min()),
        "percentiles": {f"{q:g}": float(np.percentile(k, q)) for q in KLD_PERCENTILES},
        "delta_p_rms": float(math.sqrt((d ** 2).mean())),
        "same_top": float(np.concatenate(same).mean()) if same else math.nan,
    }
    return out


def paired_arrays(candidate: dict[int, ExampleResult], reference: dict[int, ExampleResult]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(loss sums of candidate, of reference, token counts) over the examples both scored."""
    common = sorted(set(candidate) & set(reference))
    common = [i for i in common if candidate[i].n_tokens and candidate[i].finite
              and reference[i].finite
              and candidate[i].n_tokens == reference[i].n_tokens]  # same tokens, or unpaired
    s_c = np.array([candidate[i].loss_sum for i in common], dtype=np.float64)
    s_r = np.array([reference[i].loss_sum for i in common], dtype=np.float64)
    n = np.array([candidate[i].n_tokens for i in common], dtype=np.float64)
    return s_c, s_r, n


def paired_bootstrap(s_c: np.ndarray, s_r: np.ndarray, n: np.ndarray,
                     reps: int = BOOTSTRAP_REPS, seed: int = BOOTSTRAP_SEED
                     ) -> tuple[float, float]:
    """95% percentile interval of Δloss = Σs_c/Σn - Σs_r/Σn, resampling examples in pairs."""
    m = len(n)
    if m < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    diff = s_c - s_r
    deltas = np.empty(reps)
    for start in range(0, reps, _CHUNK):
        k = min(_CHUNK, reps - start)
        picks = rng.integers(0, m, size=(k, m))
        deltas[start:start + k] = diff[picks].sum(axis=1) / n[picks].sum(axis=1)
    lo, hi = np.percentile(deltas, [2.5, 97.5])
    return float(lo), float(hi)


def resolve_reference(labels: list[str], wanted: str | None = None) -> str:
    """The label the others are compared with: `--reference` when it names one, else the
    base model, else the first label. Resolved once per run; every view uses the result."""
    if wanted in labels:
        return wanted
    return "base" if "base" in labels else labels[0]


def compare_labels(results: dict[str, dict[int, ExampleResult]], labels: list[str],
                   reference: str) -> list[Comparison]:
    """Every label but `reference` against it, in `labels` order: the one computation
    behind every comparison shown (finished runs, live runs, reopened runs, two runs)."""
    return [compare(label, results[label], reference, results[reference])
            for label in labels if label != reference]


def compare(label: str, candidate: dict[int, ExampleResult], reference_label: str,
            reference: dict[int, ExampleResult]) -> Comparison:
    comparison = paired_comparison(label, reference_label, *paired_arrays(candidate, reference))
    comparison.kld = kld_summary(candidate, reference)
    return comparison


def paired_comparison(label: str, reference_label: str, s_c: np.ndarray, s_r: np.ndarray,
                      n: np.ndarray) -> Comparison:
    """Δloss, its paired interval, win share and significance from per-example loss sums
    (candidate, reference) over the same tokens `n`: every comparison's arithmetic, also
    the breakdowns' per group (without KL)."""
    total = n.sum()
    loss_c = s_c.sum() / total if total else math.nan
    loss_r = s_r.sum() / total if total else math.nan
    lo, hi = paired_bootstrap(s_c, s_r, n)
    wins = float(np.mean(s_c / n < s_r / n)) if len(n) else math.nan
    significant = bool(math.isfinite(lo) and (hi < 0 or lo > 0))
    return Comparison(label, reference_label, len(n), int(total), loss_c, loss_r,
                      loss_c - loss_r, safe_exp(loss_c) - safe_exp(loss_r), (lo, hi), wins,
                      significant, ppl_ratio=safe_exp(loss_c - loss_r))


@dataclass
class TokenDelta:
    example: int
    position: int
    token_id: int
    delta_bits: float
    """Surprisal under the candidate minus under the reference (negative: improved)."""


def token_deltas(candidate: dict[int, ExampleResult], reference: dict[int, ExampleResult],
                 count: int = 100, improved: bool = True) -> list[TokenDelta]:
    """The tokens the candidate improved (or hurt) most relative to the reference."""
    ex, pos, ids, deltas = [], [], [], []
    for i in sorted(set(candidate) & set(reference)):
        c, r = candidate[i], reference[i]
        if c.n_tokens == 0 or c.n_tokens != r.n_tokens:
            continue
        ex.append(np.full(c.n_tokens, i))
        pos.append(c.positions)
        ids.append(c.targets)
        deltas.append((r.logprob - c.logprob) / math.log(2))
    if not deltas:
        return []
    d = np.concatenate(deltas)
    d = np.where(np.isfinite(d), d, 0.0)
    key = d if improved else -d
    ex_a, pos_a, ids_a = np.concatenate(ex), np.concatenate(pos), np.concatenate(ids)
    top = top_k(key, count, ties=(ex_a, pos_a))
    return [TokenDelta(int(ex_a[j]), int(pos_a[j]), int(ids_a[j]), float(d[j])) for j in top]


def example_deltas(candidate: dict[int, ExampleResult], reference: dict[int, ExampleResult]
                   ) -> list[tuple[int, float]]:
    """(example, Δ mean loss) for every example both scored, most improved first."""
    out = [(i, candidate[i].mean_loss - reference[i].mean_loss)
           for i in sorted(set(candidate) & set(reference)) if candidate[i].n_tokens]
    return sorted(out, key=lambda t: (t[1], t[0]))

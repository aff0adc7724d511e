"""Loss by group computed here from a run's exports (its per-token arrays and pieces), to
check the figures ppltop prints, writes and shows against."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ppltop.core.figures.stats import Z95
from support.cli import run_ppltop


def score(folder, *flags) -> dict:
    out = run_ppltop(*flags, "--headless", "--json", str(folder / "out.json"),
                     "--run-dir", str(folder / "run"))
    assert out.returncode == 0, out.stderr
    return {"run": folder / "run", "stdout": out.stdout, "stderr": out.stderr,
            "json": json.loads((folder / "out.json").read_text())}


def tokens_of(run, labels) -> dict[str, dict]:
    """Per label, the per-token arrays of its tokens-N-LABEL.npz export."""
    out = {}
    for n, label in enumerate(labels):
        with np.load(run / f"tokens-{n}-{label}.npz") as d:
            out[label] = {k: d[k] for k in ("example", "position", "logprob")}
    return out


def pieces_of(run) -> dict:
    with np.load(run / "pieces.npz") as d:
        arrays = {k: d[k] for k in d.files}
    raw = arrays["piece_bytes"].tobytes()
    offsets = arrays["piece_offsets"]
    arrays["pieces"] = [raw[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
    return arrays


def token_lookup(pieces, key: str, tokens: dict) -> np.ndarray:
    """`pieces[key]` at each scored target (by example and position)."""
    where = {(int(e), int(p)): i for i, (e, p) in
             enumerate(zip(pieces["example"], pieces["position"]))}
    return np.array([pieces[key][where[(int(e), int(p))]]
                     for e, p in zip(tokens["example"], tokens["position"])])


def expected(tokens: dict, labels, reference: str, group_of: np.ndarray, n_bytes) -> dict:
    """{group: {label: figures}} from the per-token arrays alone."""
    out = {}
    for name in sorted(set(group_of.tolist())):
        mask = group_of == name
        per_label = {}
        for label in labels:
            t = tokens[label]
            ex = t["example"][mask]
            loss = -t["logprob"][mask].astype(np.float64)
            ids = np.unique(ex)
            sums = np.array([loss[ex == i].sum() for i in ids])
            counts = np.array([(ex == i).sum() for i in ids], dtype=np.float64)
            mean = sums.sum() / counts.sum()
            m = len(ids)
            se = math.sqrt(m / (m - 1) * ((sums - mean * counts) ** 2).sum()) / counts.sum() \
                if m > 1 else math.nan
            per_label[label] = {"tokens": int(mask.sum()), "examples": m, "loss": mean,
                                "ppl": math.exp(mean), "stderr": se,
                                "ppl_ci95": [math.exp(mean - Z95 * se), math.exp(mean + Z95 * se)],
                                "bits_per_byte": sums.sum() / math.log(2) / n_bytes[mask].sum()
                                if n_bytes[mask].sum() else math.nan,
                                "sums": sums, "counts": counts}
        ref = per_label[reference]
        for label in labels:
            if label == reference:
                continue
            f = per_label[label]
            f["delta_loss"] = f["loss"] - ref["loss"]
            # the paired difference's clustered standard error: what a bootstrap of the
            # examples in pairs estimates, to its resampling noise and skew
            diff = f["sums"] - ref["sums"]
            m = len(diff)
            f["delta_se"] = math.sqrt(m / (m - 1) * ((diff - f["delta_loss"] * f["counts"]) ** 2)
                                      .sum()) / f["counts"].sum() if m > 1 else math.nan
            f["win_share"] = float(np.mean(f["sums"] / f["counts"] < ref["sums"] / ref["counts"]))
        out[str(name)] = per_label
    return out


def check_breakdown(payload: dict, key: str, want: dict) -> None:
    b = next(b for b in payload["groups"]["breakdowns"] if b["key"] == key)
    assert {g["group"] for g in b["groups"]} == set(want)
    for g in b["groups"]:
        for f in g["labels"]:
            w = want[g["group"]][f["label"]]
            for k in ("tokens", "examples"):
                assert f[k] == w[k], (key, g["group"], f["label"], k)
            for k in ("loss", "ppl", "bits_per_byte"):
                if math.isnan(w[k]):  # no bytes: special tokens only
                    assert f[k] is None
                    continue
                assert f[k] == pytest.approx(w[k], rel=1e-6), (key, g["group"], k)
            if w["examples"] > 1 and math.isfinite(w["stderr"]) and w["stderr"] > 0:
                assert f["ppl_ci95"] == pytest.approx(w["ppl_ci95"], rel=1e-6)
            if f["comparison"] is not None:
                c = f["comparison"]
                assert c["delta_loss"] == pytest.approx(w["delta_loss"], abs=1e-9)
                _check_paired_interval(c["delta_ci95"], w["delta_loss"], w["delta_se"])
                assert c["win_share"] == pytest.approx(w["win_share"])


def _check_paired_interval(shown: list, delta: float, se: float) -> None:
    """The bootstrap's 95% interval of a paired Δloss brackets it, each end within a third
    of the normal interval's half-width of delta -+ Z95 * se (a bootstrap of the wrong
    pairs, or unpaired, is far wider or off-centre)."""
    lo, hi = shown
    if not (math.isfinite(se) and se > 0):
        return
    half = Z95 * se
    assert lo < delta < hi, (shown, delta)
    assert abs(lo - (delta - half)) < half / 3 and abs(hi - (delta + half)) < half / 3, \
        (shown, delta - half, delta + half)


def content_bytes(pieces, tokens) -> np.ndarray:
    special = token_lookup(pieces, "special", tokens)
    where = {(int(e), int(p)): i for i, (e, p) in
             enumerate(zip(pieces["example"], pieces["position"]))}
    lengths = np.array([len(pieces["pieces"][where[(int(e), int(p))]])
                        for e, p in zip(tokens["example"], tokens["position"])])
    return np.where(special, 0, lengths)

"""Loss broken down by group: where an adapter helps and where it hurts.

A breakdown cuts every label's scored tokens into groups: by a record key (`--group-by`:
every token of an example in its record's group), or by what each token is (chat role,
turn, chat template or content, position bucket, log2 position bucket: the loss-against-
position curve). For each label and group: tokens, examples, loss with its standard error
clustered by example, PPL and its 95% interval, bits per byte; for each label against the
reference, per group: Δloss with a paired interval over the group's examples, win share and
significance, from `compare.paired_comparison`, the arithmetic of every comparison. The
per-example sums of a group are the sums of that example's tokens in the group.

Examples left out of the headline (a non-finite loss) are left out here too; pairs follow
the comparison's rule (both finite, the same tokens). The headless printer, `--json`,
`groups.csv` and the dashboard display one `Breakdowns`; none recomputes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.record_groups import NONE, OTHER
from ..data.token_marks import (
    NO_ROLE,
    ROLE_ORDER,
    TokenMarks,
    log2_bucket,
    log2_bucket_name,
    position_bucket,
    position_buckets,
)
from .compare import Comparison, paired_comparison
from .results import ExampleResult
from .stats import bits, clustered_mean, ppl_interval, safe_exp

MIN_EXAMPLES = 10
"""Groups with fewer examples are marked `small`: a paired interval over fewer examples
says little (shown greyed out, never starred)."""
TOKEN_BREAKDOWNS = ("role", "turn", "template", "position", "position-log2")
TITLES = {"role": "chat role", "turn": "chat turn", "template": "chat template or content",
          "position": "position in the sequence",
          "position-log2": "position (log2 buckets)"}
CHAT_ONLY = ("role", "turn")
"""Breakdowns that need chat or prompt/completion data."""


@dataclass
class GroupFigures:
    """One label's tokens in one group."""

    label: str
    tokens: int
    examples: int
    loss: float
    stderr: float
    """Of the loss, clustered by example."""
    ppl: float
    ppl_ci95: tuple[float, float]
    bits_per_byte: float
    comparison: Comparison | None = None
    """Against the reference over the group's examples; None for the reference itself."""

    def to_dict(self) -> dict[str, Any]:
        out = {k: _finite(getattr(self, k)) for k in
               ("label", "tokens", "examples", "loss", "stderr", "ppl", "bits_per_byte")}
        out["ppl_ci95"] = [_finite(v) for v in self.ppl_ci95]
        c = self.comparison
        out["comparison"] = None if c is None else {
            k: v for k, v in c.to_dict().items()
            if k in ("reference", "examples", "delta_loss", "delta_ppl", "delta_ci95",
                     "win_share", "significant")}
        return out


@dataclass
class Group:
    name: str
    examples: int
    """Examples with scored tokens in the group (the reference's)."""
    small: bool
    """Fewer than MIN_EXAMPLES examples."""
    figures: dict[str, GroupFigures]
    """By label, in the run's label order."""
    members: list[int] = field(default_factory=list, repr=False)
    """Split indices of the group's examples (the viewer's filter; not in the JSON)."""

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.name, "examples": self.examples, "small": self.small,
                "labels": [f.to_dict() for f in self.figures.values()]}


@dataclass
class Breakdown:
    key: str
    """The record key, or one of TOKEN_BREAKDOWNS."""
    title: str
    groups: list[Group]
    note: str | None = None
    """E.g. how many values went into `(other)`."""

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "note": self.note,
                "groups": [g.to_dict() for g in self.groups]}


@dataclass
class Breakdowns:
    """Every breakdown of a run, against one reference."""

    reference: str
    labels: list[str]
    breakdowns: list[Breakdown] = field(default_factory=list)
    proposed: list[tuple[str, int]] = field(default_factory=list)
    """Without --group-by: (key, distinct values) of record keys that look like groups."""

    def get(self, key: str) -> Breakdown | None:
        return next((b for b in self.breakdowns if b.key == key), None)

    def examples_of(self, key: str, group: str) -> list[int]:
        b = self.get(key)
        found = next((g for g in b.groups if g.name == group), None) if b else None
        return found.members if found else []

    def rows(self) -> list[dict[str, Any]]:
        """One row per breakdown, group and label: the columns of `groups.csv`."""
        out = []
        for b in self.breakdowns:
            for g in b.groups:
                for f in g.figures.values():
                    c = f.comparison
                    lo, hi = c.delta_ci95 if c else (math.nan, math.nan)
                    out.append({
                        "breakdown": b.key, "group": g.name, "label": f.label,
                        "examples": f.examples, "tokens": f.tokens, "loss": f.loss,
                        "stderr_loss": f.stderr, "ppl": f.ppl, "ppl_ci95_low": f.ppl_ci95[0],
                        "ppl_ci95_high": f.ppl_ci95[1], "bits_per_byte": f.bits_per_byte,
                        "reference": self.reference,
                        "delta_loss": c.delta_loss if c else math.nan,
                        "delta_ci95_low": lo, "delta_ci95_high": hi,
                        "win_share": c.win_share if c else math.nan,
                        "significant": c.significant if c else "", "small": g.small})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "labels": self.labels,
                "min_examples": MIN_EXAMPLES,
                "proposed_keys": [k for k, _ in self.proposed],
                "breakdowns": [b.to_dict() for b in self.breakdowns]}


def _finite(value: object) -> object:
    return value if not isinstance(value, float) or math.isfinite(value) else None


# -- computation -----------------------------------------------------------------------

@dataclass
class GroupInput:
    """What the breakdowns are computed from, besides the results: label-independent."""

    marks: TokenMarks
    data_format: str
    record_groups: dict[str, list[str]] = field(default_factory=dict)
    """Per --group-by key: each example's group, by example index."""
    notes: dict[str, str] = field(default_factory=dict)
    proposed: list[tuple[str, int]] = field(default_factory=list)


def _token_codes(key: str, inputs: GroupInput, example: int, positions: np.ndarray
                 ) -> tuple[np.ndarray, list[str]]:
    """Per scored target of a built-in breakdown: (its group's code, the names of the
    codes; empty when the code is the name, as for turns)."""
    if key == "position":
        return position_bucket(positions), position_buckets()
    if key == "position-log2":
        return log2_bucket(positions), []
    m = inputs.marks(example)
    if key == "template":
        return m.template[positions].astype(np.int8), ["content", "template"]
    if key == "turn":
        return m.turn[positions], []
    return m.role_of[positions], m.role  # role: codes are local to the example


def _example_codes(key: str, inputs: GroupInput, example: int, positions: np.ndarray,
                   names: dict[str, int]) -> np.ndarray:
    """Per scored target: the code of its group in `names` (new groups added)."""
    if key in inputs.record_groups:
        code = names.setdefault(inputs.record_groups[key][example], len(names))
        return np.full(len(positions), code, dtype=np.int64)
    local, local_names = _token_codes(key, inputs, example, positions)
    local = local.astype(np.int64)
    if not local_names:  # numbered groups: the number is the name
        local_names = [str(k) for k in range(int(local.max()) + 1)]
    present = np.zeros(len(local_names), dtype=bool)
    present[local] = True  # only the groups that hold a token get a code
    lookup = np.array([names.setdefault(n, len(names)) if here else -1
                       for n, here in zip(local_names, present)], dtype=np.int64)
    codes: np.ndarray = lookup[local]
    return codes


def _tables(key: str, results: dict[str, dict[int, ExampleResult]], labels: list[str],
            inputs: GroupInput) -> tuple[dict[str, int], dict[str, tuple[Any, ...]]]:
    """(group names, {label: (examples in row order, loss sums, token counts, byte
    counts)}): the sums as [example, group] matrices, finite examples only. An example's
    codes are made once for every label that scored the same targets."""
    names: dict[str, int] = {}
    cache: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
    gathered = {}
    for label in labels:
        rows = [i for i in sorted(results[label])
                if results[label][i].n_tokens and results[label][i].finite]
        codes, losses, nbytes = [], [], []
        for i in rows:
            r = results[label][i]
            at = (i, r.first, r.n_tokens)
            if at not in cache:
                pos = r.positions
                cache[at] = (_example_codes(key, inputs, i, pos, names),
                             inputs.marks(i).n_bytes[pos])
            codes.append(cache[at][0])
            nbytes.append(cache[at][1])
            losses.append(-r.logprob.astype(np.float64))
        gathered[label] = (rows, codes, losses, nbytes)
    g = max(len(names), 1)
    tables: dict[str, tuple[Any, ...]] = {}
    for label, (rows, codes, losses, nbytes) in gathered.items():
        if not rows:
            tables[label] = (rows, *(np.zeros((0, g)) for _ in range(3)))
            continue
        row_of = np.repeat(np.arange(len(rows)), [len(c) for c in codes])
        cell = row_of * g + np.concatenate(codes)
        shape = (len(rows), g)
        tables[label] = (rows, _summed(cell, shape, np.concatenate(losses)),
                         _summed(cell, shape).astype(np.float64),
                         _summed(cell, shape, np.concatenate(nbytes).astype(np.float64)))
    return names, tables


def _summed(cell: np.ndarray, shape: tuple[int, int],
            weights: np.ndarray | None = None) -> np.ndarray:
    """Per (row, group) sums of `weights` (counts without), from each token's flat cell index."""
    return np.bincount(cell, weights=weights, minlength=shape[0] * shape[1]).reshape(shape)


def _figures(label: str, S: np.ndarray, N: np.ndarray, B: np.ndarray, g: int) -> GroupFigures:
    has = N[:, g] > 0
    loss, se = clustered_mean(S[has, g], N[has, g])
    n_bytes = B[has, g].sum()
    return GroupFigures(label, int(N[has, g].sum()), int(has.sum()), loss, se,
                        safe_exp(loss) if has.any() else math.nan, ppl_interval(loss, se),
                        bits(float(S[has, g].sum())) / n_bytes if n_bytes else math.nan)


def _order(key: str, names: dict[str, int], sizes: dict[str, int]) -> list[str]:
    if key == "position":
        return [n for n in position_buckets() if n in names]
    if key in ("turn", "position-log2"):
        return sorted(names, key=int)
    if key == "template":
        return [n for n in ("content", "template") if n in names]
    if key == "role":
        first = [r for r in ROLE_ORDER if r in names]
        return first + sorted(set(names) - set(first) - {NO_ROLE}) + \
            ([NO_ROLE] if NO_ROLE in names else [])
    last = {OTHER, NONE}
    return sorted((n for n in names if n not in last), key=lambda n: (-sizes[n], n)) + \
        sorted(n for n in names if n in last)


def _display_name(key: str, name: str) -> str:
    return log2_bucket_name(int(name)) if key == "position-log2" else name


def breakdown(key: str, results: dict[str, dict[int, ExampleResult]], labels: list[str],
              reference: str, inputs: GroupInput) -> Breakdown:
    """One breakdown of every label's results (see the module docstring)."""
    names, tables = _tables(key, results, labels, inputs)
    ref_rows, ref_S, ref_N, _ = tables[reference]
    ref_index = {e: k for k, e in enumerate(ref_rows)}
    sizes = {n: int((ref_N[:, g] > 0).sum()) for n, g in names.items()}
    groups = []
    for name in _order(key, names, sizes):
        g = names[name]
        figures = {}
        for label in labels:
            rows, S, N, B = tables[label]
            if not N[:, g].any():
                continue
            fig = _figures(label, S, N, B, g)
            if label != reference and ref_N[:, g].any():
                fig.comparison = _paired(label, reference, results, rows, S, N, g,
                                         ref_index, ref_S, ref_N)
            figures[label] = fig
        members = [ref_rows[k] for k in np.nonzero(ref_N[:, g] > 0)[0]]
        groups.append(Group(_display_name(key, name), sizes[name],
                            sizes[name] < MIN_EXAMPLES, figures, members))
    return Breakdown(key, TITLES.get(key, f"record key {key!r}"), groups, inputs.notes.get(key))


def _paired(label: str, reference: str, results: dict[str, dict[int, ExampleResult]],
            rows: list[int], S: np.ndarray, N: np.ndarray, g: int, ref_index: dict[int, int],
            ref_S: np.ndarray, ref_N: np.ndarray) -> Comparison:
    """The group's examples both labels scored on the same tokens, paired."""
    cand, ref = results[label], results[reference]
    pick, ref_pick = [], []
    for k, e in enumerate(rows):
        j = ref_index.get(e)
        if j is None or N[k, g] == 0 or cand[e].n_tokens != ref[e].n_tokens:
            continue
        pick.append(k)
        ref_pick.append(j)
    return paired_comparison(label, reference, S[pick, g], ref_S[ref_pick, g], N[pick, g])


def compute_breakdowns(results: dict[str, dict[int, ExampleResult]], labels: list[str],
                       reference: str, inputs: GroupInput) -> Breakdowns:
    """Every breakdown: the --group-by keys first, then the built-in ones that apply."""
    labels = [label for label in labels if label in results]
    out = Breakdowns(reference, labels, proposed=list(inputs.proposed))
    if reference not in results or not any(results[label] for label in labels):
        return out
    keys = list(inputs.record_groups) + [
        k for k in TOKEN_BREAKDOWNS
        if k not in CHAT_ONLY or inputs.data_format in ("chat", "completions")]
    out.breakdowns = [breakdown(k, results, labels, reference, inputs) for k in keys]
    return out

"""Where the loss is: per-example rows, the worst tokens, and loss by token, as numpy arrays.

Everything here grows as results arrive and answers in pages, so a run of a million
tokens and twenty thousand examples never becomes a Python object per token or per row.
Surprisal is in bits: -log2 p(target).

Chat-template tokens (role markers, end-of-turn tokens and their newlines) are often the
most surprising of a run and hide the content's worst tokens: with `hide_template` set, the
worst-token lists, loss by token, the examples' worst token and the threshold jumps leave
them out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.figures.ranking import top_k
from ..core.figures.results import ExampleResult

LN2 = math.log(2)
EXAMPLE_COLUMNS = ("index", "tokens", "mean_loss", "total_loss", "worst_bits")
RANK_BUCKETS = (10, 100, 1000)
"""GLTR's buckets: the target in the top 10, top 100, top 1000, or beyond."""


def surprisal_bits(result: ExampleResult) -> np.ndarray:
    return (-result.logprob / LN2).astype(np.float32)


def rank_bucket(rank: np.ndarray) -> np.ndarray:
    """0: top 10, 1: top 100, 2: top 1000, 3: beyond."""
    return np.searchsorted(np.array(RANK_BUCKETS), rank, side="left").astype(np.int8)


class _Growable:
    """A 1-D numpy array with amortized appends."""

    def __init__(self, dtype: Any, capacity: int = 1024):
        self._data = np.empty(capacity, dtype=dtype)
        self.size = 0

    def extend(self, values: Any) -> None:
        values = np.asarray(values, dtype=self._data.dtype)
        need = self.size + len(values)
        if need > len(self._data):
            grown = np.empty(max(need, 2 * len(self._data)), dtype=self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size:need] = values
        self.size = need

    @property
    def values(self) -> np.ndarray:
        return self._data[: self.size]


@dataclass
class ExampleRow:
    index: int
    tokens: int
    mean_loss: float
    total_loss: float
    worst_bits: float
    worst_position: int


@dataclass
class TokenHit:
    example: int
    position: int
    token_id: int
    bits: float
    template: bool = False
    """Written by the chat template (a role marker, an end-of-turn token, its newline)."""


@dataclass
class TokenAggregate:
    token_id: int
    count: int
    mean_bits: float
    total_loss: float
    """Nats contributed to the run's total loss."""
    total_bits: float = math.nan
    """The same, in bits: the summed surprisal of the token's occurrences."""


class SurprisalIndex:
    """Incremental index over one label's results."""

    def __init__(self) -> None:
        self.results: dict[int, ExampleResult] = {}
        self.hide_template = False
        """Leave chat-template tokens out of the lists, worst tokens and jumps."""
        self._template: dict[int, np.ndarray] = {}
        self._ex = {name: _Growable(np.float64) for name in EXAMPLE_COLUMNS}
        self._content_worst = _Growable(np.float64)
        self._worst_pos = _Growable(np.int32)
        self._content_worst_pos = _Growable(np.int32)
        self._tok_example = _Growable(np.int32)
        self._tok_position = _Growable(np.int32)
        self._tok_id = _Growable(np.int32)
        self._tok_bits = _Growable(np.float32)
        self._tok_template = _Growable(np.bool_)
        self._order_cache: dict[tuple[Any, ...], np.ndarray] = {}

    def add(self, result: ExampleResult, template: np.ndarray | None = None) -> None:
        """`template`: bool per scored target, written by the chat template (None: none)."""
        if result.example in self.results or result.n_tokens == 0:
            return
        self.results[result.example] = result
        template = (np.zeros(result.n_tokens, dtype=bool) if template is None
                    else np.asarray(template, dtype=bool))
        self._template[result.example] = template
        bits = surprisal_bits(result)
        finite = np.where(np.isfinite(bits), bits, -np.inf)
        worst = int(np.argmax(finite))
        content = np.where(template, -np.inf, finite)
        content_worst = int(np.argmax(content))
        self._ex["index"].extend([result.example])
        self._ex["tokens"].extend([result.n_tokens])
        self._ex["mean_loss"].extend([result.mean_loss])
        self._ex["total_loss"].extend([result.loss_sum])
        self._ex["worst_bits"].extend([float(bits[worst])])
        self._worst_pos.extend([int(result.positions[worst])])
        self._content_worst.extend([float(bits[content_worst]) if not template.all()
                                    else math.nan])
        self._content_worst_pos.extend([int(result.positions[content_worst])])
        self._tok_example.extend(np.full(result.n_tokens, result.example))
        self._tok_position.extend(result.positions)
        self._tok_id.extend(result.targets)
        self._tok_bits.extend(bits)
        self._tok_template.extend(template)
        self._order_cache.clear()

    def loss_total(self, examples: np.ndarray | None = None) -> float:
        """Nats summed over the indexed examples (of `examples`, when given): what a token's
        share of the loss is a share of."""
        if examples is None:
            return float(sum(r.loss_sum for r in self.results.values()))
        return float(sum(self.results[i].loss_sum for i in examples if i in self.results))

    def template_of(self, example: int) -> np.ndarray | None:
        """bool per scored target of `example`: written by the chat template."""
        return self._template.get(example)

    def _column(self, name: str) -> np.ndarray:
        if name == "worst_bits" and self.hide_template:
            return self._content_worst.values
        return self._ex[name].values

    def _token_bits(self) -> np.ndarray:
        """Per indexed token: its surprisal, NaN for template tokens when they are hidden."""
        bits = self._tok_bits.values
        if self.hide_template:
            bits = np.where(self._tok_template.values, np.nan, bits)
        return bits

    def __len__(self) -> int:
        return len(self.results)

    @property
    def n_tokens(self) -> int:
        return self._tok_bits.size

    # -- examples -------------------------------------------------------------------
    def example_order(self, column: str = "index", descending: bool = False,
                      allowed: np.ndarray | None = None) -> np.ndarray:
        """Row numbers sorted by `column`; `allowed` (example indices) filters first."""
        if column not in EXAMPLE_COLUMNS:
            raise ValueError(f"unknown column {column!r}")
        key = (column, descending, None if allowed is None else allowed.tobytes(),
               self.hide_template)
        if key not in self._order_cache:
            values = self._column(column)
            rows = np.arange(len(values))
            if allowed is not None:
                rows = rows[np.isin(self._ex["index"].values, allowed)]
            sub = values[rows]
            sub = np.where(np.isnan(sub), -np.inf if descending else np.inf, sub)
            order = np.argsort(-sub if descending else sub, kind="stable")
            self._order_cache[key] = rows[order]
        return self._order_cache[key]

    def example_rows(self, order: np.ndarray, start: int, count: int) -> list[ExampleRow]:
        """One page of rows in the given order."""
        page = order[start:start + count]
        ex = {name: self._column(name) for name in self._ex}
        worst = (self._content_worst_pos if self.hide_template else self._worst_pos).values
        return [ExampleRow(int(ex["index"][r]), int(ex["tokens"][r]), float(ex["mean_loss"][r]),
                           float(ex["total_loss"][r]), float(ex["worst_bits"][r]), int(worst[r]))
                for r in page]

    # -- tokens ----------------------------------------------------------------------
    def _of_examples(self, examples: np.ndarray | None) -> np.ndarray:
        """bool per indexed token: it belongs to one of `examples` (None: every token)."""
        if examples is None:
            return np.ones(self._tok_example.size, dtype=bool)
        return np.isin(self._tok_example.values, examples)

    def worst_tokens(self, count: int = 100,
                     examples: np.ndarray | None = None) -> list[TokenHit]:
        """The highest-surprisal tokens of the run (of `examples` only, e.g. a group's),
        worst first (template tokens left out when hidden)."""
        bits = self._tok_bits.values
        keep = self._of_examples(examples)
        if self.hide_template:
            keep &= ~self._tok_template.values
        candidates = np.nonzero(keep)[0]
        if candidates.size == 0:
            return []
        clean = np.where(np.isfinite(bits[candidates]), bits[candidates], -np.inf)
        top = candidates[top_k(-clean, count, ties=(self._tok_example.values[candidates],
                                                    self._tok_position.values[candidates]))]
        return [self._hit(int(i)) for i in top]

    def _hit(self, i: int) -> TokenHit:
        return TokenHit(int(self._tok_example.values[i]), int(self._tok_position.values[i]),
                        int(self._tok_id.values[i]), float(self._tok_bits.values[i]),
                        bool(self._tok_template.values[i]))

    def by_token(self, sort: str = "total_loss", min_count: int = 1, count: int = 100,
                 examples: np.ndarray | None = None) -> list[TokenAggregate]:
        """Loss grouped by target token id: count, mean surprisal, total loss contributed
        (of `examples` only, when given)."""
        ids = self._tok_id.values
        bits = self._token_bits().astype(np.float64)
        finite = np.isfinite(bits) & self._of_examples(examples)
        ids, bits = ids[finite], bits[finite]
        if ids.size == 0:
            return []
        n = np.bincount(ids)
        total_bits = np.bincount(ids, weights=bits)
        present = np.nonzero(n >= min_count)[0]
        mean = total_bits[present] / n[present]
        key = {"total_loss": total_bits[present], "mean_bits": mean,
               "count": n[present].astype(np.float64)}[sort]
        order = present[np.argsort(-key, kind="stable")][:count]
        return [TokenAggregate(int(t), int(n[t]), float(total_bits[t] / n[t]),
                               float(total_bits[t] * LN2), float(total_bits[t]))
                for t in order]

    def histograms(self, bins: int = 30,
                   examples: np.ndarray | None = None
                   ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """(per-token surprisal histogram, per-example mean loss histogram): (counts, edges),
        of `examples` only when given."""
        bits = self._tok_bits.values[self._of_examples(examples)]
        bits = bits[np.isfinite(bits)]
        losses = self._ex["mean_loss"].values
        if examples is not None:
            losses = losses[np.isin(self._ex["index"].values, examples)]
        losses = losses[np.isfinite(losses)]
        token_hist = np.histogram(bits, bins=bins) if bits.size else (np.array([]), np.array([]))
        example_hist = (np.histogram(losses, bins=bins) if losses.size
                        else (np.array([]), np.array([])))
        return token_hist, example_hist

    def next_above(self, example: int, position: int, threshold_bits: float,
                   forward: bool = True) -> int | None:
        """Position of the next (or previous) scored token of `example` above the threshold."""
        result = self.results.get(example)
        if result is None:
            return None
        bits = surprisal_bits(result)
        above = bits > threshold_bits
        if self.hide_template:
            above &= ~self._template[example]
        hits = result.positions[above]
        if forward:
            later = hits[hits > position]
            return int(later[0]) if later.size else None
        earlier = hits[hits < position]
        return int(earlier[-1]) if earlier.size else None

    def worst_occurrence(self, token_id: int,
                         examples: np.ndarray | None = None) -> TokenHit | None:
        """The highest-surprisal place where `token_id` is the target (in `examples`)."""
        ids = self._tok_id.values
        where = np.nonzero((ids == token_id) & self._of_examples(examples))[0]
        if self.hide_template:
            where = where[~self._tok_template.values[where]]
        if where.size == 0:
            return None
        bits = self._tok_bits.values[where]
        return self._hit(int(where[np.argmax(np.where(np.isfinite(bits), bits, -np.inf))]))

"""Running figures of a run in progress, folded from the event stream.

Textual-free so that it is unit-tested without an app; the dashboard folds every drained
event into a `LiveRun` and its widgets read from it. Every series is bounded.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from ..core.errors import ScoringError
from ..core.figures import formats as fmt
from ..core.figures.common import CommonFigures, common_figures
from ..core.figures.compare import Comparison, resolve_reference
from ..core.figures.progress import ScoringRate
from ..core.figures.stats import RunningMean, safe_exp
from ..core.mlx_lm import split_word
from ..core.mlx_lm import words as mlx_lm_words
from ..core.store.events import (
    BatchScored,
    DocumentSource,
    LabelAdded,
    LabelFinished,
    Notice,
    Resumed,
    RunFinished,
    RunPlan,
    RunStarted,
)
from .document import Document, build_document
from .figures import breakdowns_of, comparisons_of, results_key, snapshot
from .run_progress import RunProgress
from .surprisal import SurprisalIndex

HISTORY = 4096
LOG_LINES = 500


@dataclass
class LabelLive:
    """One model/adapter's running figures."""

    label: str
    tokens_total: int = 0
    tokens_done: int = 0
    loss_sum: float = 0.0
    loss_tokens: int = 0
    """Targets in `loss_sum`: those of examples with a non-finite loss are left out."""
    nonfinite_examples: int = 0
    """Examples left out of the figures because their loss is NaN or infinite."""
    nonfinite_tokens: int = 0
    """Targets of those examples, left out with them."""
    batch_index: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    batch_tokens: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    """Cumulative tokens at each batch (the chart's other x axis)."""
    batch_loss: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    running_loss: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    running_ppl: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    clustered: RunningMean = field(default_factory=RunningMean)
    """The completed examples' clustered mean (the running interval)."""

    @property
    def loss(self) -> float:
        return self.loss_sum / self.loss_tokens if self.loss_tokens else math.nan

    @property
    def ppl(self) -> float:
        return safe_exp(self.loss) if self.loss_tokens else math.nan

    @property
    def stderr(self) -> float:
        """Clustered by completed example (`stats.RunningMean`)."""
        return self.clustered.stderr

    @property
    def ppl_ci95(self) -> tuple[float, float]:
        return self.clustered.ppl_ci95

    @property
    def bits_per_token(self) -> float:
        return self.loss / math.log(2)

    def add(self, event: BatchScored) -> None:
        self.tokens_total = event.tokens_total
        self.tokens_done = event.tokens_done
        bad = [r for r in event.results if not r.finite]
        if bad or not math.isfinite(event.loss_sum):
            # as the headline does: leave out the examples whose loss is not finite
            good = [r for r in event.results if r.finite]
            self.loss_sum += sum(r.loss_sum for r in good)
            self.loss_tokens += sum(r.n_tokens for r in good)
            self.nonfinite_examples += len(bad)
            self.nonfinite_tokens += sum(r.n_tokens for r in bad)
        else:
            self.loss_sum += event.loss_sum
            self.loss_tokens += event.n_tokens
        self.batch_index.append(event.batch + 1)
        self.batch_tokens.append(event.tokens_done)
        self.batch_loss.append(event.loss)
        self.running_loss.append(self.loss)
        self.running_ppl.append(self.ppl)
        for r in event.results:  # the examples the final figure counts (`headline`)
            if r.finite and r.n_tokens:
                self.clustered.add(r.loss_sum, r.n_tokens)


def hides_template_by_default(event: RunStarted) -> bool:
    """Chat data scored with a masked prompt: hide the template's tokens from the lists."""
    source = event.source
    return (event.plan.data_format in ("chat", "completions") and source is not None
            and any(e.offset > 0 for e in source.examples))


class LiveRun(RunProgress):
    """The whole run as the dashboard sees it."""

    def __init__(self, name: str = "", split: str = "") -> None:
        self.name = name
        """The run's name (its folder's), for the screens' titles; empty: not recorded."""
        self.split = split
        """The split scored (`test`, `valid`, `train`); empty: not known."""
        self.plan: RunPlan | None = None
        self.source: DocumentSource | None = None
        self.labels: dict[str, LabelLive] = {}
        self.index: dict[str, SurprisalIndex] = {}
        """Per label: every completed example's per-token results, for the viewer."""
        self.log: deque[tuple[str, str]] = deque(maxlen=LOG_LINES)
        self.log_total = 0
        """Entries ever logged (the deque keeps the last LOG_LINES)."""
        self.batches_done = 0
        self.elapsed_s = 0.0
        self.finished: RunFinished | None = None
        self.error: str | None = None
        self.exception: BaseException | None = None
        """The failure of the scoring thread, if it failed."""
        self.events_seen = 0
        self.rate = ScoringRate()
        self.hide_template = False
        """Chat-template tokens left out of the worst-token lists (see `SurprisalIndex`)."""
        self.writer = None
        """`run_liveness.RunState` of the process scoring a run watched from another one
        (`ppltop open`, --detach); None when this process scores it."""
        self.memory = None
        """`process_memory.MemoryUse` of the scoring process, when this process scores."""
        self._comparisons: tuple[tuple, dict[str, Comparison]] = ((), {})
        self._common: tuple[tuple, CommonFigures | None] = ((), None)
        self.groups = None
        """The run's `breakdowns.GroupInput` (None: no breakdowns, e.g. no data source)."""
        self._breakdowns: tuple[tuple, object] = ((), None)
        self.label_summaries: dict = {}
        """`summary.RunSummary` of each label scored to its end before the run finished
        (`LabelFinished`: a watch's checkpoints)."""

    @property
    def reference(self) -> str | None:
        """The run's reference label: the plan's (`--reference`, resolved by the engine),
        once it is among the labels; a watch's plan may name a checkpoint not scored yet,
        and till then it is the base model, else the first label."""
        if self.plan is None or not self.plan.labels:
            return None
        return resolve_reference(self.plan.labels, self.plan.reference)

    def common(self) -> CommonFigures | None:
        """Every label's figures over the examples all have scored, when they have not all
        scored the same (two runs side by side, one stopped part-way; a watch scoring a
        checkpoint): the comparison view shows these, `over N common examples`. None when
        each label's own figures share a base. Cached until a result arrives."""
        key = results_key(self.index)
        if self._common[0] != key:
            self._common = (key, common_figures(snapshot(self.index)))
        return self._common[1]

    def comparisons(self, reference: str) -> dict[str, Comparison]:
        """Every other label against `reference` on the examples scored so far
        (`figures.comparisons_of`, which the comparison view's worker runs too), cached
        until a result arrives."""
        key = (reference, self.finished is not None, results_key(self.index))
        if self._comparisons[0] != key:
            self._comparisons = (key, comparisons_of(snapshot(self.index), self.common(),
                                                     self.finished, reference))
        return self._comparisons[1]

    def breakdowns(self, reference: str | None = None):
        """The run's `Breakdowns` against `reference` (None: the run's own;
        `figures.breakdowns_of`, which the groups view's worker runs too), cached until a
        result arrives; None when the run has no breakdowns."""
        reference = reference or self.reference
        key = (reference, self.finished is not None, results_key(self.index))
        if self._breakdowns[0] != key:
            self._breakdowns = (key, breakdowns_of(snapshot(self.index), self.groups,
                                                   self.finished, reference))
        return self._breakdowns[1]

    def summary_of(self, label: str):
        """`label`'s final `RunSummary`: from the finished run, or from its own finish
        (`LabelFinished`); None while it is still being scored."""
        done = self.finished
        if done is not None:
            found = next((s for s in done.summaries if s.label == label), None)
            if found is not None:
                return found
        return self.label_summaries.get(label)

    @property
    def split_word(self) -> str:
        """mlx-lm's word for this run's split (`Val` for valid), for the lines to come."""
        return split_word(self.split)

    def mlx_lm_line(self, label: str) -> str | None:
        """The line `mlx_lm.lora --test` prints for `label` (`MlxLmFigure.line`), or why
        there is none (`mlx_lm.words`: not yet, refused); None until the label's figures
        are final (at its end, or when the run stops)."""
        summary = self.summary_of(label)
        return None if summary is None else mlx_lm_words(summary.mlx_lm)

    def _log(self, entry: tuple[str, str]) -> None:
        self.log.append(entry)
        self.log_total += 1

    def apply(self, event) -> None:
        self.events_seen += 1
        if isinstance(event, RunStarted):
            self.plan = event.plan
            self.source = event.source
            self.groups = event.groups
            self.labels = {label: LabelLive(label, event.plan.targets_per_label)
                           for label in event.plan.labels}
            self.index = {label: SurprisalIndex() for label in event.plan.labels}
            self.set_hide_template(hides_template_by_default(event))
            plan = event.plan
            self._log(("info", f"scoring {fmt.plural(plan.n_examples, 'example')}, "
                               f"{fmt.plural(plan.targets_per_label, 'target')}, "
                               f"{fmt.plural(plan.n_batches, 'batch')}"))
        elif isinstance(event, Notice):
            self._log((event.level, event.message))
        elif isinstance(event, BatchScored):
            self.rate.note(event)
            self.labels[event.label].add(event)
            for result in event.results:
                self.index[event.label].add(result, self._template_of(result))
            self.elapsed_s = event.elapsed_s
            if self.plan and event.closes_batch:
                self.batches_done = event.batch + 1
        elif isinstance(event, Resumed):
            self.rate.paused_s += event.paused_s
        elif isinstance(event, LabelAdded):
            self._add_label(event)
        elif isinstance(event, LabelFinished):
            self.label_summaries[event.summary.label] = event.summary
        elif isinstance(event, RunFinished):
            self.finished = event
            self.elapsed_s = event.elapsed_s
            word = "cancelled: figures are partial" if event.cancelled else "finished"
            self._log(("info", f"run {word} after {self.duration_text()}"))
        elif isinstance(event, BaseException):
            self.exception = event
            # a ScoringError already says where the run stopped and how to resume it
            self.error = (str(event) if isinstance(event, ScoringError)
                          else f"{type(event).__name__}: {event}")
            self._log(("error", self.error))

    def _add_label(self, event: LabelAdded) -> None:
        plan = self.plan
        if plan is None or event.label in self.labels:
            return
        self.plan = replace(plan, labels=[*plan.labels, event.label],
                            adapter_paths=[*plan.adapter_paths, event.adapter_path])
        self.labels[event.label] = LabelLive(event.label, plan.targets_per_label)
        index = self.index[event.label] = SurprisalIndex()
        index.hide_template = self.hide_template
        self._log(("info", f"scoring {event.label} as well"))

    def set_hide_template(self, hide: bool) -> None:
        """Leave chat-template tokens out of every label's lists (or bring them back)."""
        self.hide_template = hide
        for index in self.index.values():
            index.hide_template = hide

    def _template_of(self, result) -> np.ndarray | None:
        """bool per scored target of `result`: written by the chat template."""
        if self.source is None or result.example >= len(self.source.examples):
            return None
        return self.source.marks(result.example).template[result.positions]

    def document(self, label: str, example: int, reference: str | None = None
                 ) -> Document | None:
        """An example laid out for the viewer with `label`'s results (None: no source);
        with `reference`, that label's results too, for the diff mode."""
        if self.source is None:
            return None
        result = self.index[label].results.get(example) if label in self.index else None
        ref = (self.index[reference].results.get(example)
               if reference in self.index and reference != label else None)
        return build_document(self.source.examples[example], result, self.source.token_texts,
                              self.source.max_seq_length, ref,
                              self.source.marks(example).template)

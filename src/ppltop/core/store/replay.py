"""Events of a run directory, for `ppltop open`: a finished run, or one being written
(followed live), shown without loading the model (the tokenizer and data only)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .. import mlx_lm
from ..config import EvalConfig
from ..data.split import Split, load_split
from ..data.token_text import TokenTexts
from ..errors import InputError
from ..figures.compare import compare_labels, resolve_reference
from ..figures.results import ExampleResult
from ..figures.summary import summarize
from ..model.precision import Precision
from .events import (
    BatchScored,
    DocumentSource,
    Event,
    ModelFacts,
    Notice,
    RunFinished,
    RunPlan,
    RunStarted,
)
from .records import BatchLine, FinishedLine, Manifest, NoticeLine, StartedLine
from .run_dir import EVENTS, RESULTS, read_events_from, read_run, unpack

POLL_S = 0.5


def config_from_manifest(manifest: Manifest) -> EvalConfig:
    raw = dict(manifest.config)
    raw["model"] = Path(raw["model"])
    raw["data"] = Path(raw["data"])
    raw["adapters"] = [Path(a) for a in raw.get("adapters", [])]
    known = EvalConfig.__dataclass_fields__
    return EvalConfig(**{k: v for k, v in raw.items() if k in known})


class RunFollower:
    """Turns a run directory into the scoring loop's events; `stop()` ends following."""

    def __init__(self, path: Path, follow: bool = True, poll_s: float = POLL_S):
        self.path = Path(path)
        self.follow = follow
        self.poll_s = poll_s
        self.stopped = False
        record = read_run(self.path, with_results=False)
        self.manifest = record.manifest
        self.config = config_from_manifest(self.manifest)
        self.labels = self.manifest.labels

    def stop(self) -> None:
        self.stopped = True

    def _source(self) -> tuple[Split, DocumentSource]:
        from mlx_lm.utils import load_tokenizer

        model = self.config.model
        try:
            tokenizer = load_tokenizer(Path(model))
        except Exception as e:
            raise InputError(f"{self.path}: cannot load the tokenizer of {model} "
                             f"({type(e).__name__}); is the model folder still there?") from e
        split = load_split(Path(self.manifest.data_file), self.config.split, tokenizer,
                           self.config.mask_prompt, self.config.features)
        return split, DocumentSource(split.examples, TokenTexts(tokenizer),
                                     self.config.max_seq_length, str(split.path))

    def events(self) -> Iterator[Event]:
        split, source = self._source()
        offset = 0
        results: dict[str, dict[int, ExampleResult]] = {label: {} for label in self.labels}
        tokens_done = dict.fromkeys(self.labels, 0)
        plan = None
        while not self.stopped:
            events, offset = read_events_from(self.path / EVENTS, offset)
            for event in events:
                if isinstance(event, StartedLine) and plan is None:
                    fields = {k: v for k, v in event.plan.items()
                              if k in RunPlan.__dataclass_fields__}
                    plan = RunPlan(**{**fields, "reference": fields.get("reference") or
                                      resolve_reference(fields["labels"],
                                                        self.config.reference),
                                      "models": [ModelFacts(**m)
                                                 for m in fields.get("models", [])]})
                    yield RunStarted(plan, source)
                elif isinstance(event, NoticeLine):
                    yield Notice(event.level, event.message)
                elif isinstance(event, BatchLine) and plan is not None:
                    with np.load(self.path / RESULTS / event.file) as data:
                        batch_results = unpack(data)
                    label = event.label
                    for r in batch_results:
                        results[label][r.example] = r
                    tokens_done[label] += event.n_tokens
                    yield BatchScored(label, event.batch, plan.n_batches, event.loss_sum,
                                      event.n_tokens, batch_results, tokens_done[label],
                                      plan.targets_per_label, event.elapsed_s,
                                      closes_batch=label == plan.labels[-1])
                elif isinstance(event, FinishedLine) and event is events[-1]:
                    # a later "finished" wins: a cancelled run may have been resumed since
                    if not self._more_after(offset):
                        yield self._finished(event, results, split, plan)
                        return
            if not self.follow:
                yield self._finished(FinishedLine(cancelled=True), results, split, plan)
                return
            time.sleep(self.poll_s)

    def _more_after(self, offset: int) -> bool:
        more, _ = read_events_from(self.path / EVENTS, offset)
        return bool(more)

    def _finished(self, event: FinishedLine, results: dict[str, dict[int, ExampleResult]],
                  split: Split, plan: RunPlan | None) -> RunFinished:
        cfg = self.config
        examples = mlx_lm.chosen_examples(split.examples, cfg)
        kept = Precision.from_dict(self.manifest.precision)
        precision_note = kept.explanation() if kept else None
        rates = {s["label"]: s.get("tokens_per_s") or 0.0 for s in event.summaries}
        peaks = {s["label"]: s.get("peak_memory_bytes") for s in event.summaries}
        kl_notes = {s["label"]: s.get("kl_note") for s in event.summaries}
        paths = self.manifest.adapter_paths()
        models = dict(zip(plan.labels, plan.model_paths)) if plan is not None else {}
        summaries = [summarize(label, paths.get(label), results[label], split,
                               examples, cfg, event.elapsed_s, complete=not event.cancelled,
                               tokens_per_s=rates.get(label, 0.0),
                               precision_note=precision_note, ranks=self.manifest.ranks,
                               model=models.get(label), peak_memory_bytes=peaks.get(label))
                     for label in self.labels]
        for summary in summaries:
            summary.kl_note = kl_notes.get(summary.label)
        comparisons = compare_labels(results, self.labels,
                                     resolve_reference(self.labels, cfg.reference))
        return RunFinished(summaries, event.cancelled, event.elapsed_s, comparisons, results)

"""The breakdowns and the checkpoint curve joined to the event stream, for every front end.

`with_breakdowns` wraps a run's events (scored here, sharded, resumed or read back by
`ppltop open`): on `RunStarted` it reads the record keys of `--group-by` (or proposes keys
that look like groups, in one notice) and passes it on with the `GroupInput` for live
breakdowns; on `RunFinished` it passes it on with the run's `Breakdowns` and its
checkpoint curve (`checkpoints.curve_of_finished`), each computed once from its results,
after a warning when the roles' cross-check (`token_marks`) found records it disagrees on.
The events are frozen: each is passed on as a copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from ..config import EvalConfig
from ..data.record_groups import example_groups, propose_keys
from ..data.token_marks import TokenMarks
from ..figures.breakdowns import GroupInput, compute_breakdowns
from ..figures.checkpoints import curve_of_finished
from ..figures.compare import resolve_reference
from .events import Event, Notice, RunFinished, RunStarted


def group_input(config: EvalConfig, started: RunStarted) -> GroupInput | None:
    """What the breakdowns of this run need besides its results (None: no data source)."""
    source = started.source
    if source is None:
        return None
    path = Path(source.path)
    groups, notes = example_groups(path, tuple(config.group_by),
                                   [e.line for e in source.examples])
    proposed = [] if config.group_by else propose_keys(path, config.features)
    return GroupInput(source.marks,
                      started.plan.data_format, groups, notes, proposed)


def proposal_notice(proposed: list[tuple[str, int]]) -> Notice:
    keys = ", ".join(f"{k} ({n} values)" for k, n in proposed)
    first = proposed[0][0]
    return Notice("info", f"records have keys that look like groups: {keys}; "
                          f"--group-by {first} breaks the loss down by it")


def cross_check_notice(marks: TokenMarks) -> Notice:
    """The special tokens of some records name other roles than their messages have."""
    first = marks.examples[marks.disagreeing[0]].line
    return Notice("warning", f"the chat template's special tokens name other roles than the "
                             f"messages in {len(marks.disagreeing)} record(s) (first: line "
                             f"{first}); the role breakdown follows the messages")


def with_breakdowns(make_events: Callable[[], Iterator[Event]], config: EvalConfig
                    ) -> Callable[[], Iterator[Event]]:
    """`make_events`, with the breakdowns attached to its start and finish events."""

    def events() -> Iterator[Event]:
        inputs, labels = None, []
        reference: str | None = ""
        inner = make_events()
        try:
            for event in inner:
                if isinstance(event, RunStarted):
                    inputs = group_input(config, event)
                    event = replace(event, groups=inputs)
                    labels = event.plan.labels
                    reference = event.plan.reference or config.reference
                    yield event
                    if inputs is not None and inputs.proposed:
                        yield proposal_notice(inputs.proposed)
                    for note in (inputs.notes.values() if inputs is not None else ()):
                        yield Notice("info", note)
                    continue
                if isinstance(event, RunFinished) and inputs is not None and event.results:
                    # its own labels: a watch's finish holds the checkpoints added since
                    scored = [*labels, *(s.label for s in event.summaries
                                         if s.label not in labels)]
                    # the reference its comparisons were made against; a watch's plan may
                    # name one it never scored
                    against = event.comparisons[0].reference if event.comparisons \
                        else resolve_reference(scored, reference)
                    event = replace(event, breakdowns=compute_breakdowns(
                        event.results, scored, against, inputs))
                    if inputs.marks.disagreeing:
                        yield cross_check_notice(inputs.marks)
                if isinstance(event, RunFinished):
                    event = replace(event, checkpoints=curve_of_finished(event))
                yield event
        finally:
            close = getattr(inner, "close", None)
            if close is not None:
                close()

    return events

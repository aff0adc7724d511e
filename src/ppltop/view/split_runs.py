"""The runs of one dashboard: one `LiveRun`, or one per split when several are scored one
after the other (`--split valid,test`); the curve of all of them side by side."""

from __future__ import annotations

from ..core.figures.checkpoints import CheckpointCurve, curve_of_live, curves_side_by_side
from ..core.store.events import SplitStarted
from .live import LiveRun


class SplitRuns:
    """The `LiveRun` being scored (`live`), those of the splits scored before it, and the
    one the dashboard shows (`shown`: the one scored unless the user chose another)."""

    def __init__(self, name: str = "", split: str = "") -> None:
        self.name = name
        """The run's name (its folder's): every split's `LiveRun` has it."""
        self.live = LiveRun(name, split)
        self.split: str | None = None
        """The split `live` scores; None for a run of one split (`live.split` says which)."""
        self.index, self.count = 0, 1
        self.kind = "split"
        """What the parts are (`SplitStarted.kind`)."""
        self.reference: str | None = None
        """The label compared with across the parts (`SplitStarted.reference`)."""
        self.earlier: dict[str, LiveRun] = {}
        """The splits scored before, in order."""
        self.chosen: str | None = None
        """The split the user chose to look at (`next_shown`); None: the one being scored."""

    def start(self, event: SplitStarted) -> None:
        """The next part: its events go to a new `LiveRun` (of the same split, unless the
        parts are splits)."""
        split = event.split if event.kind == "split" else self.live.split
        if self.split is not None:
            self.earlier[self.split] = self.live
            self.live = LiveRun(self.name, split)
        self.live.split = split
        self.chosen = None  # the dashboard follows the part that starts
        self.split, self.index, self.count = event.split, event.index, event.count
        self.kind, self.reference = event.kind, event.reference

    def part_title(self, part: str) -> str:
        """A part in words: `split test`, `tokenizer of smollm2-135m-f32`."""
        return f"{self.kind} {part}"

    @property
    def several(self) -> bool:
        return self.split is not None

    def by_split(self) -> dict[str, LiveRun]:
        """Every split's run so far, in order ({"": live} for a run of one split)."""
        return {**self.earlier, (self.split or ""): self.live}

    @property
    def shown(self) -> LiveRun:
        """The split's run the dashboard shows: the one chosen, else the one scored."""
        return self.earlier.get(self.chosen or "", self.live)

    @property
    def shown_split(self) -> str | None:
        return self.chosen if self.chosen in self.earlier else self.split

    def next_shown(self) -> str | None:
        """Show the next split scored so far (after the last, the first); its name, or
        None with one split only."""
        splits = list(self.by_split())
        if len(splits) < 2:
            return None
        at = splits.index(self.shown_split or "")
        following = splits[(at + 1) % len(splits)]
        self.chosen = None if following == self.split else following
        return following

    def live_of(self, split: str) -> LiveRun:
        return self.by_split().get(split or "", self.live)

    def curve(self) -> CheckpointCurve | None:
        """The checkpoint curve of every split so far, side by side (one split: its own)."""
        return curves_side_by_side({split: curve_of_live(live)
                                    for split, live in self.by_split().items()})

    def state(self) -> tuple[object, ...]:
        """Changes whenever a result or a figure arrives in any split (a redraw key)."""
        return tuple((split, live.finished is not None, len(live.label_summaries),
                      tuple(len(index) for index in live.index.values()))
                     for split, live in self.by_split().items())

    def finished(self) -> dict[str, object]:
        """{split: RunFinished} of the splits scored to their end (or stopped)."""
        return {split: live.finished for split, live in self.by_split().items()
                if live.finished is not None}

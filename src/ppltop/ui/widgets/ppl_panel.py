"""The running PPL panel: the figure in large type, its interval, throughput, progress."""

from __future__ import annotations

import math

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Digits, ProgressBar, Sparkline, Static

from ...core.figures import formats as fmt
from ...view.display_names import LabelNames, shown
from ...view.live import LiveRun
from ..text_flow import FlowLine

SPARKLINE_ROWS = 30
"""Terminal rows from which the sparkline is two rows high (one below)."""


class PplPanel(Vertical):
    """Reads a `LiveRun` for one active label; `show` is called after each UI tick."""

    DEFAULT_CSS = """
    PplPanel {
        border: round $primary;
        border-title-color: $primary;
        padding: 0 1;
        height: auto;
    }
    PplPanel #ppl-head { height: auto; }
    PplPanel #ppl-digits { width: auto; color: $accent; margin: 0 2 0 0; }
    PplPanel #ppl-side { height: auto; width: 1fr; }
    PplPanel #ppl-state { color: $warning; text-style: bold; height: auto; }
    PplPanel Sparkline { height: 2; margin: 0 0 0 0; }
    PplPanel Sparkline > .sparkline--max-color { color: $accent; }
    PplPanel Sparkline > .sparkline--min-color { color: $primary; }
    PplPanel ProgressBar { width: 100%; }
    PplPanel ProgressBar Bar { width: 1fr; }
    """

    def __init__(self, names: LabelNames | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = "Running PPL"
        self.names = names if names is not None else LabelNames()
        """The App's view state: the active label and the display names."""
        self._progress_step = -1
        self._state_shown = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="ppl-head"):  # the figure in large type, its interval beside it
            yield Digits("–", id="ppl-digits")
            with Vertical(id="ppl-side"):
                yield Static("", id="ppl-state")
                yield FlowLine(id="ppl-detail")
        yield FlowLine(id="ppl-mlx")
        yield FlowLine(id="ppl-others")
        yield Sparkline([], id="ppl-spark")
        yield FlowLine(id="ppl-throughput")
        yield ProgressBar(total=1.0, show_eta=False, id="ppl-progress")

    @property
    def aliases(self) -> dict[str, str]:
        return self.names.aliases

    @property
    def active_label(self) -> str | None:
        return self.names.active

    def reset_split(self) -> None:
        """The next split of the run: the progress bar starts again."""
        self._progress_step = -1

    def fit_height(self, terminal_rows: int) -> None:
        """One row of sparkline where the chart below needs the room (24 rows), two above."""
        self.query_one("#ppl-spark", Sparkline).styles.height = \
            2 if terminal_rows >= SPARKLINE_ROWS else 1

    def show(self, live: LiveRun, paused: bool = False, sparkline: bool = True) -> None:
        """Redraw from `live`; `sparkline=False` leaves the sparkline as it is (each of its
        cells has its own color, so redrawing it costs many bytes over SSH)."""
        if not live.labels:
            return
        label = self.active_label if self.active_label in live.labels else next(iter(live.labels))
        series = live.labels[label]
        title = f"Running PPL · {shown(label, self.aliases)}"
        if self.border_title != title:  # setting it repaints the whole panel, even unchanged
            self.border_title = title
        final = live.summary_of(label)
        ppl = final.ppl if final else series.ppl
        lo, hi = final.ppl_ci95 if final else series.ppl_ci95
        loss = final.loss if final else series.loss
        self.query_one("#ppl-digits", Digits).update(fmt.ppl(ppl))
        self._show_state(live, series, final, paused)
        bits = loss / math.log(2) if math.isfinite(loss) else math.nan
        self.query_one("#ppl-detail", FlowLine).set_segments([
            f"PPL {fmt.ppl(ppl)}", f"95% CI {fmt.interval(lo, hi, fmt.PPL_DECIMALS)}",
            f"loss {fmt.loss(loss)} nats", f"{fmt.number(bits, 3)} bits/token"])
        line = live.mlx_lm_line(label)  # mlx-lm's own words, as `mlx_lm.lora --test` prints
        self.query_one("#ppl-mlx", FlowLine).set_segments(
            [f"mlx-lm: {line}"] if line else
            [f"mlx-lm: its {live.split_word} loss/ppl line at the end"])
        others = [f"{shown(name, self.aliases)} {fmt.ppl(s.ppl)}"
                  for name, s in live.labels.items() if name != label]
        if others:
            others[0] = f"others: {others[0]}"
        self.query_one("#ppl-others", FlowLine).set_segments(others)
        if sparkline:
            spark = self.query_one("#ppl-spark", Sparkline)
            spark.data = [v for v in series.running_ppl if math.isfinite(v)]
            spark.display = len(spark.data) > 1  # one value would be a bar, not a line
        self._show_throughput(live, series, paused)

    def _show_state(self, live: LiveRun, series, final, paused: bool) -> None:
        """The line under the figure: how the run stands, and examples left out."""
        state = ""
        if live.error:
            state = "stopped by an error: figures are partial"
        elif live.finished and live.finished.cancelled:
            state = "cancelled: figures are partial"
        elif live.finished:
            state = "finished"
        elif live.writer_gone:
            state = live.writer.words()
        elif paused:
            state = "paused"
        left_out = final.nonfinite_examples if final else None
        n_left_out = len(left_out) if left_out is not None else series.nonfinite_examples
        if n_left_out:
            note = f"{fmt.plural(n_left_out, 'example')} left out: non-finite loss (see log)"
            state = f"{state} · {note}" if state else note
        if state != self._state_shown:  # rare: a layout only then (it may wrap)
            self._state_shown = state
            self.query_one("#ppl-state", Static).update(state)

    def _show_throughput(self, live: LiveRun, series, paused: bool) -> None:
        """Tokens, rate, elapsed, ETA, memory, and the progress bar."""
        done = sum(s.tokens_done for s in live.labels.values())
        total = sum(s.tokens_total for s in live.labels.values())
        self.query_one("#ppl-throughput", FlowLine).set_segments([
            f"tokens {fmt.count(series.tokens_done)}/{fmt.count(series.tokens_total)}",
            fmt.rate(live.tokens_per_s), f"elapsed {fmt.duration(live.scoring_s)}",
            fmt.eta(live.eta_s, over=bool(live.finished or live.error), paused=paused),
            *(live.memory.segments() if live.memory else [])])
        # Redraw the bar only when it would look different (1/200 steps): bytes over SSH.
        step = round(200 * done / max(total, 1))
        if step != self._progress_step:
            self._progress_step = step
            self.query_one("#ppl-progress", ProgressBar).update(total=max(total, 1), progress=done)

"""The App's keys that open a screen (each screen opens once: a key brings an open one
forward), the active label, the screenshot and report keys, and the command palette.

A mixin of `PplTopApp`: the actions have to be the App's own for its bindings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from textual import work
from textual.app import SystemCommand
from textual.screen import Screen

from ..core.figures.byte_compare import across_reference
from .screens.bytes_screen import BytesScreen, Side
from .screens.checkpoint_screen import CheckpointScreen
from .screens.comparison_screen import ComparisonScreen
from .screens.document_screen import DocumentScreen
from .screens.groups_screen import GroupsScreen
from .screens.help_screen import HelpScreen
from .screens.runs_screen import RunsScreen
from .screens.viewer_screen import ViewerScreen


class ScreenNavigation:
    """Opens the screens of the App it is mixed into, on its `live` run."""

    def action_activate(self, number: int) -> None:
        """The #number label of the run on screen: the dashboard's active label when the
        screen shows the dashboard's run; a run opened from the runs screen has labels of
        its own, and the dashboard under it keeps its label."""
        live = getattr(self.screen, "live", None) or self.live
        labels = list(live.labels)
        if not 1 <= number <= len(labels):
            self.notify(f"no model/adapter #{number} (there are {len(labels)})")
            return
        label = labels[number - 1]
        if live is self.live:
            self.set_active_label(label)
            self.notify(f"active: {self.name_of(label)}")
        else:
            self.notify(f"{label} in this screen (the dashboard keeps "
                        f"{self.name_of(self.active_label or '')})")
        for screen in self.screen_stack:  # every pane of this run: those under this one too
            if isinstance(screen, ComparisonScreen | GroupsScreen | ViewerScreen) \
                    and screen.live is live:
                screen.show_label(label)

    def bring_forward(self, wanted: Callable[[Screen], bool]) -> Screen | None:
        """The open screen that `wanted` accepts, now on top (the screens above it close),
        or None: a key that opens a screen opens it once, so screens never stack up."""
        stack = self.screen_stack
        found = next((i for i, screen in enumerate(stack) if wanted(screen)), None)
        if found is None:
            return None
        with self.batch_update():
            for _ in stack[found + 1:]:
                self.pop_screen()
        return stack[found]

    def action_open_comparison(self) -> None:
        if len(self.live.labels) < 2 or self.live.source is None:
            self.notify("comparison needs a base model and an adapter, or two adapters")
            return
        self._last_compare = time.monotonic()
        screen = self.bring_forward(lambda s: isinstance(s, ComparisonScreen)
                                    and s.live is self.live)
        if screen is None:
            self.push_screen(ComparisonScreen(self.live, self.reference_label,
                                              self.active_label, self.aliases))
        else:  # up to date: only the screen on top follows new results
            screen.show_label(self.active_label)

    def action_open_bytes(self) -> None:
        """`b`, models of different tokenizers: the first model of the part on screen (or
        of the next part, on the reference's) against the reference (--reference, else the
        first part's first model), character by character."""
        parts = [live for live in self.runs.by_split().values() if live.source is not None
                 and live.labels]
        if len(parts) < 2:
            self.notify("character by character needs two tokenizers' models scored")
            return
        reference = across_reference(self.runs.reference,
                                     [label for live in parts for label in live.labels])
        if reference is None:
            self.notify(f"the reference {self.runs.reference}'s tokenizer is not scored yet")
            return
        theirs = next(live for live in parts if reference in live.labels)
        others = [live for live in parts if live is not theirs]
        shown = self.live if self.live in others else others[0]
        if self.bring_forward(lambda s: isinstance(s, BytesScreen)) is None:
            self.push_screen(BytesScreen(Side(shown, next(iter(shown.labels))),
                                         Side(theirs, reference)))

    def action_open_checkpoints(self) -> None:
        if self.bring_forward(lambda s: isinstance(s, CheckpointScreen)) is None:
            self.push_screen(CheckpointScreen(self.runs))

    def action_open_groups(self) -> None:
        if self.live.groups is None and not (self.live.finished
                                             and self.live.finished.breakdowns):
            self.notify("no breakdowns: nothing scored yet")
            return
        self._last_compare = time.monotonic()
        screen = self.bring_forward(lambda s: isinstance(s, GroupsScreen)
                                    and s.live is self.live)
        if screen is None:
            self.push_screen(GroupsScreen(self.live, self.active_label, self.names))
        else:  # a name or the reference may have changed in the comparison view
            screen.refresh_data()

    def action_open_runs(self) -> None:
        if self.bring_forward(lambda s: isinstance(s, RunsScreen)) is None:
            self.push_screen(RunsScreen(self.runs_folder))

    def action_open_viewer(self) -> None:
        """The viewer of the run on screen. One already open under this screen comes back
        as it was left, its label and group kept (a document opened from it may be another
        label's); its title names them."""
        live = getattr(self.screen, "live", None) or self.live
        screen = self.bring_forward(lambda s: isinstance(s, ViewerScreen) and s.live is live)
        if screen is not None:
            screen.refresh_data()  # only the screen on top follows new results
            return
        label = (self.active_label if live is self.live
                 else getattr(self.screen, "label", None) or getattr(self.screen, "active", None)
                 or next(iter(live.labels), None))
        if label is None or live.source is None:
            self.notify("nothing scored yet")
            return
        self.push_screen(ViewerScreen(live, label))

    def action_worst_token(self) -> None:
        label = self.active_label
        index = self.live.index.get(label) if label else None
        hits = index.worst_tokens(1) if index else []
        if not hits:
            self.notify("nothing scored yet")
            return
        worst = hits[0]
        screen = self.bring_forward(lambda s: isinstance(s, DocumentScreen)
                                    and s.live is self.live and s.label == label
                                    and s.example == worst.example)
        if screen is None:
            self.push_screen(DocumentScreen(self.live, label, worst.example, worst.position,
                                            reference=self.reference_label))
        else:
            screen.move_to(worst.position)

    def action_toggle_help(self) -> None:
        """The help screen for the screen on top (`?` there closes it)."""
        self.push_screen(HelpScreen(self.screen))

    def action_save_svg(self) -> None:
        path = self.save_screenshot(path=str(Path.cwd()))
        self.notify(f"screenshot saved: {path}")

    def action_write_report(self) -> None:
        if self.run_dir is None or self.live.finished is None:
            self.notify("the report is written once the run has finished; from a shell: "
                        "ppltop report RUN_DIR", severity="warning")
            return
        self.notify(f"writing the report of {self.run_dir} ...")
        self._write_report(Path(self.run_dir))

    @work(thread=True, exit_on_error=False, name="report")
    def _write_report(self, run_dir: Path) -> None:
        """In a thread: reading the run back loads its tokenizer and data (seconds)."""
        from ..core.errors import InputError
        from ..report import write_report

        try:
            path = write_report(run_dir, run_dir / "report.html", names=self.names)
        except (InputError, OSError) as e:
            self.call_from_thread(self.notify, f"report: {e}", severity="error")
            return
        self.call_from_thread(self.notify, f"report written: {path}")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette lists every key action once, with the binding's description:
        ours replace Textual's theme picker, quit, key panel and screenshot."""
        ours = {"Theme", "Quit", "Keys", "Screenshot"}
        yield from (command for command in super().get_system_commands(screen)
                    if command.title not in ours)
        current = {b.id: b for found in self._bindings.key_to_bindings.values() for b in found}
        for binding in self.BINDINGS:
            binding = current.get(binding.id, binding)  # p's word changes: Pause, Resume
            if binding.action.startswith("activate("):
                continue  # one entry per label below, by its name, not #1 to #9
            if self.check_action(binding.action, ()) is False:
                continue
            yield SystemCommand(binding.description, binding.tooltip,
                                partial(self.run_action, binding.action))
        for number, label in enumerate(self.live.labels, 1):
            name = self.name_of(label)
            yield SystemCommand(f"Activate {name}",
                                f"Make {name} (#{number}) active in every pane",
                                partial(self.action_activate, number))

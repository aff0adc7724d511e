"""The app's keys, what each binding is for, and the user's key map.

Bindings stay where Textual wants them (`BINDINGS` of the app, a screen or a widget); `keys`
files them under a purpose as they are declared (the help screen's headings), so the help is
generated from the bindings themselves and never drifts from what the keys do.
"""

from __future__ import annotations

from pathlib import Path

from textual.binding import Binding

PURPOSES: dict[str, str] = {}
"""Binding id -> its heading in the help screen, filled by `keys` as classes are defined."""

PINNED_ACTIONS = ("toggle_help", "save_svg", "quit_app")
"""Actions whose keys every footer shows on its right, however many keys the screen adds:
help, screenshot and quit (the help screen lists every other key)."""


def keys(purpose: str, *bindings: Binding) -> list[Binding]:
    """`bindings`, filed under `purpose` (e.g. "Scoring", "Open") in the help screen."""
    for binding in bindings:
        if binding.id:
            PURPOSES[binding.id] = purpose
    return list(bindings)


def purpose_of(binding: Binding, default: str) -> str:
    return PURPOSES.get(binding.id or "", default)


APP_BINDINGS = [
    # first in the footer: at 80x24 the dashboard's own keys do not all fit, and this one
    # is how the config and the log are reached there
    *keys("Show",
          Binding("o", "toggle_config", "Config", id="ppltop.config",
                  tooltip="Below 100x30 the dashboard shows the figures and the chart: show "
                  "the config and the log in their place, or the figures again")),
    *keys("Scoring",
          Binding("p", "toggle_pause", "Pause", id="ppltop.pause",
                  tooltip="Pause or resume scoring between batches"),
          Binding("c", "cancel_run", "Cancel", id="ppltop.cancel",
                  tooltip="Stop scoring after this batch; the figures so far stay, "
                  "marked partial"),
          Binding("ctrl+c", "interrupt", "Interrupt", show=False, id="ppltop.interrupt",
                  tooltip="As Ctrl-C in headless mode: stop after the batch in flight, "
                  "keep the partial figures, quit with status 130")),
    *keys("Open",
          Binding("v", "open_viewer", "Viewer", id="ppltop.viewer",
                  tooltip="Surprisal viewer: examples, worst tokens, loss by token, "
                  "histograms"),
          Binding("w", "worst_token", "Worst", id="ppltop.worst_token",
                  tooltip="Open the single most surprising token of the run"),
          Binding("a", "open_comparison", "Compare", id="ppltop.compare",
                  tooltip="Compare every model/adapter with the reference, paired"),
          Binding("b", "open_bytes", "Bytes", id="ppltop.bytes",
                  tooltip="Models of different tokenizers: one example character by "
                  "character, each model's surprisal and the change"),
          Binding("R", "open_runs", "Runs", id="ppltop.runs",
                  tooltip="The runs in the run folder; compare two side by side"),
          Binding("i", "open_checkpoints", "Curve", id="ppltop.checkpoints",
                  tooltip="Checkpoints: test loss by training iteration, the best one "
                  "marked"),
          Binding("g", "open_groups", "Groups", show=False, id="ppltop.groups",
                  tooltip="Loss by group (record key, chat role, turn, template, position): "
                  "where each adapter helps and hurts")),
    *keys("Show",
          Binding("x", "toggle_x_axis", "X axis", show=False, id="ppltop.x_axis",
                  tooltip="Batch loss chart: x axis in batches or in tokens"),
          Binding("S", "next_split", "Split", id="ppltop.split",
                  tooltip="A run over several splits: show the next split's figures (the "
                  "screens a, v, g, w open then show it too)"),
          Binding("t", "next_theme", "Theme", show=False, id="ppltop.theme",
                  tooltip="Switch to the next theme"),
          *[Binding(str(n), f"activate({n})", f"Activate #{n}", show=False,
                    id=f"ppltop.activate_{n}",
                    tooltip=f"Make the #{n} model/adapter active in every pane")
            for n in range(1, 10)]),
    *keys("General",
          Binding("question_mark", "toggle_help", "Help", id="ppltop.help",
                  tooltip="The keys of this screen and what the colors mean"),
          Binding("ctrl+s", "save_svg", "Screenshot", id="ppltop.screenshot",
                  tooltip="Save an SVG screenshot of the screen in the current folder"),
          Binding("H", "write_report", "Report", show=False, id="ppltop.report",
                  tooltip="Write the run as one HTML page to share, report.html in its run "
                  "directory (once the run has finished)"),
          Binding("q", "quit_app", "Quit", id="ppltop.quit",
                  tooltip="Stop the scoring thread cleanly and quit")),
]
"""The keys of the dashboard; they work on every screen (a screen's own key wins)."""


def load_keymap(path: Path | None = None) -> tuple[dict[str, str], str | None]:
    """User key map: `<config dir>/ppltop/keymap.toml`, lines `"ppltop.pause" = "space"`.

    Returns (keymap, error line or None).
    """
    import tomllib

    from platformdirs import user_config_dir

    path = path or Path(user_config_dir("ppltop")) / "keymap.toml"
    if not path.is_file():
        return {}, None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as e:
        return {}, f"keymap {path}: {e}"
    keymap = {k: v for k, v in data.items() if isinstance(v, str)}
    return keymap, None

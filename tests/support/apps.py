"""Apps the Pilot and snapshot tests drive: the real demo scored live, and fixed synthetic
runs (one label pair, the groups view's three labels)."""

from __future__ import annotations

from ppltop import demo
from ppltop.core.config import EvalConfig
from ppltop.core.engine.evaluation import Evaluation
from ppltop.core.store.breakdown_events import with_breakdowns
from ppltop.themes import builtin_dir, load_themes
from ppltop.ui.app import PplTopApp
from support import synthetic

THEMES = sorted(load_themes([builtin_dir()]).themes)
CASES = [(theme, False) for theme in THEMES] + [("ppltop-mono", True), ("ppltop-dark", True)]
"""(theme, NO_COLOR): every bundled theme, then the monochrome filter on two of them."""

LABELS = ("base", "docs-net", "docs-math")
CONFIG = EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR, group_by=("source",))
"""The groups view's run: the demo grouped by its records' source."""


def demo_app(handle, **kw) -> tuple[PplTopApp, Evaluation]:
    """The dashboard on a real evaluation of the demo with its two adapters."""
    cfg = EvalConfig(model=demo.MODEL_DIR, data=demo.DATA_DIR / "test.jsonl",
                     adapters=list(demo.ADAPTER_DIRS.values()), **kw)
    evaluation = Evaluation(cfg, handle)
    app = PplTopApp(evaluation.events, synthetic.INFO, request_stop=evaluation.cancel)
    return app, evaluation


def two_label_app(tmp_path, **kw) -> PplTopApp:
    """The synthetic run of the demo's examples with labels base and docs-net."""
    return PplTopApp(lambda: synthetic.document_events(labels=("base", "docs-net")),
                     synthetic.INFO, runs_folder=tmp_path, **kw)


def groups_app() -> PplTopApp:
    """The synthetic three-label run with breakdowns by source."""
    events = with_breakdowns(
        lambda: synthetic.document_events(max_examples=51, labels=LABELS), CONFIG)
    return PplTopApp(events, synthetic.INFO)

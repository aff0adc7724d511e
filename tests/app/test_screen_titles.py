"""Every screen names what it shows on its first line: the run (its folder's name), the
label, the split, the group or filter, and whether the figures are partial; the viewer of a
group is of that group's examples in every tab; `v` from a document brings the viewer back
as it was; digit keys on a run opened from the runs screen leave the dashboard's label; `S`
shows the other split of a run over several."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from textual.widgets import Input, TabbedContent

from ppltop.core.store.breakdown_events import with_breakdowns
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.comparison_screen import ComparisonScreen
from ppltop.ui.screens.document_screen import DocumentScreen
from ppltop.ui.screens.groups_screen import GroupsScreen, GroupTable
from ppltop.ui.screens.viewer_screen import ViewerScreen
from ppltop.ui.widgets.config_pane import ConfigPane
from ppltop.ui.widgets.paged_table import PagedTable
from ppltop.view.surprisal import SurprisalIndex
from support import synthetic
from support.apps import CONFIG, LABELS
from support.pilot import wait_for
from support.screen_text import screen_lines

RUN = Path("ppltop-runs/demo-run-1202")
"""A run directory's path: its folder's name is the run's name (nothing is written)."""


def _app(examples: int = 51) -> PplTopApp:
    events = with_breakdowns(lambda: synthetic.document_events(
        max_examples=examples, labels=LABELS, finish=True), CONFIG)
    return PplTopApp(events, synthetic.INFO, run_dir=RUN, split="test")


async def _finished(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.live.finished is not None, timeout=60)
    await pilot.pause(0.2)


def _title(app) -> str:
    return screen_lines(app)[0]


async def test_every_screen_names_the_run_the_label_the_split_and_what_it_shows():
    app = _app()
    async with app.run_test(size=(160, 40)) as pilot:
        await _finished(pilot)
        assert "ppltop · demo-run-1202 · base · split test" in _title(app)
        await pilot.press("v")
        assert isinstance(app.screen, ViewerScreen)
        assert _title(app).strip() == ("Surprisal viewer · demo-run-1202 · base · split test"
                                       " · all examples")
        await pilot.press("slash")
        app.screen.query_one(Input).value = "the"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert 'base · split test · filter "the" · all examples' in _title(app)
        app.screen.query_one("#examples", PagedTable).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, DocumentScreen)
        example = app.screen.example
        assert f"Document · demo-run-1202 · base · split test · example {example} " \
            in _title(app)
        await pilot.press("2", "a")
        assert isinstance(app.screen, ComparisonScreen)
        assert "Comparison · demo-run-1202 · docs-net vs base · split test · all " \
            "examples" in _title(app)
        await pilot.press("g")
        assert isinstance(app.screen, GroupsScreen)
        assert "Groups · demo-run-1202 · docs-net · split test · by record key 'source' · " \
            "all examples" in _title(app)
        await pilot.press("R")
        assert _title(app).strip().startswith("Runs · ppltop-runs")


async def test_a_running_run_says_its_figures_are_partial():
    app = PplTopApp(lambda: synthetic.document_events(labels=("base", "docs-net")),
                    synthetic.INFO)  # never finishes; no run directory
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: len(app.live.index.get("docs-net") or ()) > 0)
        await pilot.press("v")
        assert isinstance(app.screen, ViewerScreen)
        assert "run not recorded · base" in _title(app)
        assert _title(app).rstrip().endswith(" · partial")


async def test_the_viewer_of_a_group_is_of_its_examples_in_every_tab():
    app = _app()
    async with app.run_test(size=(160, 40)) as pilot:
        await _finished(pilot)
        await pilot.press("g")
        groups = app.screen
        assert isinstance(groups, GroupsScreen)
        b = groups.breakdown
        group = b.groups[0]
        examples = set(groups.breakdowns.examples_of(b.key, group.name))
        assert 0 < len(examples) < len(app.live.index["base"])
        groups.query_one(GroupTable).focus()
        await pilot.press("home", "enter")
        viewer = app.screen
        assert isinstance(viewer, ViewerScreen)
        assert f"group source={group.name} ({len(examples)} examples)" in _title(app)
        assert viewer.query_one("#examples", PagedTable).row_count == len(examples)
        assert viewer._worst and {hit.example for hit in viewer._worst} <= examples
        tokens = sum(r.n_tokens for i, r in app.live.index["base"].results.items()
                     if i in examples)
        assert sum(g.count for g in viewer._groups) == tokens
        viewer.query_one(TabbedContent).active = "tab-hist"
        await pilot.pause(0.2)
        (token_counts, _), (example_counts, _) = viewer.histograms  # as drawn
        assert token_counts.sum() == tokens and example_counts.sum() == len(examples)


def test_the_index_answers_for_some_examples_only():
    """The view model computes the group's figures (the screen only asks)."""
    from ppltop.core.figures.results import ExampleResult
    from ppltop.core.mlx_lm import MlxLmPart

    index = SurprisalIndex()
    for example, logprob in ((0, [-0.1, -9.0]), (1, [-5.0, -0.2, -0.3])):
        n = len(logprob)
        index.add(ExampleResult(example=example, first=1, targets=np.arange(n) + example,
                                logprob=np.array(logprob, np.float32),
                                entropy=np.zeros(n, np.float32), rank=np.ones(n, np.int32),
                                top_ids=np.zeros((n, 1), np.int32),
                                top_logprobs=np.zeros((n, 1), np.float32), n_bytes=n,
                                truncated=0, mlx_lm=MlxLmPart(np.zeros(n, np.float32), 0.0)))
    only = np.array([1])
    assert [hit.example for hit in index.worst_tokens(5, only)] == [1, 1, 1]
    assert index.worst_tokens(1)[0].example == 0
    assert sum(g.count for g in index.by_token(examples=only)) == 3
    (tokens, _), (means, _) = index.histograms(examples=only)
    assert tokens.sum() == 3 and means.sum() == 1
    assert index.worst_occurrence(1, only).example == 1
    assert index.loss_total(only) == index.results[1].loss_sum


async def test_v_from_a_document_brings_the_viewer_back_with_its_own_label():
    app = _app()
    async with app.run_test(size=(160, 40)) as pilot:
        await _finished(pilot)
        await pilot.press("g", "l")  # the groups of docs-net; the dashboard keeps base
        assert app.screen.label == "docs-net" and app.active_label == "base"
        app.screen.query_one(GroupTable).focus()
        await pilot.press("home", "enter")
        viewer = app.screen
        assert isinstance(viewer, ViewerScreen) and viewer.label == "docs-net"
        viewer.query_one("#examples", PagedTable).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, DocumentScreen)
        await pilot.press("v")
        assert app.screen is viewer
        assert viewer.label == "docs-net" and viewer.group_examples is not None
        assert "docs-net · split test · group" in _title(app)


async def test_S_shows_the_other_split_and_the_screens_it_opens_are_of_it():
    """`--split valid,test`: once test has started, valid's figures stay one key away."""
    def two_splits():
        from ppltop.core.store.events import SplitStarted

        for index, (split, examples) in enumerate((("valid", 6), ("test", 4))):
            yield SplitStarted(split, index, 2)
            yield from synthetic.document_events(examples, ("base", "docs-net"), finish=True)

    app = PplTopApp(two_splits, synthetic.INFO, run_dir=RUN)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.runs.split == "test"
                       and app.runs.live.finished is not None, timeout=60)
        await pilot.pause(0.3)
        while len(app.screen_stack) > 1:  # the curve screen opened by itself
            await pilot.press("escape")
        test, valid = app.runs.live, app.runs.earlier["valid"]
        config = app.query_one(ConfigPane)
        assert config.info["examples"].startswith("4 ")
        assert app.live is test and app.check_action("next_split", ()) is True
        await pilot.press("S")
        await pilot.pause(0.2)
        assert app.live is valid and app.sub_title == "split valid (1 of 2): finished"
        assert config.info["examples"].startswith("6 ")  # valid's plan and figures
        await pilot.press("a")
        assert isinstance(app.screen, ComparisonScreen) and app.screen.live is valid
        assert "demo-run-1202 · " in _title(app) and "· split valid ·" in _title(app)
        await pilot.press("escape", "S")
        await pilot.pause(0.2)
        assert app.live is test and config.info["examples"].startswith("4 ")
        assert app.sub_title == "split test (2 of 2): finished"


async def test_S_is_not_offered_for_a_run_of_one_split():
    app = PplTopApp(synthetic.events, synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.finished is not None)
        assert app.check_action("next_split", ()) is False


def test_a_long_run_name_is_cut_so_the_status_after_it_stays_in_view():
    from ppltop.view.screen_title import NAME_MAX, screen_title

    title = screen_title("ppltop", "x" * 60, "base", "test")
    assert title == f"ppltop · {'x' * (NAME_MAX - 1)}… · base · split test"


async def test_a_valid_split_s_placeholders_use_mlx_lm_s_word_for_it():
    """Before the run ends the PPL pane and the comparison say which line will come: on
    valid.jsonl mlx-lm's `Val loss …`, not `Test loss …`."""
    app = PplTopApp(lambda: synthetic.document_events(labels=LABELS, finish=False),
                    synthetic.INFO, run_dir=RUN, split="valid")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "its Val loss/ppl line at the end" in
                       "\n".join(screen_lines(app)), timeout=30)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ComparisonScreen), timeout=10)
        await wait_for(pilot, lambda: "mlx-lm's Val loss/ppl lines: when the run finishes"
                       in "\n".join(screen_lines(app)), timeout=10)

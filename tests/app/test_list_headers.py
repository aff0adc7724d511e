"""Lists say what they hold (issue #21, item 17) and the curve and the help keep their word
(item 15): the examples tab's sort arrow and filtered count, the comparison's lower panes'
titles, units and previews, entropy in bits in the diff detail, one mlx-lm mark per
checkpoint, and ctrl+s saving the help itself."""

from __future__ import annotations

from ppltop.ui.widgets.paged_table import PagedTable
from support import synthetic
from support.apps import two_label_app
from support.pilot import open_screen, scored
from support.screen_text import screen_lines


def header(table: PagedTable) -> str:
    return table.render_line(0).text


async def test_the_examples_tab_shows_its_sort_and_how_many_the_filter_keeps(tmp_path):
    app = two_label_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "viewer")
        screen = app.screen
        table = screen.query_one("#examples", PagedTable)
        assert "mean nats▼" in header(table)  # the sorted column, at 80 columns too
        count = screen.query_one("#examples-count")
        total = table.row_count
        assert str(count.render()).startswith(f"{total} examples")
        needle = table.fetch(0, 1)[0][-1].split()[0].lower()
        await pilot.press("slash", *needle, "enter")
        await pilot.pause(0.2)
        assert 0 < table.row_count < total
        assert str(count.render()).startswith(
            f"{table.row_count} of {total} examples match '{needle}'")
        await pilot.press("r")
        await pilot.pause(0.1)
        assert "mean nats▲" in header(table)


async def test_the_comparisons_lower_panes_have_titles_units_and_previews(tmp_path):
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await scored(pilot)
        await pilot.press("2", "a")  # docs-net against base
        await pilot.pause(0.4)
        screen = app.screen
        titles = {t.id: t.border_title for t in screen.query("#compare-lists PagedTable")}
        assert titles == {"improved": "tokens improved most", "hurt": "tokens hurt most",
                          "examples-delta": "examples by Δ loss"}
        examples = screen.query_one("#examples-delta", PagedTable)
        assert "Δmean nats" in header(examples) and "opening" in header(examples)
        improved = screen.query_one("#improved", PagedTable)
        assert "in context" in header(improved)
        first = improved.fetch(0, 1)[0]
        assert f"«{first[1].strip(chr(39))}»" in first[2]  # the token, marked, in view
        assert not any(row[0].startswith("-0.00") for table in (improved, examples)
                       for row in table.fetch(0, table.row_count))


async def test_the_diff_detail_gives_entropy_and_surprisal_in_bits_within_80_columns(tmp_path):
    from ppltop.ui.widgets.token_detail import TokenDetail
    from support.pilot import open_document

    app = two_label_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_document(pilot, diff=True, ready=scored)  # the stream has no end event
        detail = app.screen.query_one(TokenDetail)
        lines = detail.description.splitlines()
        entropy = next(line for line in lines if line.startswith("entropy"))
        assert entropy.endswith(" bits")
        assert all(len(line) <= detail.content_size.width for line in lines), lines


async def test_ctrl_s_on_the_help_screen_saves_it(tmp_path, monkeypatch):
    from ppltop.ui.screens.help_screen import HelpScreen

    monkeypatch.chdir(tmp_path)
    app = two_label_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot, "viewer")
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("ctrl+s")
        for _ in range(50):
            if list(tmp_path.glob("*.svg")):
                break
            await pilot.pause(0.05)
        (saved,) = tmp_path.glob("*.svg")
        assert "Keys" in saved.read_text()  # the help itself, not the screen below


async def test_the_curve_marks_mlx_lms_figure_once_per_checkpoint():
    from ppltop.ui.app import PplTopApp
    from ppltop.ui.widgets.checkpoint_chart import CheckpointChart
    from support.pilot import finished_and_curve

    app = PplTopApp(synthetic.checkpoint_events, synthetic.INFO)
    async with app.run_test(size=(120, 40)) as pilot:
        await finished_and_curve(pilot)
        chart = app.screen.query_one(CheckpointChart)
        region = chart.content_region
        rows = screen_lines(app)[region.y:region.bottom]
        plot = "".join(row[region.x:region.right] for row in rows)
        points = app.screen.curve.points()
        assert 1 <= plot.count("x") <= len(points), plot  # marks, not a row of x
        assert f"base {chart._curve.base_loss:.4f}" in chart.border_subtitle

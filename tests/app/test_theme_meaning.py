"""The same color means the same thing in every theme: each surprisal scale runs from dark
(unsurprising) to light (most surprising), the document is drawn on the theme's own
background, and `t` says which theme it switched to."""

from __future__ import annotations

import pytest
from textual.color import Color

from ppltop.themes import builtin_dir, load_themes
from ppltop.ui.app import PplTopApp
from ppltop.ui.screens.document_screen import DocumentScreen
from ppltop.ui.widgets.document_view import DocumentView
from support import synthetic
from support.pilot import scored

THEMES = load_themes([builtin_dir()])


@pytest.mark.parametrize("name", sorted(THEMES.scales))
def test_every_scale_runs_from_dark_to_light(name):
    lightness = [Color.parse(c).brightness for c in THEMES.scales[name]]
    assert lightness == sorted(lightness), (name, lightness)
    assert lightness[-1] > lightness[0] + 0.4, (name, lightness)


async def test_light_theme_document_on_its_own_background_and_t_names_the_theme():
    app = PplTopApp(synthetic.document_events, synthetic.INFO, theme="ppltop-light")
    async with app.run_test(size=(80, 24)) as pilot:
        await scored(pilot, "base")  # the one-label stream of document_events
        app.push_screen(DocumentScreen(app.live, "base", 0))
        await pilot.pause(0.3)
        view = app.screen.query_one(DocumentView)
        background = view.rich_style.bgcolor
        assert background is not None
        # the last row is past the document's text: blank cells, the theme's background
        blank = view.render_line(view.size.height - 1)
        assert {segment.style.bgcolor for segment in blank} == {background}
        assert Color.from_rich_color(background).brightness > 0.8  # light, not the terminal's
        first = view.render_line(0)
        assert all(segment.style.bgcolor is not None for segment in first)
        await pilot.press("escape")
        await pilot.press("t")
        await pilot.pause(0.2)
        assert app.theme != "ppltop-light"
        assert [n.message for n in app._notifications][-1] == f"theme: {app.theme}"


@pytest.mark.parametrize("name", sorted(THEMES.themes))
def test_the_report_and_the_dashboard_read_the_same_theme_file(name):
    from ppltop.report.theme import page_colors

    page, theme = page_colors(name), THEMES.themes[name]
    assert page.scale == THEMES.scales[name]
    assert page.colors["primary"].lower() == theme.primary.lower()
    assert [theme.variables[f"label-{i}"] for i in range(len(page.labels))] == page.labels
    assert (theme.variables["diff-better"], theme.variables["diff-worse"]) == (
        page.diff["better"], page.diff["worse"])


def test_built_in_themes_are_plain_package_files_not_a_link():
    # a checkout or archive without symlinks loses a linked folder, and the package its themes
    assert not builtin_dir().is_symlink()
    assert sorted(p.name for p in builtin_dir().glob("*.toml")) == [
        "dark.toml", "high-contrast.toml", "light.toml", "mono.toml"]

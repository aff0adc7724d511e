"""The README's key tables match the app: every global binding is a row of its table, by
key and binding id, and every key a screen binds is named in the manual."""

from __future__ import annotations

import re

import pytest

from ppltop.ui.keys import APP_BINDINGS
from ppltop.ui.screens.comparison_screen import ComparisonScreen
from ppltop.ui.screens.document_screen import DocumentScreen
from ppltop.ui.screens.runs_screen import RunsScreen
from ppltop.ui.screens.viewer_screen import ViewerScreen
from support.paths import ROOT

README = (ROOT / "README.md").read_text()
SHOWN = {"question_mark": "?", "right_square_bracket": "]", "left_square_bracket": "[",
         "slash": "/", "plus": "+", "minus": "-", "escape": "Esc", "enter": "Enter",
         "space": "space"}


def _table_rows() -> dict[str, str]:
    return {m.group(1): m.group(2) for m in
            re.finditer(r"^\| `([^`]+)` \| (.*) \|$", README, flags=re.M)}


def test_every_global_binding_is_a_row_with_its_id():
    rows = _table_rows()
    for binding in APP_BINDINGS:
        if binding.id.startswith("ppltop.activate_"):
            assert "| `1`–`9` |" in README and "`ppltop.activate_N`" in README
            continue
        key = SHOWN.get(binding.key.split(",")[0], binding.key.split(",")[0])
        assert key in rows, f"README has no row for `{key}` ({binding.id})"
        assert f"`{binding.id}`" in rows[key], (key, rows[key])


@pytest.mark.parametrize("screen", [ViewerScreen, DocumentScreen, ComparisonScreen,
                                    RunsScreen])
def test_every_screen_key_is_in_the_manual(screen):
    for binding in screen.BINDINGS:
        key = binding.key.split(",")[0]
        name = SHOWN.get(key, key)
        assert f"`{name}`" in README or f"{name} " in README, (screen.__name__, key)

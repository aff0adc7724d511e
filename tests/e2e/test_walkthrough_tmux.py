"""The user's walk through the demo in a real terminal, at 80x24 and 120x40: dashboard,
viewer, an example, comparison, a new reference, the diff view, the runs screen and a run
opened from it, help, a theme, quit; the screen text checked at each step, exit status 0."""

from __future__ import annotations

import shutil
import sys
import uuid

import pytest

from support.tmux import escape_to, exit_status, tmux, wait_for_screen

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def _press(session: str, *keys: str) -> None:
    assert "Escape" not in keys, "escape_to: an Esc must be seen before the next key"
    tmux("send-keys", "-t", session, *keys)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_the_demo_walked_as_a_user_would(tmp_path, size):
    status = tmp_path / "status"
    session = f"walk-{uuid.uuid4().hex[:8]}"
    command = f"cd {tmp_path} && {sys.executable} -m ppltop; echo $? > {status}; sleep 60"
    tmux("new-session", "-d", "-s", session, "-x", str(size[0]), "-y", str(size[1]), command)
    try:
        wait_for_screen(session, "— finished", timeout=300)
        assert "ppltop · " in _screen(session) and "-model · base · split test" in \
            _screen(session)  # the header: the run (its folder), the label, the split
        screen = _screen(session)
        assert "mlx-lm: Test loss" in screen and "ETA –" in screen and "q Quit" in screen
        _press(session, "v")
        wait_for_screen(session, "opening")
        _press(session, "Enter")
        wait_for_screen(session, "the model preferred:")
        escape_to(session, "Surprisal viewer · ")
        escape_to(session, "ppltop · ")
        _press(session, "2", "a")
        wait_for_screen(session, "mlx-lm · docs-net: Test loss")
        assert "sig." in _screen(session)
        _press(session, "f")  # docs-net, the selected row, becomes the reference
        wait_for_screen(session, "active = reference (docs-net)")
        _press(session, "Down", "Enter")
        wait_for_screen(session, " vs docs-net, Δ = active − reference")
        _press(session, "Tab", "Enter")  # the first improved token, in the diff view
        wait_for_screen(session, "Δ surprisal vs the")
        escape_to(session, "Comparison · ")
        escape_to(session, "ppltop · ")
        _press(session, "R")
        wait_for_screen(session, "Enter opens one")
        assert "finished" in _screen(session)
        _press(session, "Enter")  # the run just scored, read back in the background
        wait_for_screen(session, "mlx-lm · base: Test loss", timeout=120)
        escape_to(session, "Runs · ")
        escape_to(session, "ppltop · ")
        _press(session, "?")
        wait_for_screen(session, "Keys · Dashboard")
        escape_to(session, "ppltop · ")
        _press(session, "t")
        wait_for_screen(session, "theme: ")
        _press(session, "q")
        assert exit_status(status) == "0"
        after = tmux("capture-pane", "-p", "-t", session, "-S", "-80")
        assert "Test loss" in after and "Traceback" not in after
    finally:
        tmux("kill-session", "-t", session)

"""A tmux server of the tests' own, to run ppltop in a real terminal and read its screen."""

from __future__ import annotations

import atexit
import os
import subprocess
import uuid
from pathlib import Path

from support.waiting import wait_until

SOCKET = f"ppltop-test-{uuid.uuid4().hex[:8]}"
"""A tmux server of our own (no user config), so that no other client sets the size."""


PANE_ENV = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
"""The environment of the tmux server and so of its panes. Without COLUMNS and LINES: GNU
readline, loaded into the test process, exports them (80x24) at the C level, and Textual
would take them for the terminal's size and never see a resize."""


def _run(*args: str, check: bool = True) -> str:
    return subprocess.run(["tmux", "-L", SOCKET, "-f", "/dev/null", *args],
                          capture_output=True, text=True, check=check, env=PANE_ENV).stdout


def kill_session(session: str) -> None:
    """End a test's session whether or not it is still there (a test's cleanup)."""
    _run("kill-session", "-t", session, check=False)


_server_kept = False


def _keep_server() -> None:
    """Start the server with a session that lives as long as this test process. A tmux server
    exits with its last session: a test's new session, sent just as the previous test's last
    one was killed, reached a server on its way out ("server exited unexpectedly", a CI
    failure). The keeper polls this process, so the server ends with it even if it is killed."""
    global _server_kept
    if _server_kept:
        return
    _run("new-session", "-d", "-s", "keeper",
         f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 2; done")
    atexit.register(_run, "kill-server", check=False)
    _server_kept = True


def tmux(*args: str) -> str:
    _keep_server()
    return _run(*args)


def wait_for_screen(session: str, text: str, timeout: float = 60) -> None:
    """Wait until `text` is on the pane's screen."""
    screen = ""

    def shown() -> bool:
        nonlocal screen
        screen = tmux("capture-pane", "-p", "-t", session)
        return text in screen

    try:
        wait_until(shown, timeout, f"{text!r} on the screen", interval=0.2)
    except AssertionError as error:
        raise AssertionError(f"{error}:\n{screen}") from None


def wait_off_screen(session: str, text: str, timeout: float = 60) -> None:
    """Wait until `text` is no longer on the pane's screen (a modal closed)."""
    wait_until(lambda: text not in tmux("capture-pane", "-p", "-t", session), timeout,
               f"{text!r} to leave the screen", interval=0.2)


def exit_status(status: Path, timeout: float = 30) -> str:
    """The exit status the pane's shell wrote to `status` once ppltop exited."""
    wait_until(status.exists, timeout, "the dashboard to exit", interval=0.1)
    return status.read_text().strip()


def header(session: str) -> str:
    """The screen's first line, where every ppltop screen names itself."""
    return tmux("capture-pane", "-p", "-t", session).splitlines()[0].strip()


def escape_to(session: str, title: str, timeout: float = 60) -> None:
    """Press Escape and wait until the screen's header starts with `title`. The wait is also
    what keeps the next key apart from the Esc: read together (a loaded machine, a late
    input thread) they are one Alt+key."""
    assert not header(session).startswith(title), f"already on {title!r}: nothing to wait for"
    tmux("send-keys", "-t", session, "Escape")
    wait_until(lambda: header(session).startswith(title), timeout,
               f"Escape to reach {title!r}", interval=0.2)

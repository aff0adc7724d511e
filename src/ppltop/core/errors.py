"""The exceptions the front ends turn into one line: bad input (exit status 2) and a scoring
loop that failed mid-run (exit status 1, with how to resume)."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def one_line(text: str) -> str:
    """`text` with line breaks and other control characters escaped (`\\n`, `\\x00`), so a
    message quoting a file name, a JSON key or an exception stays on one line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class InputError(Exception):
    """Bad input from the user: a path, a flag, a data line, a model or adapter file.

    The message is one line that names the file or flag and says what to do; control
    characters quoted from the input are escaped to keep it so.
    """

    def __init__(self, message: str) -> None:
        super().__init__(one_line(str(message)))


class ScoringError(RuntimeError):
    """The scoring loop failed mid-run; the message says where and how to resume."""

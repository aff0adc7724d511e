"""When the terminal hangs up (SIGHUP): stop writing to it.

Writes to a hung-up terminal fail (EIO), and a failed write at the wrong moment turns a
clean stop into a traceback, or blocks Textual's output thread for good. Standard output and
error that are terminals are pointed at /dev/null; those redirected to files or pipes stay
as they are, so that the figures still reach them.
"""

from __future__ import annotations

import os
import stat


def silence_terminal() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in (1, 2):
            try:
                is_terminal = stat.S_ISCHR(os.fstat(fd).st_mode)
            except OSError:
                continue
            if is_terminal:
                os.dup2(devnull, fd)
    finally:
        os.close(devnull)

"""Whether a run is being scored right now: the writer's liveness record in its directory.

The process that scores a run writes `writer.json` (its pid, host, start time and a
heartbeat renewed every `HEARTBEAT_S` seconds by a daemon thread) and, when it ends, the
state it ended in. A reader then tells apart, the same way in every view (the runs screen,
`ppltop runs`, `ppltop open`):

- `running`: the writer's heartbeat is fresh (and, on this host, its pid is alive);
- `finished`: the run's `finished` event is there, not cancelled;
- `failed`: scoring stopped on an error;
- `stopped`: cancelled, interrupted, or its writer gone (killed, a lost machine); the
  batches written are kept and `ppltop resume RUN` continues it.

Textual-free; `state_of(path)` is the one reading of it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from .records import MANIFEST, FinishedLine, NoticeLine
from .run_dir import EVENTS, read_events, read_run

LIVENESS = "writer.json"
HEARTBEAT_S = 2.0
"""How often the writer renews its heartbeat."""
STALE_S = 10.0
"""A heartbeat older than this means the writer is gone (a few missed beats)."""
STATES = ("running", "stopped", "failed", "finished")


@dataclass(frozen=True)
class RunState:
    state: str
    """One of `STATES`."""
    path: Path
    why: str = ""
    """What tells it: `writer pid 123 on host gone`, `cancelled`..."""

    @property
    def resumable(self) -> bool:
        return self.state in ("stopped", "failed")

    def words(self) -> str:
        """The state as every view shows it: `stopped (resumable: ppltop resume RUN)`."""
        if self.resumable:
            return f"{self.state} (resumable: ppltop resume {self.path})"
        return self.state


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def read_liveness(path: Path) -> dict[str, Any] | None:
    try:
        record: dict[str, Any] = json.loads((Path(path) / LIVENESS).read_text())
        return record
    except (OSError, ValueError):
        return None


def state_of(path: Path, events: list[Any] | None = None, now: float | None = None
             ) -> RunState:
    """The run's state from its liveness record and its events (`records` lines, read
    when not given)."""
    path = Path(path)
    events = read_events(path / EVENTS) if events is None else events
    finished = next((e for e in reversed(events) if isinstance(e, FinishedLine)), None)
    record = read_liveness(path)
    now = time.time() if now is None else now
    if record is not None and record.get("state") == "scoring":
        fresh = now - float(record.get("heartbeat", 0)) < STALE_S
        here = record.get("host") == socket.gethostname()
        pid = int(record.get("pid", -1))
        if fresh and (not here or _pid_alive(pid)):
            return RunState("running", path, f"pid {pid} on {record.get('host')}")
        return RunState("stopped", path, f"its writer (pid {pid} on {record.get('host')}) "
                                         "is gone")
    if finished is not None and not finished.cancelled:
        return RunState("finished", path)
    if record is not None and record.get("state") == "failed":
        return RunState("failed", path, record.get("why", ""))
    if finished is not None:
        return RunState("stopped", path, "cancelled")
    failed = any(isinstance(e, NoticeLine) and e.level == "error" for e in events)
    return RunState("failed" if failed else "stopped", path)


class Heartbeat:
    """The writer's side: `start()` when scoring starts, `stop(state)` when it ends (the
    first `stop` wins); a daemon thread renews the heartbeat meanwhile."""

    def __init__(self, path: Path, interval_s: float = HEARTBEAT_S) -> None:
        self.path = Path(path)
        self.interval_s = interval_s
        self._record = {"pid": os.getpid(), "host": socket.gethostname(),
                        "started": time.time(), "state": "scoring"}
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self) -> None:
        self._record["heartbeat"] = time.time()
        tmp = self.path / (LIVENESS + ".tmp")
        try:
            tmp.write_text(json.dumps(self._record))
            os.replace(tmp, self.path / LIVENESS)
        except OSError:  # a full disk: the run's own files matter more than this record
            pass

    def start(self) -> None:
        self._write()
        self._thread = threading.Thread(target=self._beat, name="ppltop-heartbeat",
                                        daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._done.wait(self.interval_s):
            self._write()

    def stop(self, state: str, why: str = "") -> None:
        """`finished`, `stopped` or `failed`; later calls change nothing."""
        if self._done.is_set():
            return
        self._done.set()
        self._record.update(state=state, why=why, ended=time.time())
        self._write()


def list_runs(folder: Path) -> list[tuple[Path, str, str]]:
    """(path, status, "done/total batches  label ppl X ...") for each run directory in
    `folder`, by name; a damaged one says why. What `ppltop runs` prints (the runs screen
    has its own columns: `view.run_index`)."""
    rows: list[tuple[Path, str, str]] = []
    if not folder.is_dir():
        return rows
    for path in sorted(p for p in folder.iterdir() if (p / MANIFEST).is_file()):
        try:
            record = read_run(path, with_results=False)
        except InputError as e:
            rows.append((path, "damaged", str(e)))
            continue
        figures = record.finished.ppl_text() if record.finished else ""
        done = f"{len(record.batches_done)}/{record.manifest.n_batches or '?'}"
        # running / stopped (resumable: ...) / failed / finished, as every view says it
        state = state_of(path, record.events).words()
        rows.append((path, state, f"{done} batches  {figures}".rstrip()))
    return rows

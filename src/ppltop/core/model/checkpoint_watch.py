"""Finding the checkpoints a training run has finished writing, each once.

`mlx_lm.lora` writes a checkpoint with `mx.save_safetensors` straight to its final name, so
a file can be seen half-written. A checkpoint is taken only when (1) its size and mtime
have not changed over at least `stable_s` (or it was last written that long before it was
first seen), and (2) its safetensors header reads and
describes exactly as many bytes as the file holds (`model.check_safetensors`). Until then it
is looked at again on the next poll; once taken it is never returned again.

A taken checkpoint is snapshotted (`snapshot_adapter`) into a frozen adapter folder of its
own, `adapter_config.json` as it is at that moment plus the weights as
`adapters.safetensors`, so that its run directory is an ordinary run that `ppltop open` and
`ppltop resume` read, whatever the training writes next.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..checkpoint_files import CHECKPOINT_FILE, checkpoint_label, file_iteration
from ..errors import InputError
from .loader import check_safetensors


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float


class CheckpointWatcher:
    """The numbered checkpoints of one adapter folder, as they become complete."""

    def __init__(self, folder: Path, stable_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.folder = Path(folder)
        self.stable_s = stable_s
        self._clock = clock
        self._seen: dict[Path, _Seen] = {}
        self.taken: set[Path] = set()

    def ready(self) -> list[Path]:
        """Checkpoints complete since the last call, newest first; each returned once."""
        found = []
        now = self._clock()
        try:
            names = sorted(os.listdir(self.folder))
        except OSError:
            return []
        for name in names:
            path = self.folder / name
            if path in self.taken or not CHECKPOINT_FILE.match(name):
                continue
            if self._complete(path, now):
                self.taken.add(path)
                found.append(path)
        return sorted(found, key=lambda p: file_iteration(p) or 0, reverse=True)

    def settling(self) -> bool:
        """A checkpoint file is there that may still become complete: one changed within
        the last few `stable_s` (a damaged file that stopped changing does not count)."""
        now = self._clock()
        return any(path not in self.taken and now - seen.since < 3 * self.stable_s
                   for path, seen in self._seen.items())

    def _complete(self, path: Path, now: float) -> bool:
        try:
            st = path.stat()
        except OSError:
            return False
        seen = self._seen.get(path)
        # a file untouched for stable_s before it was first seen (there when the watch
        # began) need not wait another stable_s
        untouched = time.time() - st.st_mtime_ns / 1e9 >= self.stable_s
        if seen is None and not untouched or seen is not None and (
                seen.size, seen.mtime_ns) != (st.st_size, st.st_mtime_ns):
            self._seen[path] = _Seen(st.st_size, st.st_mtime_ns, now)
            return False
        if seen is not None and now - seen.since < self.stable_s:
            return False
        if not (self.folder / "adapter_config.json").is_file():
            return False
        try:
            check_safetensors(path)
        except InputError:  # still being written (or damaged): look again later
            return False
        return True


def snapshot_adapter(folder: Path, weights: Path, into: Path) -> Path:
    """A frozen adapter folder `into/<label>` for one checkpoint: its config now, and the
    weights hard-linked (a numbered checkpoint is written once) or copied."""
    target = Path(into).absolute() / checkpoint_label(folder, weights)  # resumable anywhere
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(folder) / "adapter_config.json", target / "adapter_config.json")
    dest = target / "adapters.safetensors"
    if dest.exists():
        dest.unlink()
    try:
        os.link(weights, dest)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(weights, dest)
    return target

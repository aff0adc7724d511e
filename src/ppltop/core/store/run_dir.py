"""The run directory: everything a run scored, on disk as it is scored, readable at any moment.

Layout:
    manifest.json     config, fingerprints of model/adapter/data files, versions, BLAS
    events.jsonl      append-only: one JSON object per line (started, batch, notice, finished)
    results/B-L.npz   the examples batch B completed for label number L (compact arrays)

Each batch's arrays are written to a temporary file, fsynced and renamed, and only then is
its line appended to events.jsonl and fsynced: a run killed at any moment loses at most the
batch in flight, and a reader never sees a line whose arrays are missing.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..figures.results import ExampleResult
from ..mlx_lm import MlxLmPart
from .records import (
    MANIFEST,
    RUN_SET_RECORDS,
    BatchLine,
    EventLine,
    FinishedLine,
    Manifest,
    decode_line,
    encode_line,
    refuse_held,
)

EVENTS = "events.jsonl"
RESULTS = "results"
FINGERPRINT_BYTES = 4 << 20
_ARRAYS = ("targets", "logprob", "entropy", "rank", "top_ids", "top_logprobs")
_SCALARS = ("example", "first", "n_bytes", "truncated")


def fingerprint(path: Path) -> str:
    """sha256 of a file's size, first and last 4 MiB (whole-file hashes of multi-GB weights
    would cost minutes at every start); for a folder, of its files in name order."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        size = f.stat().st_size
        h.update(f"{f.relative_to(path) if path.is_dir() else f.name}:{size}\n".encode())
        with open(f, "rb") as fh:
            h.update(fh.read(FINGERPRINT_BYTES))
            if size > 2 * FINGERPRINT_BYTES:
                fh.seek(-FINGERPRINT_BYTES, os.SEEK_END)
                h.update(fh.read(FINGERPRINT_BYTES))
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pack(results: list[ExampleResult]) -> dict[str, np.ndarray]:
    """Several examples' arrays concatenated, with their lengths, for one .npz."""
    out: dict[str, np.ndarray] = {
        "lengths": np.array([r.n_tokens for r in results], dtype=np.int64)}
    for name in _ARRAYS:
        arrays = [getattr(r, name) for r in results]
        out[name] = np.concatenate(arrays) if arrays else np.zeros(0)
    for name in _SCALARS:
        out[name] = np.array([getattr(r, name) for r in results])
    out["mlx_lm_lengths"] = np.array([len(r.mlx_lm) for r in results], dtype=np.int64)
    out["mlx_lm_ce"] = (np.concatenate([r.mlx_lm.ce(r.logprob) for r in results]) if results
                        else np.zeros(0, np.float32))
    out["phantom_ce"] = np.array([r.mlx_lm.phantom for r in results], dtype=np.float32)
    kls = [r.kl for r in results if r.kl is not None]
    if results and len(kls) == len(results):
        out["kl"] = np.concatenate(kls)
    return out


def unpack(data: Mapping[str, np.ndarray]) -> list[ExampleResult]:
    lengths = data["lengths"]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    has_kl = "kl" in data
    parts = _mlx_lm_parts(data, bounds)
    out = []
    for i in range(len(lengths)):
        a, b = int(bounds[i]), int(bounds[i + 1])
        arrays = {name: data[name][a:b] for name in _ARRAYS}
        scalars = {name: data[name][i].item() for name in _SCALARS if name in data}
        if "first" not in data:  # format 1 stored every position
            scalars["first"] = int(data["positions"][a]) if b > a else 0
        out.append(ExampleResult(**arrays, **scalars, mlx_lm=parts[i],  # type: ignore[arg-type]
                                 kl=data["kl"][a:b] if has_kl else None))
    return out


def _mlx_lm_parts(data: Mapping[str, np.ndarray], bounds: np.ndarray) -> list[MlxLmPart]:
    """Each example's mlx-lm part. Runs of formats 1 and 2 kept only its sum and count:
    their first `count` log-probs stand in for it (the figure then agrees to ~1e-4)."""
    phantom, logprob = data["phantom_ce"], data["logprob"]
    if "mlx_lm_ce" in data:
        ends = np.cumsum(data["mlx_lm_lengths"])
        ce = np.split(data["mlx_lm_ce"].astype(np.float32), ends[:-1])
    else:
        ce = [-logprob[a:a + int(n)] for a, n in zip(bounds[:-1], data["mlx_lm_count"])]
    return [MlxLmPart.of(c, logprob[a:], p) for c, a, p in zip(ce, bounds[:-1], phantom)]


@dataclass
class RunRecord:
    """What a run directory holds, read back."""

    path: Path
    manifest: Manifest
    events: list[EventLine]
    results: dict[str, dict[int, ExampleResult]] = field(default_factory=dict)
    batches_done: set[int] = field(default_factory=set)
    """Batches every label has written."""

    @property
    def finished(self) -> FinishedLine | None:
        return next((e for e in reversed(self.events) if isinstance(e, FinishedLine)), None)

    @property
    def status(self) -> str:
        f = self.finished
        if f is None:
            return "incomplete"
        return "cancelled" if f.cancelled else "finished"


class RunWriter:
    """Appends a run's events and arrays to its directory, durably."""

    def __init__(self, path: Path, manifest: Manifest, *, resume: bool = False,
                 overwrite: bool = False) -> None:
        self.path = Path(path)
        self.labels: list[str] = list(manifest.labels)
        if not resume:
            refuse_held(self.path, overwrite)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / RESULTS).mkdir(exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise InputError(f"--run-dir {self.path}: cannot write there ({e.strerror}); "
                             "choose a writable folder") from e
        if overwrite and not resume:
            for old in [self.path / EVENTS, *(self.path / RESULTS).glob("*.npz")]:
                old.unlink(missing_ok=True)
        try:
            if not resume:
                self._atomic_write(self.path / MANIFEST, manifest.to_json())
            else:  # drop a line torn by a kill, so that appended events start on a fresh line
                _, complete = read_events_from(self.path / EVENTS, 0)
                if (self.path / EVENTS).exists():
                    os.truncate(self.path / EVENTS, complete)
            self._events = open(self.path / EVENTS, "ab")
        except OSError as e:  # a full disk, a quota: nothing scored yet, nothing lost
            (self.path / (MANIFEST + ".tmp")).unlink(missing_ok=True)
            raise InputError(f"--run-dir {self.path}: cannot write there ({e.strerror}); "
                             "free some space or choose another folder") from e

    def _atomic_write(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)

    def append(self, line: EventLine) -> None:
        self._events.write(encode_line(line))
        self._events.flush()
        os.fsync(self._events.fileno())

    def write_batch(self, label: str, batch: int, loss_sum: float, n_tokens: int,
                    results: list[ExampleResult], elapsed_s: float) -> None:
        label_no = self.labels.index(label)
        name = f"{batch:06d}-{label_no}.npz"
        final = self.path / RESULTS / name
        tmp = final.with_name(name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **pack(results))  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        self.append(BatchLine(label, batch, loss_sum, n_tokens, name, elapsed_s,
                              [r.example for r in results], time.time()))

    def close(self) -> None:
        self._events.close()


def read_run(path: Path, with_results: bool = True) -> RunRecord:
    """Read a run directory, written or being written; a torn last line is ignored."""
    path = Path(path)
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        runs = sorted(p.name for p in path.iterdir()
                      if (p / MANIFEST).is_file()) if path.is_dir() else []
        if runs:  # a run over splits, a watch: one run per sub-folder
            raise InputError(f"{path}: holds one run per sub-folder ({', '.join(runs)}); "
                             f"give one of them, e.g. {path / runs[0]}")
        raise InputError(f"{path}: not a ppltop run directory (no {MANIFEST})")
    try:
        text = manifest_file.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{manifest_file}: unreadable ({e}); the run directory is damaged") from e
    manifest = Manifest.from_json(text, str(manifest_file))
    events = read_events(path / EVENTS)
    record = RunRecord(path, manifest, events)
    per_batch: dict[int, set[str]] = {}
    for event in events:
        if not isinstance(event, BatchLine):
            continue
        per_batch.setdefault(event.batch, set()).add(event.label)
        if with_results:
            with np.load(path / RESULTS / event.file) as data:
                for r in unpack(data):
                    record.results.setdefault(event.label, {})[r.example] = r
    record.batches_done = {b for b, got in per_batch.items() if set(manifest.labels) <= got}
    return record


def read_events(path: Path, start: int = 0) -> list[EventLine]:
    """Complete lines of events.jsonl from byte `start` (see `follow_events` for tailing)."""
    events, _ = read_events_from(path, start)
    return events


def read_events_from(path: Path, start: int) -> tuple[list[EventLine], int]:
    """(complete events after byte `start`, the byte offset to continue from)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read()
    except FileNotFoundError:
        return [], start
    events, used = [], 0
    for line in data.split(b"\n")[:-1]:  # the part after the last newline may be torn
        used += len(line) + 1
        if line.strip():
            event = decode_line(line)
            if event is not None:
                events.append(event)
    return events, start + used


def start_run_set(run_dir: Path, record, overwrite: bool = False) -> None:
    """A folder of runs, one per sub-folder (a watch, a run over splits), marked by its
    record (`records.SplitsRecord`, `records.WatchRecord`); refused where a run or a run set
    is already unless `overwrite`."""
    refuse_held(Path(run_dir), overwrite)
    write_run_set(run_dir, record)


def write_run_set(run_dir: Path, record) -> None:
    """The run set's record, written whole (at its start, and when a watch ends)."""
    import json

    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / record.FILE).write_text(json.dumps(record.to_dict(), indent=2) + "\n")
    except OSError as e:
        raise InputError(f"--run-dir {run_dir}: cannot write there ({e.strerror}); "
                         "choose a writable folder") from e


def read_run_set(run_dir: Path):
    """The record of the run set in `run_dir` (a watch's, a run over splits'), else None."""
    for kind in RUN_SET_RECORDS:
        where = Path(run_dir) / kind.FILE
        if where.is_file():
            return kind.read(where)
    return None


def parts_of(run_dir: Path, record) -> list[str]:
    """The parts of a run set that have a run directory, in order: the splits as they are
    scored; a watch's base first, then its checkpoints by iteration."""
    from ..checkpoint_files import label_order
    from .records import SplitsRecord, TokenizersRecord

    there = {p.name for p in Path(run_dir).iterdir() if (p / MANIFEST).is_file()}
    if isinstance(record, SplitsRecord):
        return [split for split in record.splits if split in there]
    if isinstance(record, TokenizersRecord):
        return [part for part in record.parts if part in there]
    return sorted(there, key=label_order)

"""The run directory's records, typed: `manifest.json`, each line of `events.jsonl`, and the
markers of a run set, a folder of runs one per sub-folder (`splits.json` of a run over
several splits, `watch.json` of a watch, `tokenizers.json` of models of several
tokenizers); and the one refusal of a run directory that already holds a run or a run set.

The writer and every reader go through these classes, so a field has one name and one
default. `FORMAT` is the version this code writes; runs of every version in `READABLE`
open (format 1 stored every position, format 2 added mlx-lm's own cross-entropies; a field
added later reads back with its default).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import InputError

FORMAT = 2
READABLE = (1, 2)
MANIFEST = "manifest.json"
SPLITS_FILE = "splits.json"
WATCH_FILE = "watch.json"
TOKENIZERS_FILE = "tokenizers.json"


def _known(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    """The keys of `raw` that `cls` has: a newer writer's extra fields are ignored."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in raw.items() if k in names}


@dataclass(frozen=True)
class AdapterEntry:
    label: str
    path: str
    fingerprint: str


@dataclass(frozen=True)
class Manifest:
    """What a run was: config, versions and fingerprints, to reopen and resume it."""

    config: dict[str, Any]
    """`EvalConfig.to_dict()`."""
    labels: list[str]
    data_file: str
    adapters: list[AdapterEntry] = field(default_factory=list)
    model_fingerprint: str = ""
    model_fingerprints: list[str] = field(default_factory=list)
    """With several `--model`: every model's fingerprint, in order (empty for one model)."""
    data_sha256: str = ""
    n_batches: int = 0
    """0 when an early run did not record it."""
    n_examples: int = 0
    precision: dict[str, Any] | None = None
    """`Precision.to_dict()`: the dtype the run computed in, for the figures' note."""
    ranks: int = 1
    """Processes of mlx.launch the run was scored by (mlx-lm's figure depends on it)."""
    blas: dict[str, Any] | None = None
    device: str = ""
    ppltop: str = ""
    mlx: str = ""
    mlx_lm: str = ""
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    format: int = FORMAT

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode()

    @classmethod
    def from_json(cls, text: str, where: str) -> Manifest:
        """Read a manifest; `where` names the file in the one-line error."""
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            version = raw.get("format", 1)
            if version not in READABLE:
                raise InputError(f"{where}: a run of format {version}, newer than this "
                                 f"ppltop reads ({', '.join(map(str, READABLE))}); upgrade "
                                 "ppltop to open it")
            raw = {**raw, "adapters": [AdapterEntry(**_known(AdapterEntry, a))
                                       for a in raw.get("adapters", [])]}
            return cls(**_known(cls, raw))
        except (ValueError, TypeError, KeyError) as e:
            raise InputError(f"{where}: unreadable ({e}); the run directory is damaged") from e

    def adapter_paths(self) -> dict[str, str]:
        return {a.label: a.path for a in self.adapters}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class _RunSetRecord:
    """What the marker of a run set shares: a file name, what it is called in a line, and
    its JSON (tuples written as lists; a field added later reads back with its default)."""

    FILE = ""
    WHAT = ""
    KIND = ""
    """One word for it (`ppltop runs`' status)."""
    _TUPLES: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {**asdict(self), **{name: list(getattr(self, name)) for name in self._TUPLES}}

    @classmethod
    def read(cls, where: Path):
        """The record in its file; a file that is no such record is one line."""
        try:
            raw = json.loads(where.read_text())
        except (OSError, ValueError) as e:
            raise cls._damaged(where, e) from e
        return cls.from_dict(raw, str(where))

    @classmethod
    def from_dict(cls, raw: dict, where: str):
        """Read the record; `where` names the file in the one-line error."""
        try:
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            known = _known(cls, raw)
            return cls(**{**known, **{name: tuple(str(v) for v in known[name])
                                      for name in cls._TUPLES}})
        except (ValueError, TypeError, KeyError) as e:
            raise cls._damaged(where, e) from e

    @classmethod
    def _damaged(cls, where, error: Exception) -> InputError:
        return InputError(f"{where}: unreadable ({error}); the folder of {cls.WHAT} is "
                          "damaged")


@dataclass(frozen=True)
class SplitsRecord(_RunSetRecord):
    """A run over several splits, written when it starts: the splits in scoring order and
    the reference asked for (`--reference`; None: the base model, else the first label)."""

    FILE = SPLITS_FILE
    WHAT = "a run over splits"
    KIND = "splits"
    _TUPLES = ("splits",)

    splits: tuple[str, ...]
    reference: str | None = None
    started: str = field(default_factory=_now)


@dataclass(frozen=True)
class WatchRecord(_RunSetRecord):
    """What a watch is, written when it starts: the folders it follows and the reference
    asked for (`--reference`; None: the base model, else the first label), so that
    `ppltop open` of the watch compares with the same label the watch did."""

    FILE = WATCH_FILE
    WHAT = "a watch"
    KIND = "watch"
    _TUPLES = ("folders",)

    folders: tuple[str, ...]
    reference: str | None = None
    started: str = field(default_factory=_now)
    stopped_by: str | None = None
    """The signal that ended the watch (`SIGHUP`), once it ended; None: still running, or
    ended without one."""


@dataclass(frozen=True)
class TokenizersRecord(_RunSetRecord):
    """A run over models of different tokenizers, written when it starts: its parts in
    scoring order (each the models of one tokenizer, named by the first of them), every
    model, and the reference asked for (`--reference`; None: the first label)."""

    FILE = TOKENIZERS_FILE
    WHAT = "a run over several tokenizers"
    KIND = "tokenizers"
    PART_KIND = "tokenizer of"
    """How its parts are named (`SplitStarted.kind`): `tokenizer of smollm2-135m-f32`."""
    _TUPLES = ("parts", "models")

    parts: tuple[str, ...]
    models: tuple[str, ...] = ()
    """Every `--model` of the run, in order."""
    reference: str | None = None
    started: str = field(default_factory=_now)


RUN_SET_RECORDS = (WatchRecord, SplitsRecord, TokenizersRecord)
"""The markers of a run set, in the order a folder is recognized by."""


def held_by(path: Path) -> str | None:
    """What a run directory already holds (`a run`, `a watch`, `a run over splits`), else
    None."""
    if (path / MANIFEST).exists():
        return "a run"
    return next((r.WHAT for r in RUN_SET_RECORDS if (path / r.FILE).exists()), None)


def refuse_held(path: Path, overwrite: bool, flag: str | None = None) -> None:
    """The one refusal of a run directory that already holds a run or a run set (unless
    --overwrite): how to continue or see it, replace it, or go elsewhere."""
    held = held_by(Path(path).expanduser())
    if held is None or overwrite:
        return
    then = (f"continue it with `ppltop resume {path}`" if held == "a run"
            else f"see it with `ppltop open {path}`")
    raise InputError(f"{flag or f'--run-dir {path}'}: already holds {held}; {then}, replace "
                     "it with --overwrite, or choose another --run-dir")


@dataclass(frozen=True)
class StartedLine:
    """The plan, as `RunPlan` fields (without the per-example token counts)."""

    plan: dict[str, Any]
    type: str = "started"


@dataclass(frozen=True)
class NoticeLine:
    level: str
    message: str
    type: str = "notice"


@dataclass(frozen=True)
class BatchLine:
    """One label's batch: its arrays are in `results/<file>`, written before this line."""

    label: str
    batch: int
    loss_sum: float
    n_tokens: int
    file: str
    elapsed_s: float
    examples: list[int]
    time: float = 0.0
    type: str = "batch"


@dataclass(frozen=True)
class FinishedLine:
    cancelled: bool
    elapsed_s: float = 0.0
    summaries: list[dict[str, Any]] = field(default_factory=list)
    """`Summary.to_dict()` per label."""
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    type: str = "finished"

    def ppl_text(self, between: str = " ppl ") -> str:
        """Each label's PPL on one line (`base ppl 63.563  docs-net ppl 65.276`), as the
        run listings and `ppltop resume` of a finished run print it."""
        return "  ".join(f"{s['label']}{between}{s['ppl']:.3f}" for s in self.summaries
                         if s.get("ppl"))


EventLine = StartedLine | NoticeLine | BatchLine | FinishedLine
_BY_TYPE = {cls.type: cls for cls in (StartedLine, NoticeLine, BatchLine, FinishedLine)}


def encode_line(line: EventLine) -> bytes:
    return (json.dumps(asdict(line)) + "\n").encode()


def decode_line(raw: bytes) -> EventLine | None:
    """One events.jsonl line; None for a line that is not a record this code knows (a torn
    write, or a record type added by a newer ppltop)."""
    try:
        data = json.loads(raw)
        cls = _BY_TYPE[data["type"]]
        return cls(**_known(cls, data))
    except (ValueError, TypeError, KeyError):
        return None

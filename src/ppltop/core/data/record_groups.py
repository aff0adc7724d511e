"""Groups of examples from the metadata users keep in their records (`--group-by KEY`).

mlx-lm ignores the keys it does not use, so records often carry `"source"`, `"task"` or
`"lang"`. An example's group is the value of that key in its record, as text:

- a missing key, `null` or an empty string: `(none)`;
- numbers and booleans as JSON writes them (`3`, `0.5`, `true`); lists and objects as
  compact JSON, clipped to 40 characters;
- more than `MAX_GROUPS` distinct values: the `MAX_GROUPS - 1` largest groups, the rest
  together in `(other)`, and a note that says how many values went there.

Without `--group-by`, keys that look like groups (strings in most records, 2 to
`MAX_GROUPS` distinct values) are proposed.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from ..config import DataFeatures
from ..errors import InputError
from .split import read_records, resolve_split_file

NONE = "(none)"
OTHER = "(other)"
MAX_GROUPS = 12
"""Groups shown per key at most, `(other)` included."""
_CLIP = 40


def group_value(value: object) -> str:
    """The group a record's value puts it in (see the module docstring)."""
    if value is None or value == "":
        return NONE
    if isinstance(value, str):
        return value
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= _CLIP else text[:_CLIP - 1] + "…"


def cap_groups(values: list[str], key: str, max_groups: int = MAX_GROUPS
               ) -> tuple[list[str], str | None]:
    """`values` with all but the largest groups merged into `(other)`, and the note that
    says so (None when nothing was merged)."""
    counts = Counter(values)
    if len(counts) <= max_groups:
        return values, None
    ranked = sorted(counts, key=lambda v: (-counts[v], v))
    kept = set(ranked[:max_groups - 1])
    merged = len(counts) - len(kept)
    moved = sum(counts[v] for v in ranked[max_groups - 1:])
    note = (f"{key}: {len(counts)} distinct values; the {len(kept)} largest groups shown, "
            f"{merged} values ({moved} examples) in {OTHER}")
    return [v if v in kept else OTHER for v in values], note


def _records_by_line(path: Path) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    records, lines, _ = read_records(path)
    return records, dict(zip(lines, records))


def example_groups(path: Path, keys: tuple[str, ...], lines: list[int]
                   ) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Per key: each example's group (examples by their 1-based line in `path`), capped;
    and, per key whose values were capped, the note that says so."""
    _, by_line = _records_by_line(path)
    groups, notes = {}, {}
    for key in keys:
        values = [group_value(by_line[line].get(key)) for line in lines]
        groups[key], note = cap_groups(values, key)
        if note:
            notes[key] = note
    return groups, notes


def check_group_keys(data: Path, split: str, keys: tuple[str, ...]) -> None:
    """Refuse, in one line, a `--group-by` key that no record of the split has."""
    if not keys:
        return
    path = resolve_split_file(Path(data), split)
    records, _ = _records_by_line(path)
    present = set().union(*(r.keys() for r in records)) if records else set()
    for key in keys:
        if key not in present:
            shown = ", ".join(sorted(present)[:8]) or "none"
            raise InputError(f"--group-by {key}: no record of {path} has this key "
                             f"(keys found: {shown}); give a key of the records")


def propose_keys(path: Path, features: DataFeatures = DataFeatures()) -> list[tuple[str, int]]:
    """(key, distinct values) of the keys that look like groups: not a format key, a string
    in at least half the records, 2 to MAX_GROUPS distinct values."""
    records, _ = _records_by_line(path)
    format_keys = {features.text, features.chat, features.prompt, features.completion}
    found = []
    for key in sorted(set().union(*(r.keys() for r in records)) - format_keys if records
                      else ()):
        values = [r[key] for r in records if isinstance(r.get(key), str)]
        distinct = len(set(values))
        if 2 * len(values) >= len(records) and 2 <= distinct <= MAX_GROUPS:
            found.append((key, distinct))
    return found

"""The document view's text laid out into lines of a given width, in terminal cells.

What is laid out are the core's token groups (`core.token_groups`): one CJK character or
emoji split over several tokens is one unit, never cut. Widths are `rich.cells` cell
lengths, so wide characters take two columns and no line is wider than the pane. Lines
break after newlines; a word (groups up to the next whitespace, template token or wide
character) that does not fit moves to the next line whole when it fits on one; longer
words, and CJK text (no spaces), break between groups.
"""

from __future__ import annotations

import numpy as np
from rich.cells import cell_len, chop_cells

SHOWN = {"\t": "→", "\x7f": "␡"}
"""Characters drawn as a visible sign (newlines end the line after `↵`)."""


def _shown(ch: str, quiet_space: bool) -> str:
    if ch in SHOWN:
        return SHOWN[ch]
    if ord(ch) < 0x20:  # other control characters: the Control Pictures block
        return chr(0x2400 + ord(ch))
    if quiet_space and ch.isspace():
        return "·"
    return ch


def visible_text(text: str, whitespace: bool = False) -> list[tuple[str, bool]]:
    """Split a group's text into (text, ends_line) parts with whitespace made visible;
    with `whitespace` (a whitespace-only group: indentation) spaces become `·`."""
    parts, current = [], ""
    for ch in text:
        if ch == "\n":
            parts.append((current + "↵", True))
            current = ""
        else:
            current += _shown(ch, whitespace)
    if current or not parts:
        parts.append((current if current else "∅", False))
    return parts


def _quiet_dots(groups, g: int) -> bool:
    """Whitespace drawn as dots: a whitespace-only group, unless it is one space between
    two words (a tokenizer that keeps spaces apart from words)."""
    if not groups.whitespace[g]:
        return False
    lone = (groups.text[g] == " " and not (g > 0 and groups.whitespace[g - 1])
            and not (g + 1 < len(groups) and groups.whitespace[g + 1]))
    return not lone


def _word_starts(groups, shown: list[list[tuple[str, bool]]]) -> np.ndarray:
    """bool per group: a line may break before it without splitting a word."""
    starts = np.ones(len(groups), dtype=bool)
    for g in range(1, len(groups)):
        text, before = groups.text[g], groups.text[g - 1]
        starts[g] = (text[:1].isspace() or before[-1:].isspace() or shown[g - 1][-1][1]
                     or groups.is_template_group(g) or groups.is_template_group(g - 1)
                     or cell_len(text) != len(text) or cell_len(before) != len(before))
    return starts


def _word_cells(shown, starts: np.ndarray, g: int) -> int:
    """Cells of the word starting at group `g`, up to its end or its first newline."""
    cells = 0
    for h in range(g, len(shown)):
        if h > g and starts[h]:
            break
        for part, ends_line in shown[h]:
            cells += cell_len(part)
            if ends_line:
                return cells
    return cells


def layout(groups, width: int) -> tuple[list[list[tuple[int, str]]], np.ndarray]:
    """(lines of (group, text) spans, the line each group starts on)."""
    shown = [visible_text(text, _quiet_dots(groups, g)) for g, text in enumerate(groups.text)]
    starts = _word_starts(groups, shown)
    lines: list[list[tuple[int, str]]] = [[]]
    used = 0
    group_line = np.zeros(len(groups), dtype=np.int32)
    for g, parts in enumerate(shown):
        if starts[g] and used > 0:
            word = _word_cells(shown, starts, g)
            if used + word > width >= word:  # the whole word on the next line
                lines.append([])
                used = 0
        group_line[g] = len(lines) - 1
        placed = False
        for part, ends_line in parts:
            while part:
                room = width - used
                head = chop_cells(part, room)[0] if room > 0 else ""
                if len(head) < len(part) and used > 0:  # the group on the next line
                    lines.append([])
                    used = 0
                    continue
                head = head or part[0]  # a character wider than the whole line
                if not placed:
                    group_line[g] = len(lines) - 1
                    placed = True
                lines[-1].append((g, head))
                used += cell_len(head)
                part = part[len(head):]
            if ends_line:
                lines.append([])
                used = 0
    return lines, group_line


def group_at_column(spans: list[tuple[int, str]], column: int) -> int | None:
    """The group drawn at `column` of a laid-out line (past its end: its last group; None:
    an empty line)."""
    used = 0
    for g, text in spans:
        used += cell_len(text)
        if used > column:
            return g
    return spans[-1][0] if spans else None


def column_of_group(spans: list[tuple[int, str]], group: int) -> int:
    """The column a group starts at on its laid-out line (0 where it is not on it)."""
    used = 0
    for g, text in spans:
        if g == group:
            return used
        used += cell_len(text)
    return 0

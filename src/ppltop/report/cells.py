"""Table cells that carry their figure: the text shown and, in `data-value`, the value as
the JSON output writes it, so a test (or a reader's script) checks one against the other."""

from __future__ import annotations

import html
import json
import math


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    return value


def fmt(value, spec: str) -> str:
    """`value` formatted with `spec`; a missing or non-finite figure as an en dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format(value, spec)


def cell(field: str, value, text: str, tag: str = "td") -> str:
    """<td data-field=... data-value=...>text</td>"""
    data = esc(json.dumps(_json_value(value)))
    return f'<{tag} data-field="{esc(field)}" data-value="{data}">{esc(text)}</{tag}>'


def interval_cell(field: str, pair, spec: str) -> str:
    lo, hi = pair
    return cell(field, list(pair), f"[{fmt(lo, spec)}, {fmt(hi, spec)}]")


def row(cells: list[str], attrs: str = "") -> str:
    return f"<tr{(' ' + attrs) if attrs else ''}>{''.join(cells)}</tr>"


def table(headers: list[str], rows: list[str], cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return (f'<table class="{cls}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")

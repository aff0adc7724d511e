"""Table cells that carry their figure: the text shown and, in `data-value`, the value as
the JSON output writes it, so a test (or a reader's script) checks one against the other."""

from __future__ import annotations

import html
import json
import math
import re

from ..core.figures import formats

NO_BREAK_HYPHEN = "\u2011"
_SPEC = re.compile(r"(\+?)\.(\d)([f%])")


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    return value


def fmt(value, spec: str) -> str:
    """`value` written by `core.figures.formats` (as the printout and the dashboard write
    it) for a format `spec`: `.4f`, `+.4f` (a signed change, never `-0.0000`), `.0%`;
    a missing or non-finite figure as an en dash."""
    match = _SPEC.fullmatch(spec)
    if match is None:
        raise ValueError(f"no figure format for {spec!r}")
    sign, decimals, kind = match.groups()
    if kind == "%":
        return formats.share(value, int(decimals))
    return (formats.signed if sign else formats.number)(value, int(decimals))


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
    # a header wraps between words, never at a label's hyphen (`docs-` over `net`)
    head = "".join(f"<th>{esc(h).replace('-', NO_BREAK_HYPHEN)}</th>" for h in headers)
    return (f'<table class="{cls}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")

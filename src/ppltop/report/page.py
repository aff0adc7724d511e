"""The page: sections, document views, the theme's colors as CSS, the tooltips' data as
JSON and a small script, all inline, so the file opens from disk with no request."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from .. import __version__
from ..core.errors import InputError
from ..core.figures import formats
from ..core.figures.checkpoints import curve_of_finished
from ..view.color_scale import BITS_PER_STEP, JUMP_THRESHOLD_BITS, RANK_NAMES, RANK_STEPS
from ..view.display_names import LabelNames
from . import training
from .cells import esc
from .documents import DocumentChoice, choose_documents, mode_names, render_document
from .gather import ReportLimits, RunReport, read_report_run
from .sections import across_tokenizers, comparison, config, header, models, summary, worst_lists
from .theme import DEFAULT, PageColors, page_colors, text_on


def _asset(name: str) -> str:
    return (resources.files("ppltop.report") / "assets" / name).read_text(encoding="utf-8")


def theme_css(colors: PageColors) -> str:
    """Theme variables, and one rule per scale step and mode (the terminal's colors)."""
    c = colors.colors
    lines = [":root{" + "".join(f"--{k}:{v};" for k, v in c.items())
             + f"--better:{colors.diff['better']};--worse:{colors.diff['worse']};}}"]
    for i, bg in enumerate(colors.scale):
        lines.append(f".mode-surprisal .s{i},.mode-rank .r{i},.mode-entropy .e{i},"
                     f".sw{i}{{background:{bg};color:{text_on(bg)}}}")
    for cls, key in (("db", "better"), ("dB", "better"), ("dw", "worse"), ("dW", "worse")):
        bg = colors.diff[key]
        lines.append(f".mode-diff .{cls},.sw-{key}{{background:{bg};color:{text_on(bg)}}}")
    return "\n".join(lines)


def legend(colors: PageColors, has_reference: bool) -> str:
    top = len(colors.scale) - 1
    bits = "".join(f'<span class="sw{i}">{int(i * BITS_PER_STEP)}{"+" if i == top else ""}'
                   "</span>" for i in range(len(colors.scale)))
    ranks = "".join(f'<span class="sw{min(step, top)}">{name}</span>'
                    for name, step in zip(RANK_NAMES, RANK_STEPS))
    parts = [f'<p class="legend only-surprisal">surprisal in bits {bits}</p>',
             f'<p class="legend only-rank">rank of the target (GLTR buckets) {ranks}</p>',
             f'<p class="legend only-entropy">entropy of the prediction in bits {bits}</p>']
    if has_reference:
        parts.append('<p class="legend only-diff">Δ surprisal vs the reference; |Δ| &lt; 0.5 '
                     'bits uncolored, bold ≥ 4 bits <span class="sw-better">better</span>'
                     '<span class="sw-worse">worse</span></p>')
    return "".join(parts)


def documents_section(report: RunReport, choice: DocumentChoice, colors: PageColors,
                      limits: ReportLimits) -> tuple[str, dict]:
    live = report.live
    source = live.source
    has_ref = report.diff_reference is not None
    top = len(colors.scale) - 1
    targets: dict[int, set[int]] = {}
    for hit in live.index[report.label].worst_tokens(limits.list_rows):
        targets.setdefault(hit.example, set()).add(hit.position)
    vocab: dict[int, str] = {}
    articles, docs = [], []
    for k, shown in enumerate(choice.shown):
        spans, data = render_document(shown, top, vocab, source.token_texts,
                                      targets.get(shown.example, set()))
        docs.append(data)
        example = shown.document.example
        result = shown.document.result
        n = len(shown.document)
        part = (f"tokens {shown.start}–{shown.stop - 1} of {n} shown (the size bound)"
                if shown.stop - shown.start < n else formats.plural(n, "token"))
        loss = (f", mean loss {formats.loss(result.mean_loss)} nats" if result is not None
                else "")
        articles.append(
            f'<article class="doc" id="{shown.anchor}" data-doc="{k}" tabindex="0">'
            f"<h3>Example {example.index} <small>(line {example.line}; {esc(shown.why)}; "
            f"{part}{loss})</small></h3><div class=\"text\">{spans}</div></article>")
    left = ""
    if choice.left_out:
        items = "".join(f"<li>example {e} ({esc(why)}, {formats.plural(n, 'token')})</li>"
                        for e, why, n in choice.left_out)
        left = (f'<div class="left-out"><h3>Left out by the size bound</h3><p>The document '
                f"views hold at most {formats.plural(limits.total_tokens, 'token')} "
                f"({formats.count(limits.doc_tokens)} per "
                f"document); these {len(choice.left_out)} are not shown:</p><ul>{items}</ul>"
                "</div>")
    modes = "".join(f'<label><input type="radio" name="mode" value="{m}"'
                    f'{" checked" if m == "surprisal" else ""}> {m}</label>'
                    for m in mode_names(has_ref))
    diff_note = (f" Diff mode compares it with {esc(report.names.shown(report.diff_reference))}."
                 if has_ref else "")
    html = (f'<section id="documents" class="mode-surprisal"><h2>Documents: the tokens of '
            f"{esc(report.label_name)}</h2><p>Each character is colored as in the terminal's "
            f"document view.{diff_note} Hover or focus a token for its probability, "
            f"surprisal, rank, entropy and the model's top-5 alternatives; "
            f"<kbd>n</kbd> / <kbd>p</kbd> jump to the next / previous token of at least "
            f"{JUMP_THRESHOLD_BITS:g} bits, <kbd>Esc</kbd> hides the tooltip. Dimmed: not "
            f'scored (first token, masked prompt, truncated); italic: chat template.</p>'
            f'<form class="modes">color by: {modes}</form>{legend(colors, has_ref)}'
            f"{''.join(articles)}{left}</section>")
    vocab_json = {str(k): v for k, v in vocab.items()}
    return html, {"label": report.label, "reference": report.diff_reference, "docs": docs,
                  "vocab": vocab_json}


def render_page(report: RunReport, limits: ReportLimits = ReportLimits(),
                colors: PageColors | None = None) -> str:
    colors = colors or page_colors()
    choice = choose_documents(report, limits)
    source = report.live.source

    def token_text(example: int, position: int) -> str:
        group = source.token_texts.group_at(source.examples[example].tokens, position)
        return f"{group.text!r}" + (f" {group.part}/{group.parts}" if group.parts > 1 else "")

    documents, data = documents_section(report, choice, colors, limits)
    checkpoint_part = training.checkpoints(report, colors.labels,
                                           curve_of_finished(report.live.finished))
    groups_part = training.groups(report)
    models_part = models(report)
    tokenizers_part = across_tokenizers(report)
    nav_extra = "".join(f'<a href="#{anchor}">{anchor}</a> ' for anchor, part in
                        (("tokenizers", tokenizers_part), ("models", models_part),
                         ("checkpoints", checkpoint_part),
                         ("groups", groups_part)) if part)
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    title = f"ppltop report: {Path(report.manifest['config']['model']).name}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"generator\" content=\"ppltop {esc(__version__)}\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
            f"<title>{esc(title)}</title><style>{_asset('report.css')}\n{theme_css(colors)}"
            f"</style></head><body>{header(report)}"
            "<nav><a href=\"#summary\">summary</a> <a href=\"#comparison\">comparison</a> "
            f"{nav_extra}"
            "<a href=\"#worst\">worst</a> <a href=\"#documents\">documents</a> "
            "<a href=\"#config\">config</a></nav><main>"
            f"{summary(report, colors.labels)}{comparison(report, colors.labels)}"
            f"{tokenizers_part}{models_part}{checkpoint_part}{groups_part}"
            f"{worst_lists(report, choice, limits.list_rows, token_text)}{documents}"
            f"{config(report)}</main><div id=\"tip\" role=\"tooltip\" hidden></div>"
            f"<script type=\"application/json\" id=\"report-data\">{payload}</script>"
            f"<script>{_asset('report.js')}</script></body></html>\n")


def write_report(run_dir: Path, out: Path, *, label: str | None = None,
                 examples: list[int] | None = None, limits: ReportLimits = ReportLimits(),
                 theme: str | None = None, names: LabelNames | None = None) -> Path:
    """Read `run_dir`, write the page to `out` (atomically); returns `out`. `names`: the
    display names and reference chosen in the dashboard."""
    colors = page_colors(theme or DEFAULT)  # a wrong --theme fails before the run is read
    return write_page(read_report_run(run_dir, label, examples, names), out, limits, colors)


def write_page(report: RunReport, out: Path, limits: ReportLimits | None = None,
               colors: PageColors | None = None) -> Path:
    """Write the page of `report` to `out` (atomically); returns `out`."""
    page = render_page(report, limits or ReportLimits(), colors)
    out = Path(out).expanduser()
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as e:
        raise InputError(f"-o {out}: cannot write ({e.strerror}); choose a writable path") from e
    return out

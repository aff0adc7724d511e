"""The page's sections besides the documents: what was run, both figures per label and
why they differ, the comparison, the worst examples and tokens, the config. Each shows a
core object's fields as they are (see `cells`)."""

from __future__ import annotations

from pathlib import Path

from ..core.figures import formats
from ..core.figures.compare import verdict
from ..core.figures.models import KL_COLUMNS, compares_models, model_rows
from ..core.mlx_lm import present
from ..core.mlx_lm import words as mlx_lm_words
from .cells import cell, esc, fmt, interval_cell, row, table
from .charts import delta_chart, ppl_chart
from .documents import DocumentChoice
from .gather import RunReport

EXAMPLE_HEADERS = ["example", "mean loss", "targets", "worst token bits", "view"]


def header(report: RunReport) -> str:
    m = report.manifest
    status = "partial: the run was stopped before the end" if report.finished.cancelled \
        else "finished"
    facts = [("model", m["config"]["model"]), ("data", m.get("data_file", "")),
             ("split", m["config"].get("split", "")), ("run directory", str(report.path)),
             ("started", m.get("created", "")), ("status", status),
             ("versions", f"ppltop {m.get('ppltop', '?')}, mlx {m.get('mlx', '?')}, "
                          f"mlx-lm {m.get('mlx_lm', '?')}")]
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts)
    return (f"<header><h1>ppltop report: {esc(Path(m['config']['model']).name)} on "
            f"{esc(Path(m.get('data_file', '')).name)}</h1><dl class=\"facts\">{items}</dl>"
            "</header>")


def summary(report: RunReport, label_colors: list[str]) -> str:
    rows, reasons = [], []
    for s in report.finished.summaries:
        figure = present(s.mlx_lm)
        rows.append(row([
            f'<th scope="row">{esc(s.label)}</th>',
            cell("loss", s.loss, fmt(s.loss, ".6f")), cell("ppl", s.ppl, fmt(s.ppl, ".6f")),
            interval_cell("ppl_ci95", s.ppl_ci95, ".3f"),
            cell("stderr_loss", s.stderr_loss, fmt(s.stderr_loss, ".4f")),
            cell("bits_per_token", s.bits_per_token, fmt(s.bits_per_token, ".4f")),
            cell("bits_per_byte", s.bits_per_byte, fmt(s.bits_per_byte, ".4f")),
            cell("tokens", s.tokens, formats.count(s.tokens)),
            cell("examples", s.examples, str(s.examples)),
            *_mlx_lm_cells(figure),
        ], f'data-label="{esc(s.label)}"'))
        says = (f"mlx_lm.lora --test prints: <code>{esc(figure.line)}</code>"
                if figure and not figure.partial
                else f"mlx-lm figure: {esc(mlx_lm_words(s.mlx_lm))}")
        items = "".join(f"<li>{esc(reason)}</li>" for reason in s.explanation)
        name = esc(s.label) + (f" <small>({esc(s.adapter)})</small>" if s.adapter else "")
        reasons.append(f'<div class="why" data-label="{esc(s.label)}"><h3>{name}</h3>'
                       f"<p>{says}</p><ul>{items}</ul></div>")
    headers = ["label", "loss", "PPL", "PPL 95% CI", "SE (loss)", "bits/token", "bits/byte",
               "tokens", "examples", "mlx-lm loss", "mlx-lm PPL", "mlx-lm targets"]
    return (f'<section id="summary"><h2>Summary</h2>'
            "<p>ppltop's figure scores every example's real targets; mlx-lm's is what "
            "<code>mlx_lm.lora --test</code> prints. Losses in nats; the interval is "
            "clustered by example.</p>"
            f"{table(headers, rows, 'figures')}"
            f"{ppl_chart(report.finished.summaries, label_colors)}"
            f"<h2>Why the two figures differ</h2>{''.join(reasons)}</section>")


def _mlx_lm_cells(f) -> list[str]:
    """mlx-lm's loss, PPL and targets (dashes when it gives no figure)."""
    if f is None:
        return [cell(name, None, "–") for name in ("mlx_lm.loss", "mlx_lm.ppl", "mlx_lm.tokens")]
    return [cell("mlx_lm.loss", f.loss, fmt(f.loss, ".6f")),
            cell("mlx_lm.ppl", f.ppl, fmt(f.ppl, ".6f")),
            cell("mlx_lm.tokens", f.tokens, formats.count(f.tokens))]


def comparison(report: RunReport, label_colors: list[str]) -> str:
    comparisons = report.finished.comparisons
    if not comparisons:
        return ""
    rows = []
    for c in comparisons:
        rows.append(row([
            f'<th scope="row">{esc(c.label)}</th>', cell("loss", c.loss, fmt(c.loss, ".4f")),
            cell("reference_loss", c.reference_loss, fmt(c.reference_loss, ".4f")),
            cell("delta_loss", c.delta_loss, fmt(c.delta_loss, "+.4f")),
            interval_cell("delta_ci95", c.delta_ci95, "+.4f"),
            cell("delta_ppl", c.delta_ppl, fmt(c.delta_ppl, "+.3f")),
            cell("win_share", c.win_share, fmt(c.win_share, ".0%")),
            cell("examples", c.examples, str(c.examples)),
            cell("significant", c.significant, c.verdict),
        ], f'data-label="{esc(c.label)}"'))
    kl = [f"<li>KL divergence of {esc(c.label)} from {esc(c.reference)} over "
          f"{formats.plural(c.kld['tokens'], 'token')}: mean {fmt(c.kld['mean'], '.6f')} ± "
          f"{fmt(c.kld['stderr'], '.6f')}, max {fmt(c.kld['max'], '.4f')}, same top "
          f"{fmt(c.kld['same_top'], '.2%')}</li>" for c in comparisons if c.kld]
    headers = ["label", "loss", "reference loss", "Δloss", "95% CI of Δloss", "ΔPPL", "wins",
               "examples", "verdict"]
    ref = comparisons[0].reference
    return (f'<section id="comparison"><h2>Comparison against {esc(ref)}</h2>'
            "<p>Paired over the same examples: Δloss = loss − reference loss (negative: "
            "better); its interval is a paired bootstrap over examples; wins: the share of "
            "examples with a lower mean loss.</p>"
            f"{table(headers, rows, 'figures')}"
            f"{delta_chart(comparisons, label_colors, report.labels)}"
            f"{'<ul>' + ''.join(kl) + '</ul>' if kl else ''}</section>")


def models(report: RunReport) -> str:
    """A run over several models: what each model is, and the models table of the
    printout (the core's `ModelRow`s, KL of each from the reference)."""
    finished = report.finished
    if not compares_models(finished.summaries):
        return ""
    plan = report.live.plan
    facts = "".join(f"<li><b>{esc(m.label)}</b>: {esc(m.describe())}</li>"
                    for m in (plan.models if plan is not None else []))
    rows = []
    for r in model_rows(finished.summaries, finished.comparisons):
        theirs = not r.reference
        rows.append(row([
            f'<th scope="row">{esc(r.label)}</th>', cell("loss", r.loss, fmt(r.loss, ".4f")),
            cell("ppl", r.ppl, fmt(r.ppl, ".3f")),
            cell("bits_per_byte", r.bits_per_byte, fmt(r.bits_per_byte, ".4f")),
            cell("delta_ppl_pct", r.delta_ppl_pct,
                 fmt(r.delta_ppl_pct, "+.2f") + "%" if theirs else "reference"),
            cell("kl_mean", r.kl_mean, fmt(r.kl_mean, ".5f") if theirs else ""),
            interval_cell("kl_ci95", r.kl_ci95, ".5f") if theirs else cell("kl_ci95", None, ""),
            *(cell(f"kl_{q}", r.kl_percentiles[q],
                   fmt(r.kl_percentiles[q], ".4f") if theirs else "") for q in KL_COLUMNS),
            cell("kl_max", r.kl_max, fmt(r.kl_max, ".4f") if theirs else ""),
            cell("same_top", r.same_top, fmt(r.same_top, ".1%") if theirs else ""),
            cell("tokens_per_s", r.tokens_per_s, formats.count(round(r.tokens_per_s))),
        ], f'data-label="{esc(r.label)}"'))
    headers = ["label", "loss", "PPL", "bits/byte", "ΔPPL", "KL mean", "95% CI of KL",
               *(f"KL {q}%" for q in KL_COLUMNS), "KL max", "same top", "tok/s"]
    return ('<section id="models"><h2>Models</h2>'
            f"{'<ul>' + facts + '</ul>' if facts else ''}"
            "<p>KL(reference ‖ model) per token in nats, its interval clustered by example; "
            "same top: the share of tokens where both models rank the same token first.</p>"
            f"{table(headers, rows, 'figures')}</section>")


def across_tokenizers(report: RunReport) -> str:
    """A part of a run over several tokenizers: the table across the parts of the
    printout (`ByteRow`s), each part linked to its page."""
    if not report.across:
        return ""
    rows = []
    for r in report.across:
        page = report.part_pages.get(r.part)
        part = (esc(r.part) + " (this page)" if page == "" else
                f'<a href="{esc(page)}">{esc(r.part)}</a>' if page else esc(r.part))
        theirs = not r.reference
        rows.append(row([
            f'<th scope="row">{esc(r.label)}</th>', f'<td data-field="part">{part}</td>',
            cell("examples", r.examples, formats.count(r.examples)),
            cell("bits_per_byte", r.bits_per_byte, fmt(r.bits_per_byte, ".4f")),
            cell("delta", r.delta, fmt(r.delta, "+.4f") if theirs else "reference"),
            interval_cell("delta_ci95", r.delta_ci95, "+.4f") if theirs
            else cell("delta_ci95", None, ""),
            cell("win_share", r.win_share, fmt(r.win_share, ".0%") if theirs else ""),
            cell("verdict", said := verdict(r.significant, r.delta) if theirs else "", said),
        ], f'data-label="{esc(r.label)}"'))
    headers = ["label", "tokenizer of", "examples", "bits/byte", "Δ bits/byte",
               "95% CI of Δ", "wins", ""]
    return ('<section id="tokenizers"><h2>Across tokenizers</h2>'
            "<p>Each model's surprisal in bits per UTF-8 byte of the text it scored, paired "
            "per example with the reference and weighted by its bytes; each tokenizer's "
            "models have a page of their own.</p>"
            f"{table(headers, rows, 'figures')}</section>")


def _doc_link(choice: DocumentChoice, example: int, position: int | None = None) -> str:
    shown = next((d for d in choice.shown if d.example == example), None)
    if shown is None:
        return '<span class="muted">not in this report</span>'
    if position is not None and shown.shows(position):
        return f'<a href="#e{example}p{position}">example {example}, token {position}</a>'
    return f'<a href="#{shown.anchor}">example {example}</a>'


def worst_lists(report: RunReport, choice: DocumentChoice, rows_wanted: int,
                token_text) -> str:
    live = report.live
    index = live.index[report.label]
    order = index.example_order("mean_loss", descending=True)
    examples = [row([cell("index", r.index, str(r.index)),
                     cell("mean_loss", r.mean_loss, fmt(r.mean_loss, ".4f")),
                     cell("tokens", r.tokens, str(r.tokens)),
                     cell("worst_bits", r.worst_bits, fmt(r.worst_bits, ".2f")),
                     f"<td>{_doc_link(choice, r.index)}</td>"])
                for r in index.example_rows(order, 0, rows_wanted)]
    tokens = [row([f"<td><code>{esc(token_text(hit.example, hit.position))}</code></td>",
                   cell("bits", hit.bits, fmt(hit.bits, ".2f")),
                   cell("example", hit.example, str(hit.example)),
                   cell("position", hit.position, str(hit.position)),
                   f"<td>{_doc_link(choice, hit.example, hit.position)}</td>"])
              for hit in index.worst_tokens(rows_wanted)]
    hidden = (" Chat-template tokens (role markers, end of turn) are left out, as in the "
              "terminal's lists." if live.hide_template else "")
    return (f'<section id="worst"><h2>Where {esc(report.label_name)} loses most</h2>'
            f"<p>Surprisal in bits, losses in nats.{hidden}</p><div class=\"two\">"
            f"<div><h3>Worst examples (mean loss)</h3>"
            f"{table(EXAMPLE_HEADERS, examples, 'list')}"
            f"</div><div><h3>Worst tokens</h3>"
            f"{table(['token', 'bits', 'example', 'position', 'view'], tokens, 'list')}"
            "</div></div></section>")


def config(report: RunReport) -> str:
    m = report.manifest
    settings = "".join(f"<tr><th>{esc(k)}</th><td><code>{esc(v)}</code></td></tr>"
                       for k, v in m["config"].items())
    prints = [("model", m["config"]["model"], m.get("model_fingerprint", "")),
              ("data", m.get("data_file", ""), m.get("data_sha256", ""))]
    prints += [(f"adapter {a['label']}", a["path"], a.get("fingerprint", ""))
               for a in m.get("adapters", [])]
    rows = "".join(f"<tr><th>{esc(what)}</th><td><code>{esc(path)}</code></td>"
                   f"<td><code>{esc(digest)}</code></td></tr>" for what, path, digest in prints)
    blas = m.get("blas") or {}
    blas_text = ", ".join(f"{k} {v}" for k, v in blas.items() if v not in (None, ""))
    return ('<section id="config"><h2>Configuration and fingerprints</h2>'
            f'<table class="kv">{settings}</table>'
            "<h3>Fingerprints (sha256)</h3>"
            f'<table class="kv">{rows}</table>'
            f"<p>BLAS: {esc(blas_text or 'not recorded')}</p></section>")

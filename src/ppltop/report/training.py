"""The page's sections for the questions after the overall figure: where each adapter helps
and where it hurts (the core's `Breakdowns`), and which checkpoint is best (the core's
`CheckpointCurve`). Drawn, not computed: every number is one of those objects' fields, and
each cell carries it as the JSON writes it."""

from __future__ import annotations

from .cells import cell, esc, fmt, interval_cell, row, table
from .charts import interval_chart
from .gather import RunReport


def _group_cells(group, labels: list[str], reference: str) -> list[str]:
    cells = [f'<th scope="row">{esc(group.name)}'
             f'{" <small>few</small>" if group.small else ""}</th>',
             cell("examples", group.examples, str(group.examples))]
    for label in labels:
        f = group.figures.get(label)
        cells.append(cell("loss", f.loss if f else None, fmt(f.loss if f else None, ".4f")))
    for label in labels:
        if label == reference:
            continue
        c = group.figures[label].comparison if label in group.figures else None
        if c is None:
            cells += [cell("delta_loss", None, "–"), cell("delta_ci95", None, "–"),
                      cell("win_share", None, "–")]
            continue
        mark = " *" if c.significant else ""
        cells += [cell("delta_loss", c.delta_loss, fmt(c.delta_loss, "+.4f") + mark),
                  interval_cell("delta_ci95", c.delta_ci95, "+.4f"),
                  cell("win_share", c.win_share, fmt(c.win_share, ".0%"))]
    return cells


def groups(report: RunReport) -> str:
    """One table per breakdown: each label's loss per group, and each other label's paired
    Δloss against the reference per group (* when its interval excludes 0)."""
    found = getattr(report.finished, "breakdowns", None)
    if found is None or not found.breakdowns:
        return ""
    labels, reference = found.labels, found.reference
    others = [label for label in labels if label != reference]
    headers = ["group", "examples", *[f"loss {label}" for label in labels]]
    for label in others:
        headers += [f"Δloss {label}", "95% CI", "wins"]
    parts = []
    for b in found.breakdowns:
        rows = [row(_group_cells(g, labels, reference),
                    f'data-breakdown="{esc(b.key)}" data-group="{esc(g.name)}"')
                for g in b.groups]
        note = f"<p>{esc(b.note)}</p>" if b.note else ""
        parts.append(f"<h3>{esc(b.title)}</h3>{note}{table(headers, rows, 'figures')}")
    return ('<section id="groups"><h2>Where each adapter helps and where it hurts</h2>'
            f"<p>Loss in nats per group; Δloss against {esc(reference)}, paired over the "
            "group's examples (the comparison's own bootstrap); <small>few</small>: under "
            "10 examples, an interval over so few says little.</p>"
            f"{''.join(parts)}</section>")


def checkpoints(report: RunReport, label_colors: list[str], curve) -> str:
    """The curve (each checkpoint's loss with its interval, in iteration order) and its
    table with the best checkpoint and the verdict of the others against it."""
    if curve is None:
        return ""
    rows, points = [], []
    for s, series in enumerate(curve.series):
        color = label_colors[s % len(label_colors)]
        for p in series.points:
            c = p.versus_best
            rows.append(row([
                cell("iteration", p.iteration, "final" if p.iteration is None
                     else str(p.iteration)),
                f'<th scope="row">{esc(p.label)}</th>',
                cell("loss", p.loss, fmt(p.loss, ".4f")),
                interval_cell("loss_ci95", p.loss_ci95, ".4f"),
                cell("mlx_lm_loss", p.mlx_lm_loss, fmt(p.mlx_lm_loss, ".4f")),
                cell("delta_loss_vs_best", c.delta_loss if c else None,
                     fmt(c.delta_loss if c else None, "+.4f")),
                cell("verdict", p.verdict, p.verdict),
            ], f'data-label="{esc(p.label)}"'))
        points += [(f"{p.label}{' (best)' if p.best else ''}", p.loss, *p.loss_ci95, color)
                   for p in series.plotted()]
    base_mlx_lm = ("" if curve.base_mlx_lm_loss is None else
                   ", mlx-lm loss " + fmt(curve.base_mlx_lm_loss, ".4f"))
    base = ("" if curve.base_loss is None else
            f"<p>Base model: loss {fmt(curve.base_loss, '.4f')}{base_mlx_lm}.</p>")
    headers = ["iteration", "label", "loss", "95% CI of loss", "mlx-lm loss", "Δloss vs best",
               "verdict"]
    chart = interval_chart("Test loss by training iteration with its 95% interval", points,
                           False, "loss, nats (95% interval clustered by example)")
    return ('<section id="checkpoints"><h2>Checkpoints across training</h2>'
            "<p>The best checkpoint has the lowest loss of those scored to their end; another "
            "is <b>as good</b> when its "
            "paired Δloss interval against the best includes 0.</p>"
            f"{base}{chart}{table(headers, rows, 'figures')}</section>")

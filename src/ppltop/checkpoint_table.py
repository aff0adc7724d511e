"""The checkpoint table of the headless output: the core's `CheckpointCurve` as text, by
iteration, the best checkpoint of each folder marked and the others' paired Δloss
against it."""

from __future__ import annotations

from .core.figures import formats as fmt
from .core.figures.checkpoints import CheckpointCurve, CheckpointPoint


def checkpoint_row(p: CheckpointPoint) -> list[str]:
    """The cells of one checkpoint, as the table and the dashboard's list show them:
    iteration, label, loss, its 95% interval, mlx-lm's loss, Δloss against the best, the
    paired 95% interval of that Δloss, and the verdict."""
    c = p.versus_best
    return ["final" if p.iteration is None else str(p.iteration), p.label, fmt.loss(p.loss),
            fmt.interval(*p.loss_ci95), fmt.loss(p.mlx_lm_loss),
            fmt.signed(c.delta_loss) if c else "",
            fmt.interval(*c.delta_ci95, sign=True) if c else "", p.verdict]


def verdict_text(p: CheckpointPoint) -> str:
    """The verdict, and for a checkpoint not scored to its end the examples its Δ covers:
    `scoring… (Δ over 23 common examples)`."""
    n = p.common_examples
    return p.verdict if n is None else f"{p.verdict} (Δ over {n} common examples)"


def render_checkpoints(curve: CheckpointCurve) -> str:
    """One block per adapter folder, rows by iteration."""
    lines = []
    widths = (9, 18, 8, 18, 11, 9, 21)
    head = ("iteration", "label", "loss", "95% CI of loss", "mlx-lm loss", "Δloss",
            "95% CI vs best")
    for series in curve.series:
        lines.append(f"== checkpoints of {series.name} by iteration (best: "
                     f"{series.best or '– (no checkpoint scored to its end)'}; Δloss paired "
                     "against it) ==")
        lines.append(" ".join(h.rjust(w) if i != 1 else h.ljust(w)
                              for i, (h, w) in enumerate(zip(head, widths))) + "  verdict")
        for point in series.points:
            cells = checkpoint_row(point)
            text = " ".join(c.rjust(w) if i != 1 else c.ljust(w)
                            for i, (c, w) in enumerate(zip(cells, widths)))
            mark = "  * best" if point.verdict == "best" else f"  {verdict_text(point)}"
            lines.append(text + mark)
    if curve.bases:
        lines.append("base model: loss " + ", ".join(f"{fmt.loss(loss)} on {split}"
                                                     for split, loss in curve.bases.items()))
    if curve.base_loss is not None:
        lines.append(f"base model: loss {fmt.loss(curve.base_loss)}, mlx-lm loss "
                     f"{fmt.loss(curve.base_mlx_lm_loss)}")
    return "\n".join(lines) + "\n"

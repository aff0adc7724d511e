"""The headless table of a run over several splits: each label's loss on every split and
the gap (the core's `splits.SplitRow`, as text)."""

from __future__ import annotations

from .core.figures import formats as fmt
from .core.figures.splits import SplitRow


def render_splits(rows: list[SplitRow]) -> str:
    """`== valid and test side by side ==`, a row per label, mlx-lm's loss beside ours."""
    if not rows:
        return ""
    splits = rows[0].splits
    names = " and ".join(splits)
    iterations = any(row.iteration is not None for row in rows)  # checkpoints: by iteration
    head = ["label".ljust(18), *(["iteration".rjust(9)] if iterations else [])]
    for split in splits:
        head += [f"{split} loss".rjust(12), f"{split} mlx-lm".rjust(12)]
    head.append(f"gap ({splits[-1]} − {splits[0]})".rjust(20))
    lines = [f"== {names} side by side (ppltop's loss and mlx-lm's on each split) ==",
             " ".join(head)]
    for row in rows:
        cells = [row.label.ljust(18)]
        if iterations:
            cells.append(("" if row.iteration is None else str(row.iteration)).rjust(9))
        for split in splits:
            cells += [fmt.loss(row.losses.get(split)).rjust(12),
                      fmt.loss(row.mlx_lm_losses.get(split)).rjust(12)]
        cells.append(fmt.signed(row.gap).rjust(20))
        lines.append(" ".join(cells))
    return "\n".join(lines) + "\n"

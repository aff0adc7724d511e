"""The styles the document view colors tokens with, from the theme's surprisal scale and its
two diff colors, and the legend under the document that names them."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from textual.color import Color

from ..view.color_scale import BITS_PER_STEP, DIFF_NEUTRAL_BITS, RANK_NAMES, RANK_STEPS, diff_kind


def _on(background: str) -> Style:
    """A cell of `background` with text that reads on it (black on light, white on dark)."""
    bg = Color.parse(background)
    return Style(bgcolor=bg.rich_color, color="#000000" if bg.brightness > 0.5 else "#ffffff")


def legend_text(mode: str) -> str:
    """What the colors of `mode` mean, in words."""
    if mode == "rank":
        return "rank of the target (GLTR buckets)"
    if mode == "diff":
        return (f"Δ surprisal vs the reference; |Δ| < {DIFF_NEUTRAL_BITS} bits uncolored, "
                "bold ≥ 4 bits")
    return f"{mode} in bits"


@dataclass
class SurprisalStyles:
    """One theme's token styles: a style per scale step, and the diff mode's two."""

    scale: list[Style]
    diff: dict[str, Style]
    """`diff-better` and `diff-worse`, where the theme has them."""

    @classmethod
    def from_theme(cls, variables: dict[str, str]) -> SurprisalStyles:
        scale = []
        while f"surprisal-{len(scale)}" in variables:
            scale.append(_on(variables[f"surprisal-{len(scale)}"]))
        diff = {key: _on(variables[key]) for key in ("diff-better", "diff-worse")
                if key in variables}
        return cls(scale or [Style()], diff)

    def diff_style(self, delta_bits: float) -> Style | None:
        """The style of a token whose surprisal changed by `delta_bits` (None: no change
        to show, the token is not compared)."""
        kind = diff_kind(delta_bits)
        if kind is None:
            return None
        change, strong = kind
        if change == "neutral":
            return Style()
        style = self.diff.get(f"diff-{change}", Style())
        return style + Style(bold=True) if strong else style

    def legend_segments(self, mode: str) -> list[tuple[str, Style]]:
        """The legend's swatches in `mode`: each step (or bucket, or change) in its style."""
        if mode == "diff":
            return [(" better ", self.diff.get("diff-better", Style())),
                    (" worse ", self.diff.get("diff-worse", Style()))]
        styles = self.scale
        if mode == "rank":
            return [(f" {label} ", styles[min(step, len(styles) - 1)])
                    for label, step in zip(RANK_NAMES, RANK_STEPS)]
        return [(f" {int(i * BITS_PER_STEP)}{'+' if i == len(styles) - 1 else ''} ", style)
                for i, style in enumerate(styles)]

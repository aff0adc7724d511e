"""Screenshots compared with a tolerance for font antialiasing, not for layout.

Both images are cut into 8x8-pixel blocks and each block's mean gray level compared:
antialiasing moves a glyph's edge pixels by a few levels, which a block's mean barely
feels; a moved table, a missing chart or another color moves whole blocks by tens of
levels. The images differ when more than `max_share` of the blocks moved by more than
`level` (of 255), or when their sizes differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

BLOCK = 8


@dataclass
class Difference:
    size_a: tuple[int, int]
    size_b: tuple[int, int]
    share: float
    """Share of blocks whose mean moved by more than the level."""
    pixels: float = 1.0
    """Share of pixels that differ at all."""

    def same(self, max_share: float) -> bool:
        return self.size_a == self.size_b and self.share <= max_share


def _gray(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.float64)


def _blocks(gray: np.ndarray) -> np.ndarray:
    h, w = (gray.shape[0] // BLOCK) * BLOCK, (gray.shape[1] // BLOCK) * BLOCK
    return gray[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).mean(axis=(1, 3))


def compare(a: Path, b: Path, level: float = 16.0) -> Difference:
    from PIL import Image

    with Image.open(a) as ia, Image.open(b) as ib:
        size_a, size_b = ia.size, ib.size
    if size_a != size_b:
        return Difference(size_a, size_b, 1.0)
    gray_a, gray_b = _gray(a), _gray(b)
    moved = np.abs(_blocks(gray_a) - _blocks(gray_b)) > level
    return Difference(size_a, size_b, float(moved.mean()), float((gray_a != gray_b).mean()))

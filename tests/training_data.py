"""Synthetic training patches for the tests of ``training/`` (imported by those tests; collects no tests)."""

from __future__ import annotations

import numpy as np

from prepare import Patch


def ellipse_patch(rng: np.random.Generator, source: str) -> Patch:
    """A 64x64 patch with a bright ellipse on a noisy background."""
    yy, xx = np.mgrid[:64, :64]
    a, b = rng.uniform(10, 24, 2)
    mask = (((xx - 32) / a) ** 2 + ((yy - 32) / b) ** 2 <= 1).astype(np.uint8) * 255
    image = rng.integers(0, 90, (64, 64, 3), dtype=np.uint8)
    image[mask > 0] += 120
    return Patch(image, mask, source, "blob", "frame", f"{source}/0")

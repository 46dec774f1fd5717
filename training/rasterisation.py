"""How much two drawings of the same Cityscapes object can disagree, by object size: the ceiling that label
rasterisation puts on IoU for small objects.

    python training/rasterisation.py DATA/Cityscapes-3 [--cities tubingen ulm]

For every object of the paper's classes in the given cities (default: the validation cities), its visible mask
drawn as ``training/datasets.py`` draws it (2048x1024, pixel-centre vertices, depth order) is compared with
(a) the same polygons drawn half a pixel to the right and down (two careful drawings that disagree by
    half a pixel),
(b) the first trial's drawing: polygons scaled to 640x640, vertices rounded to whole pixels, painted there, then
    enlarged (nearest) to 2048x1024, and
(c) the best a mask exact at the stored 640x640 pixels can do: the mask area-averaged onto that grid, cut at
    one half, resized back (bilinear) and cut again.
Reads only label files (no images). Prints median and mean IoU per size bin (at 2048x1024), and the share of
objects seen in several pieces (``samples.pieces``: a car behind a pedestrian is two).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from datasets import (
    CITYSCAPES_NAMES,
    CITYSCAPES_SIZE,
    RESERVED_CITIES,
    cityscapes_city,
    paint_layers,
    paint_layers_rounded,
    yolo_class_names,
)
from evaluate import SIZE_BINS
from samples import pieces

STORED = (640, 640)  # the export's JPEG size


def at_stored_pixels(mask: np.ndarray) -> np.ndarray:
    """``mask`` (2048x1024 bool) as exact as the stored 640x640 pixels can hold it, back at 2048x1024."""
    h, w = mask.shape
    small = cv2.resize(mask.astype(np.float32), STORED, interpolation=cv2.INTER_AREA) > 0.5
    return cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) > 0.5


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", type=Path)
    p.add_argument("--cities", nargs="*", default=["tubingen", "ulm"])
    a = p.parse_args()
    if set(a.cities) & set(RESERVED_CITIES):
        raise SystemExit(f"{sorted(RESERVED_CITIES)} are reserved for evaluation")
    names = yolo_class_names(a.root / "data.yaml")
    keep = {i for i, n in enumerate(names) if n in CITYSCAPES_NAMES}
    W, H = CITYSCAPES_SIZE
    rows = []
    for label in sorted(a.root.glob("*/labels/*.txt")):
        if cityscapes_city(label.stem) not in a.cities:
            continue
        lines = [v for v in (line.split() for line in label.read_text().splitlines()) if len(v) >= 7]
        if not any(int(v[0]) in keep for v in lines):
            continue
        norm = [np.asarray(v[1:], np.float64).reshape(-1, 2) for v in lines]
        exact = paint_layers([q * (W, H) for q in norm], W, H)
        shifted = paint_layers([q * (W, H) + 0.5 for q in norm], W, H)
        trial = paint_layers_rounded(norm, (640, 640), (W, H))
        for i, v in enumerate(lines):
            if int(v[0]) not in keep:
                continue
            m = exact == i + 1
            area = int(m.sum())
            if area < 150:  # as the reader drops them
                continue
            rows.append((area, _iou(m, shifted == i + 1), _iou(m, trial == i + 1), _iou(m, at_stored_pixels(m)),
                         pieces(m) > 1))
    rows = np.array(rows)
    print("| objects (px at 2048x1024) | n | half-pixel shift: median / mean IoU | 640x640 rounded: median / mean IoU "
          "| exact at the stored pixels: median / mean IoU | in several pieces |")
    print("|---|---|---|---|---|---|")
    for lo, hi, label in ((150, None, "all"), *SIZE_BINS):
        sel = rows[(rows[:, 0] >= lo) & ((rows[:, 0] < hi) if hi else True)]
        print(f"| {label} | {len(sel)} | {np.median(sel[:, 1]) * 100:.1f} / {sel[:, 1].mean() * 100:.1f} | "
              f"{np.median(sel[:, 2]) * 100:.1f} / {sel[:, 2].mean() * 100:.1f} | "
              f"{np.median(sel[:, 3]) * 100:.1f} / {sel[:, 3].mean() * 100:.1f} | {sel[:, 4].mean() * 100:.0f} % |")


if __name__ == "__main__":
    main()

"""Simulated annotator clicks: the standard interactive-segmentation protocol (RITM's ``Clicker``) and the brush.

Evaluation (``training/evaluate_clicks.py``, ``benchmarks/``) and the correction network's training use the same
rule, so the model learns to answer the clicks it is measured with.

The protocol: after each answer, the next click goes to the pixel farthest from the boundary of the larger error
region. The false-negative and false-positive masks are each padded by one pixel (so the image border counts as
boundary), distance-transformed (``cv2.DIST_L2``, precise), pixels already clicked are excluded, and the click is
positive if the false-negative maximum is strictly larger, else negative; ties go to the first row-major maximum.

All masks are ``(H, W)`` bool; clicks are ``(x, y, positive)`` with integer pixel coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Click:
    """One simulated click: pixel ``(x, y)``; ``positive`` adds foreground, a negative click removes it."""

    x: int
    y: int
    positive: bool


def _distance(region: np.ndarray) -> np.ndarray:
    padded = np.pad(region, 1).astype(np.uint8)
    return cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]


def next_click(
    pred: np.ndarray,
    gt: np.ndarray,
    clicked: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    spread: float = 0.0,
) -> Click:
    """The protocol's next click for the answer ``pred`` to the object ``gt``.

    Parameters
    ----------
    pred, gt : (H, W) bool
    clicked : (H, W) bool or None
        Pixels already clicked, never chosen again.
    rng, spread : for training only: with ``rng`` and ``spread > 0``, the click is drawn at random among the
        pixels of the chosen error region whose distance is at least ``(1 - spread)`` times the maximum (a careless
        annotator); without, the protocol's deterministic choice.

    Returns
    -------
    Click
        With no error left the click is a positive one at the object's innermost pixel (or a negative one at the
        first free pixel when the object is empty).
    """
    fn = _distance(gt & ~pred)
    fp = _distance(~gt & pred)
    if clicked is not None:
        fn[clicked] = 0
        fp[clicked] = 0
    fn_max, fp_max = float(fn.max()), float(fp.max())
    positive = fn_max > fp_max
    dist, best = (fn, fn_max) if positive else (fp, fp_max)
    if best <= 0:  # no error region left: a harmless click
        inner = _distance(gt)
        if clicked is not None:
            inner[clicked] = 0
        if inner.max() > 0:
            dist, positive, best = inner, True, float(inner.max())
        else:
            free = ~gt if clicked is None else ~gt & ~clicked
            y, x = np.argwhere(free)[0]
            return Click(int(x), int(y), False)
    if rng is not None and spread > 0:
        ys, xs = np.nonzero(dist >= (1.0 - spread) * best)
        i = rng.integers(len(ys))
        return Click(int(xs[i]), int(ys[i]), bool(positive))
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)  # first row-major maximum
    return Click(int(x), int(y), bool(positive))


def brush(pred: np.ndarray, gt: np.ndarray, click: Click) -> np.ndarray:
    """What a labeling tool's brush does with no model: paint (positive) or erase (negative) the largest disc
    centred on the click that fits in the error region there. Returns the new ``(H, W)`` bool mask."""
    region = (gt & ~pred) if click.positive else (~gt & pred)
    radius = float(_distance(region)[click.y, click.x])
    out = pred.copy()
    if radius <= 0:
        return out
    disc = np.zeros(pred.shape, np.uint8)
    cv2.circle(disc, (click.x, click.y), max(0, int(np.floor(radius - 0.5))), 1, thickness=-1)
    out[disc.astype(bool)] = click.positive
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 for two empty masks)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def clicks_to_reach(ious: list[float], threshold: float, max_clicks: int, first: int = 0) -> int:
    """NoC: the number of clicks after which IoU first reaches ``threshold``; ``ious[k]`` is the IoU after
    ``first + k`` clicks. ``max_clicks`` if never."""
    for k, value in enumerate(ious):
        if value >= threshold:
            return min(first + k, max_clicks)
    return max_clicks

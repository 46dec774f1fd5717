"""The full-resolution click protocol of ``training/evaluate_clicks.py``: its shortcut (distances computed on the
region that holds every error) gives the protocol's clicks exactly, and its summary counts clicks as the protocol
does."""

from __future__ import annotations

import numpy as np
import pytest

from clicker import Click, next_click
from evaluate_clicks import protocol_click, summarise


def blob(shape, centre, axes, angle=0.0):
    import cv2

    m = np.zeros(shape, np.uint8)
    cv2.ellipse(m, centre, axes, angle, 0, 360, 1, -1)
    return m.astype(bool)


@pytest.mark.parametrize("corner", [False, True], ids=["inside", "at-the-border"])
def test_the_region_shortcut_places_the_protocols_click(corner):
    shape = (300, 400)
    centre = (20, 30) if corner else (200, 150)  # at the border, the image edge counts as boundary
    gt = blob(shape, centre, (60, 40))
    pred = blob(shape, (centre[0] + 15, centre[1] + 5), (50, 45), 20)
    clicked: list[Click] = []
    for _ in range(4):
        full_done = np.zeros(shape, bool)
        for c in clicked:
            full_done[c.y, c.x] = True
        expected = next_click(pred, gt, full_done)
        got = protocol_click(pred, gt, clicked)
        assert got == expected
        clicked.append(got)
        pred = pred.copy()
        pred[max(got.y - 6, 0) : got.y + 6, max(got.x - 6, 0) : got.x + 6] = got.positive  # a crude correction


def test_summary_counts_the_extreme_points_as_the_first_four_clicks():
    rows = [
        {"source": "a", "area": 3000, "start": 4, "model": [0.80, 0.86, 0.91], "none": [0.80] * 3, "brush": [0.80, 0.82, 0.84]},
        {"source": "a", "area": 3000, "start": 4, "model": [0.92, 0.95, 0.96], "none": [0.92] * 3, "brush": [0.92, 0.93, 0.95]},
    ]
    s = summarise(rows, max_clicks=6)["a"]
    assert s["model"]["NoC@90"] == (6 + 4) / 2  # the first reaches 0.9 at its 6th click, the second at once
    assert s["model"]["NoC@85"] == (5 + 4) / 2
    assert s["none"]["NoC@90"] == (6 + 4) / 2 and s["none"]["NoF@90"] == 1  # max_clicks when never
    assert s["model"]["IoU@5"] == pytest.approx(100 * (0.86 + 0.95) / 2)

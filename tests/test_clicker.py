"""The simulated annotator (``training/clicker.py``): the RITM protocol's next click, and the brush baseline."""

from __future__ import annotations

import numpy as np

from clicker import Click, brush, clicks_to_reach, iou, next_click


def square(x0: int, y0: int, x1: int, y1: int, shape=(40, 60)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_a_missed_part_gets_a_positive_click_at_its_centre():
    gt = square(10, 10, 50, 30)
    pred = square(10, 10, 30, 30)  # the right half (x 30..49) is missed
    click = next_click(pred, gt)
    assert click.positive
    assert 38 <= click.x <= 41 and 18 <= click.y <= 21  # farthest from the missed region's boundary


def test_a_wrongly_taken_part_gets_a_negative_click():
    gt = square(10, 10, 30, 30)
    pred = square(10, 10, 50, 30)
    assert next_click(pred, gt).positive is False


def test_the_image_border_counts_as_boundary():
    gt = square(0, 0, 60, 40)
    pred = square(20, 0, 60, 40)  # missed: a strip along the left border, 20 px wide
    click = next_click(pred, gt)
    assert click.positive and 9 <= click.x <= 10  # the middle of the strip, not its border edge at x=0


def test_ties_go_to_the_first_row_major_maximum_and_clicked_pixels_are_skipped():
    gt = square(10, 10, 20, 20) | square(40, 10, 50, 20)
    pred = np.zeros_like(gt)  # two equal missed squares
    first = next_click(pred, gt)
    assert first.x < 20  # the left one comes first in row-major order
    clicked = np.zeros_like(gt)
    clicked[first.y, first.x] = True
    assert (next_click(pred, gt, clicked).x, next_click(pred, gt, clicked).y) != (first.x, first.y)


def test_a_perfect_answer_gets_a_harmless_positive_click_inside():
    gt = square(10, 10, 50, 30)
    click = next_click(gt, gt)
    assert click.positive and gt[click.y, click.x]


def test_random_spread_stays_in_the_chosen_region():
    gt = square(10, 10, 50, 30)
    pred = square(10, 10, 30, 30)
    rng = np.random.default_rng(0)
    for _ in range(20):
        c = next_click(pred, gt, rng=rng, spread=0.5)
        assert c.positive and gt[c.y, c.x] and not pred[c.y, c.x]


def test_the_brush_paints_the_largest_disc_that_fits():
    gt = square(10, 10, 50, 30)
    pred = square(10, 10, 30, 30)
    painted = brush(pred, gt, Click(40, 20, True))
    assert painted.sum() > pred.sum() and not (painted & ~gt).any()  # only right pixels painted
    erased = brush(gt | square(50, 10, 60, 30), gt, Click(55, 20, False))
    assert erased[20, 55] == 0 and erased[gt].all()


def test_iou_and_clicks_to_reach():
    assert iou(square(0, 0, 10, 10), square(0, 0, 10, 20)) == 0.5
    assert iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0
    assert clicks_to_reach([0.7, 0.86, 0.91], 0.85, 20, first=4) == 5
    assert clicks_to_reach([0.7, 0.8], 0.9, 20, first=4) == 20

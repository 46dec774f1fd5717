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


def report(curves, source="a", area=3000, start=4, max_clicks=6):
    return {"max_clicks": max_clicks, "objects": [[source, area, start, [100 * v for v in c]] for c in curves]}


def test_two_reports_compare_object_by_object_with_an_interval_from_the_objects():
    from compare_clicks import compare

    old = report([[0.80, 0.86, 0.91], [0.92, 0.95, 0.96], [0.70, 0.80, 0.85]])  # NoC@90: 6, 4, 6 (never)
    new = report([[0.80, 0.91, 0.95], [0.92, 0.95, 0.96], [0.70, 0.80, 0.85]])  # 5, 4, 6
    r = compare(new, old, resamples=2000)
    assert r["all"]["new"] == pytest.approx(5.0) and r["all"]["old"] == pytest.approx(16 / 3)
    assert r["all"]["difference"] == pytest.approx(-1 / 3)
    lo, hi = r["all"]["interval"]
    assert -1.0 <= lo <= -1 / 3 <= hi <= 0.0  # one object of three moved: the draw of objects can hide it
    assert r["a/size 2000-10000px"]["n"] == 3
    road = compare(report([[0.8, 0.95]], source="camvid", area=1200), report([[0.8, 0.85]], source="camvid", area=1200))
    assert road["camvid/size >=1000px"]["difference"] == pytest.approx(5 - 6)  # issue 17's threshold, its own group


def test_reports_on_other_objects_are_refused():
    from compare_clicks import compare

    with pytest.raises(ValueError, match="not on the same objects"):
        compare(report([[0.8, 0.9]]), report([[0.8, 0.9]], area=500))
    with pytest.raises(ValueError, match="no per-object curves"):
        compare({"max_clicks": 20, "summary": {}}, report([[0.8, 0.9]]))


def test_a_report_keeps_each_objects_curve_for_the_comparison():
    from evaluate_clicks import object_rows

    rows = [{"source": "a", "area": 900, "pieces": 2, "start": 2, "model": [0.8123456, 0.9], "none": [0.8] * 2,
             "brush": [0.8] * 2}]
    assert object_rows(rows) == [["a", 900, 2, [81.23, 90.0], 2]]


def test_an_object_seen_behind_an_occluder_is_in_several_pieces():
    from samples import pieces

    car = np.zeros((40, 60), bool)
    car[10:30, 5:25] = True
    assert pieces(car) == 1
    car[10:30, 30:55] = True  # the same car on the other side of a pole
    assert pieces(car) == 2
    car[0, 0] = True  # a speck of the outline is no piece
    assert pieces(car) == 2
    assert pieces(np.zeros((5, 5), bool)) == 0


def test_objects_in_several_pieces_are_groups_of_their_own():
    def row(area, n):
        return {"source": "camvid", "area": area, "pieces": n, "start": 4, "model": [0.8, 0.95], "none": [0.8] * 2,
                "brush": [0.8] * 2}

    s = summarise([row(5000, 1), row(5000, 2), row(500, 3)], max_clicks=20)
    assert s["camvid/several pieces"]["n"] == 2
    assert s["camvid/size >=1000px, one piece"]["n"] == 1 and s["camvid/size >=1000px, several pieces"]["n"] == 1
    # compare_clicks takes the pieces from whichever report counted them (older reports did not)
    from compare_clicks import compare

    new = {"max_clicks": 20, "objects": [["camvid", 5000, 4, [80.0, 95.0], 2]]}
    old = {"max_clicks": 20, "objects": [["camvid", 5000, 4, [80.0, 85.0]]]}
    assert compare(new, old)["camvid/size >=1000px, several pieces"]["difference"] == pytest.approx(5 - 20)  # old never reaches 90: 20


def test_the_issues_size_thresholds_are_groups_of_their_own():
    rows = [
        {"source": "camvid", "area": area, "start": 4, "model": [0.8, 0.95], "none": [0.8] * 2, "brush": [0.8] * 2}
        for area in (900, 1000, 5000)
    ]
    s = summarise(rows, max_clicks=20)
    assert s["camvid/size >=1000px"]["n"] == 2 and s["camvid"]["n"] == 3
    assert "camvid/size >=1000px" not in summarise(rows, max_clicks=20, at_least={})

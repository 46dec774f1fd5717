"""Tests for :mod:`polyseg.contours`: from a binary mask to simplified polygons with holes.

Every test builds a synthetic mask whose outline is known by hand. Vertices are (x, y) pixel centres, so a
filled rectangle of columns 10 .. 29 and rows 5 .. 14 has the corners (10, 5), (29, 5), (29, 14), (10, 14),
and ``cv2.fillPoly(m, [np.round(polygon).astype(np.int32)], 1)`` paints the mask back.

Examples
--------
>>> mask = np.zeros((30, 40), np.uint8)
>>> mask[5:15, 10:30] = 1
>>> trace(mask, tolerance=1.4)[0].outer.tolist()
[[10.0, 5.0], [10.0, 14.0], [29.0, 14.0], [29.0, 5.0]]
"""

import cv2
import numpy as np
import pytest

from polyseg.contours import Part, clean_mask, simplify, trace

YY, XX = np.mgrid[:100, :100]


def rectangle(x0=10, y0=5, x1=29, y1=14, shape=(30, 40)):
    """Mask with the pixels x0 .. x1, y0 .. y1 (inclusive) set."""
    mask = np.zeros(shape, np.uint8)
    mask[y0 : y1 + 1, x0 : x1 + 1] = 1
    return mask


def disc(cx=50, cy=50, r=40):
    return ((XX - cx) ** 2 + (YY - cy) ** 2 <= r**2).astype(np.uint8)


def fill(polygon, shape):
    out = np.zeros(shape, np.uint8)
    cv2.fillPoly(out, [np.round(polygon).astype(np.int32)], 1)
    return out.astype(bool)


def iou(a, b):
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return (a & b).sum() / (a | b).sum()


# --- outer boundaries -------------------------------------------------------------------------------------------


def test_rectangle_simplifies_to_its_four_corner_pixel_centres():
    parts = trace(rectangle(), tolerance=1.4)
    assert len(parts) == 1
    assert sorted(map(tuple, parts[0].outer.tolist())) == [(10, 5), (10, 14), (29, 5), (29, 14)]
    assert parts[0].holes == ()
    assert parts[0].area == 20 * 10


def test_rectangle_with_tolerance_zero_runs_through_every_boundary_pixel_centre():
    mask = rectangle()
    outer = trace(mask, tolerance=0)[0].outer
    # 20 x 10 rectangle: 2 * (20 - 1) + 2 * (10 - 1) boundary pixels, each visited once.
    assert len(outer) == 56
    assert len({tuple(p) for p in outer.tolist()}) == 56
    xs, ys = outer[:, 0].astype(int), outer[:, 1].astype(int)
    assert np.array_equal(outer, np.round(outer))  # whole pixel centres
    assert np.all(mask[ys, xs] == 1)  # inside the mask ...
    assert np.all((xs == 10) | (xs == 29) | (ys == 5) | (ys == 14))  # ... on its boundary


def test_the_result_is_float64_x_y():
    outer = trace(rectangle(x0=3, y0=17, x1=8, y1=25, shape=(30, 12)), tolerance=1.4)[0].outer
    assert outer.dtype == np.float64
    assert outer.shape == (4, 2)
    # x (columns) first: 3 .. 8; then y (rows): 17 .. 25.
    assert (outer[:, 0].min(), outer[:, 0].max(), outer[:, 1].min(), outer[:, 1].max()) == (3, 8, 17, 25)


@pytest.mark.parametrize("tolerance", [0.0, 1.4])
@pytest.mark.parametrize(
    "mask",
    [
        pytest.param(rectangle(x0=12, y0=30, x1=70, y1=61, shape=(100, 100)), id="rectangle"),
        pytest.param(disc(r=40), id="disc"),
        pytest.param(((((XX - 50) / 40.0) ** 2 + ((YY - 50) / 25.0) ** 2) <= 1).astype(np.uint8), id="ellipse"),
    ],
)
def test_fillpoly_of_the_rounded_polygon_reproduces_the_mask(mask, tolerance):
    outer = trace(mask, tolerance=tolerance)[0].outer
    assert iou(fill(outer, mask.shape), mask) > 0.97
    if tolerance == 0:
        assert iou(fill(outer, mask.shape), mask) == 1.0


@pytest.mark.parametrize("tolerance", [0.5, 1.4, 3.0])
def test_every_simplified_vertex_lies_on_the_boundary_within_tolerance(tolerance):
    outer = trace(disc(r=40), tolerance=tolerance)[0].outer
    distance = np.linalg.norm(outer - (50, 50), axis=1)
    # approxPolyDP keeps vertices of the traced boundary: pixel centres at most 1 px inside the true circle.
    assert np.all(distance <= 40.0)
    assert np.all(distance >= 39.0)


def test_a_larger_tolerance_gives_fewer_vertices():
    counts = [len(trace(disc(r=40), tolerance=t)[0].outer) for t in (0.0, 0.5, 1.4, 3.0)]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] > counts[-1]


def boundary_distances(mask, polygon):
    """Distance from every traced boundary pixel centre to the closed polygon's edges."""
    contour = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0][0]
    poly = polygon.astype(np.float32).reshape(-1, 1, 2)
    return np.array([abs(cv2.pointPolygonTest(poly, (float(x), float(y)), True)) for x, y in contour.reshape(-1, 2)])


@pytest.mark.parametrize("r", [4, 6, 9])
def test_a_small_object_keeps_98_percent_of_its_area_where_plain_douglas_peucker_would_not(r):
    mask = disc(r=r)
    plain = trace(mask, tolerance=1.4, min_fidelity=0)[0].outer
    kept = trace(mask, tolerance=1.4)[0].outer
    assert iou(fill(plain, mask.shape), mask) < 0.98  # what the fidelity bound is for
    assert iou(fill(kept, mask.shape), mask) >= 0.98
    assert len(kept) > len(plain)


@pytest.mark.parametrize("r", [4, 9, 40])
def test_the_fidelity_bound_never_exceeds_the_tolerance(r):
    mask = disc(r=r)
    outer = trace(mask, tolerance=1.4)[0].outer
    assert boundary_distances(mask, outer).max() <= 1.4


def test_a_large_object_is_simplified_as_plain_douglas_peucker():
    mask = disc(r=40)
    plain = trace(mask, tolerance=1.4, min_fidelity=0)[0].outer
    assert np.array_equal(trace(mask, tolerance=1.4)[0].outer, plain)
    assert np.array_equal(
        plain,
        cv2.approxPolyDP(cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0][0], 1.4, True).reshape(
            -1, 2
        ),
    )


def test_simplify_with_a_huge_tolerance_still_gives_a_faithful_polygon():
    mask = disc(r=12)
    outer = simplify(cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0][0], 50.0)
    assert iou(fill(outer, mask.shape), mask) >= 0.98


# --- holes ------------------------------------------------------------------------------------------------------


def test_a_hole_gives_one_part_with_one_hole_around_it():
    mask = rectangle()  # x 10 .. 29, y 5 .. 14
    mask[8:12, 15:20] = 0  # hole: x 15 .. 19, y 8 .. 11 (20 px)
    parts = trace(mask, tolerance=0)

    assert len(parts) == 1
    assert len(parts[0].holes) == 1
    assert parts[0].area == 200 - 20
    hole = parts[0].holes[0]
    xs, ys = hole[:, 0].astype(int), hole[:, 1].astype(int)
    # OpenCV traces a hole through the centres of the foreground pixels that ring it ...
    assert np.all(mask[ys, xs] == 1)
    assert np.all((xs >= 14) & (xs <= 20) & (ys >= 7) & (ys <= 12))
    # ... and goes all the way round.
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (14, 20, 7, 12)


def test_a_simplified_hole_still_surrounds_the_hole():
    mask = rectangle()
    mask[8:12, 15:20] = 0
    hole = trace(mask, tolerance=1.4)[0].holes[0]
    assert 3 <= len(hole) <= 8
    inside = fill(hole, mask.shape)
    assert inside[8:12, 15:20].all()  # the hole's pixels lie inside its polygon


def test_holes_belong_to_their_own_part():
    mask = np.zeros((40, 80), np.uint8)
    mask[5:35, 5:35] = 1
    mask[15:20, 15:20] = 0  # hole in the left square
    mask[5:25, 50:70] = 1  # right square, no hole, smaller
    left, right = trace(mask, tolerance=1.4)
    assert len(left.holes) == 1 and right.holes == ()
    assert np.all(left.holes[0][:, 0] < 35)


@pytest.mark.parametrize(("min_hole_area", "n_holes"), [(0, 1), (1, 1), (2, 0), (4, 0)])
def test_min_hole_area_fills_a_one_pixel_hole(min_hole_area, n_holes):
    mask = rectangle()
    mask[10, 20] = 0
    part = trace(mask, min_hole_area=min_hole_area)[0]
    assert len(part.holes) == n_holes
    assert part.area == 200 - n_holes


# --- several parts ----------------------------------------------------------------------------------------------


def test_two_parts_come_largest_first_with_their_areas():
    mask = np.zeros((50, 60), np.uint8)
    mask[30:40, 40:50] = 1  # 100 px, drawn first and lower down
    mask[5:20, 5:25] = 1  # 300 px
    parts = trace(mask, tolerance=1.4)

    assert [p.area for p in parts] == [300, 100]
    assert sorted(map(tuple, parts[0].outer.tolist())) == [(5, 5), (5, 19), (24, 5), (24, 19)]
    assert sorted(map(tuple, parts[1].outer.tolist())) == [(40, 30), (40, 39), (49, 30), (49, 39)]
    assert all(isinstance(p, Part) for p in parts)


def test_diagonal_neighbours_are_one_part():
    mask = np.zeros((20, 20), np.uint8)
    mask[2:8, 2:8] = 1
    mask[8:14, 8:14] = 1  # touches the first square only at a corner
    parts = trace(mask)
    assert len(parts) == 1
    assert parts[0].area == 72


def test_a_speck_below_five_percent_of_the_largest_part_is_dropped():
    mask = np.zeros((50, 60), np.uint8)
    mask[5:25, 5:25] = 1  # 400 px
    mask[40:43, 40:43] = 1  # 9 px: 2.25 %, dropped
    mask[40:45, 50:55] = 1  # 25 px: 6.25 %, kept
    parts = trace(mask)
    assert [p.area for p in parts] == [400, 25]
    assert parts[1].outer[:, 0].min() == 50


def test_min_part_fraction_zero_keeps_every_speck():
    mask = np.zeros((50, 60), np.uint8)
    mask[5:25, 5:25] = 1
    mask[40, 40] = 1
    assert [p.area for p in trace(mask, min_part_fraction=0.0)] == [400, 1]


def test_a_single_pixel_part_gives_a_one_vertex_polygon():
    mask = np.zeros((5, 5), np.uint8)
    mask[2, 3] = 1
    (part,) = trace(mask)
    assert part.outer.tolist() == [[3.0, 2.0]]
    assert part.area == 1


# --- offset, empty, bad tolerance -------------------------------------------------------------------------------


def test_offset_shifts_every_vertex():
    mask = rectangle()
    mask[8:12, 15:20] = 0
    plain = trace(mask, tolerance=0)[0]
    shifted = trace(mask, tolerance=0, offset=(100, 50))[0]
    assert np.array_equal(shifted.outer, plain.outer + (100, 50))
    assert np.array_equal(shifted.holes[0], plain.holes[0] + (100, 50))
    assert shifted.area == plain.area


@pytest.mark.parametrize("mask", [np.zeros((30, 40), np.uint8), np.zeros((30, 40), bool), np.zeros((1, 1), bool)])
def test_an_empty_mask_gives_no_parts(mask):
    assert trace(mask) == []


def test_a_bool_mask_traces_like_a_uint8_one():
    mask = rectangle()
    assert np.array_equal(trace(mask.astype(bool))[0].outer, trace(mask)[0].outer)


@pytest.mark.parametrize("tolerance", [-0.1, -5, float("nan"), float("inf")])
def test_a_negative_or_non_finite_tolerance_raises(tolerance):
    with pytest.raises(ValueError, match=r"tolerance must be a finite number >= 0"):
        trace(rectangle(), tolerance=tolerance)


# --- clean_mask -------------------------------------------------------------------------------------------------


def test_clean_mask_drops_a_small_part_and_keeps_the_shape():
    mask = np.zeros((50, 60), np.uint8)
    mask[5:25, 5:25] = 1
    mask[40:42, 40:42] = 1  # 4 px: 1 % of 400
    out = clean_mask(mask)
    assert out.shape == (50, 60)
    assert out.dtype == bool
    assert not out[40:42, 40:42].any()
    assert out[5:25, 5:25].all()
    assert out.sum() == 400


def test_clean_mask_fills_a_small_hole_but_not_a_large_one():
    mask = rectangle(x0=5, y0=5, x1=44, y1=34, shape=(40, 50))
    mask[10, 10] = 0  # 1 px hole: filled
    mask[20:23, 30:33] = 0  # 9 px hole: kept
    out = clean_mask(mask, min_hole_area=4)
    assert out[10, 10]
    assert not out[20:23, 30:33].any()
    assert out.sum() == 40 * 30 - 9


def test_clean_mask_keeps_a_small_part_that_holds_a_positive_click():
    mask = np.zeros((50, 60), np.uint8)
    mask[5:25, 5:25] = 1
    mask[40:42, 40:42] = 1  # 1 % of the large part: dropped unless clicked
    mask[45:47, 5:7] = 1  # another small part, not clicked
    out = clean_mask(mask, keep_parts_at=np.array([[41.2, 40.8], [-3, 70], [55, 10]]))  # x, y; two off the part
    assert out[40:42, 40:42].all()
    assert not out[45:47, 5:7].any()
    assert out.sum() == 400 + 4


def test_clean_mask_keeps_a_small_hole_that_holds_a_negative_click():
    mask = rectangle(x0=5, y0=5, x1=44, y1=34, shape=(40, 50))
    mask[10, 10] = 0
    mask[20, 20] = 0
    out = clean_mask(mask, min_hole_area=4, keep_holes_at=np.array([[20, 20], [100, 100]]))
    assert out[10, 10]  # not clicked: filled
    assert not out[20, 20]
    assert out.sum() == 40 * 30 - 1


def test_clean_mask_does_not_fill_background_touching_the_border():
    mask = np.ones((10, 10), np.uint8)
    mask[0, 4] = 0  # a 1-px notch open to the image border is not a hole
    mask[5, 0] = 0
    out = clean_mask(mask, min_hole_area=4)
    assert not out[0, 4] and not out[5, 0]
    assert out.sum() == 98


def test_clean_mask_of_an_empty_mask_is_empty():
    out = clean_mask(np.zeros((7, 9), np.uint8))
    assert out.shape == (7, 9) and out.dtype == bool and not out.any()


def test_clean_mask_rejects_a_3d_mask():
    with pytest.raises(ValueError, match=r"mask must be 2-D \(H, W\), got shape \(4, 4, 3\)"):
        clean_mask(np.ones((4, 4, 3), np.uint8))

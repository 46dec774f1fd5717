"""Tests for the training-sample helpers in ``training/samples.py``.

``extreme_points`` is checked on hand-drawn masks whose extreme pixels are known, including how it breaks ties;
``make_sample`` is checked for shapes, dtypes, determinism without a random generator, the four extreme-point
discs in the point channel, the box-only prompt, and a target that matches the object.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from polyseg.crop import CropWindow
from samples import QUALITY, Augment, extreme_points, make_sample, parse_source_weights, sampling_probabilities

# --- helpers ----------------------------------------------------------------------------------------------------


def plus_mask(size: int = 21) -> np.ndarray:
    """A plus sign: a horizontal bar (rows 8..12, columns 2..18) and a vertical bar (rows 2..18, columns 8..12).

    Each extreme is shared by five tied pixels: e.g. the left-most column 2 holds rows 8..12.
    """
    mask = np.zeros((size, size), bool)
    mask[8:13, 2:19] = True
    mask[2:19, 8:13] = True
    return mask


def diamond_mask() -> np.ndarray:
    """A diamond with a single pixel at each extreme: left (3, 10), top (10, 4), right (17, 10), bottom (10, 16)."""
    mask = np.zeros((21, 21), np.uint8)
    cv2.fillPoly(mask, [np.array([[3, 10], [10, 4], [17, 10], [10, 16]], np.int32)], 1)
    return mask.astype(bool)


def disc_scene(height: int = 100, width: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """A noisy RGB image and a uint8 (0/255) mask of a disc of radius 30 in its middle."""
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), np.uint8)
    cv2.circle(mask, (width // 2, height // 2), 30, 255, thickness=-1)
    return image, mask


def blobs(channel: np.ndarray) -> tuple[int, np.ndarray]:
    """Number of separate discs in a point channel, and their centroids as (x, y)."""
    n, _, _, centroids = cv2.connectedComponentsWithStats((channel > 0).astype(np.uint8), connectivity=8)
    return n - 1, centroids[1:]


# --- extreme_points ---------------------------------------------------------------------------------------------


def test_extreme_points_of_a_diamond_are_its_corners():
    points = extreme_points(diamond_mask())

    assert points.shape == (4, 2)
    assert points.dtype == np.float64
    np.testing.assert_array_equal(points, [[3, 10], [10, 4], [17, 10], [10, 16]])


def test_extreme_points_without_rng_take_the_middle_of_tied_pixels():
    points = extreme_points(plus_mask())

    # Order: left, top, right, bottom, each (x, y); ties span 8..12 so the middle one is 10.
    np.testing.assert_array_equal(points, [[2, 10], [10, 2], [18, 10], [10, 18]])


def test_extreme_points_without_rng_on_an_even_number_of_ties():
    mask = np.zeros((10, 10), bool)
    mask[2:6, 3:8] = True  # rows 2..5 tie on the left and right, columns 3..7 at the top and bottom

    points = extreme_points(mask)

    np.testing.assert_array_equal(points, [[3, 4], [5, 2], [7, 4], [5, 5]])  # 4 tied rows 2..5 -> index 2 -> row 4


def test_extreme_points_with_rng_pick_among_the_tied_pixels():
    rng = np.random.default_rng(1)
    picks = np.stack([extreme_points(plus_mask(), rng) for _ in range(40)])

    # The extreme coordinate itself never moves ...
    np.testing.assert_array_equal(picks[:, 0, 0], 2)  # left x
    np.testing.assert_array_equal(picks[:, 1, 1], 2)  # top y
    np.testing.assert_array_equal(picks[:, 2, 0], 18)  # right x
    np.testing.assert_array_equal(picks[:, 3, 1], 18)  # bottom y
    # ... while the other one is drawn from the tied pixels 8..12, and not always the middle one.
    tied = np.stack([picks[:, 0, 1], picks[:, 1, 0], picks[:, 2, 1], picks[:, 3, 0]])
    assert set(np.unique(tied)) <= set(range(8, 13))
    assert len(np.unique(tied)) > 1
    assert plus_mask()[picks[..., 1].astype(int), picks[..., 0].astype(int)].all()  # every pick is on the mask


# --- make_sample ------------------------------------------------------------------------------------------------


def test_make_sample_without_rng_is_deterministic_with_the_documented_layout():
    image, mask = disc_scene()

    first = make_sample(image, mask, None)
    second = make_sample(image, mask, None)

    assert first is not None
    x, y = first
    assert x.shape == (4, 128, 128) and x.dtype == np.float32
    assert y.shape == (128, 128) and y.dtype == np.float32
    assert set(np.unique(y)) == {0.0, 1.0}
    assert set(np.unique(x[3])) == {0.0, 255.0}
    np.testing.assert_array_equal(x, second[0])
    np.testing.assert_array_equal(y, second[1])


def test_make_sample_draws_four_discs_at_the_extreme_points():
    image, mask = disc_scene()

    x, _ = make_sample(image, mask, None)

    count, centroids = blobs(x[3])
    assert count == 4
    # The discs sit where the window maps the (middle tie-break) extreme points of the mask.
    points = extreme_points(mask > 127)
    window = CropWindow.from_box(np.concatenate([points.min(0), points.max(0)]), size=128, margin=0.1)
    expected = window.to_input(points)
    order = [int(np.argmin(np.linalg.norm(centroids - p, axis=1))) for p in expected]
    assert sorted(order) == [0, 1, 2, 3]
    np.testing.assert_allclose(centroids[order], expected, atol=1.0)
    np.testing.assert_array_equal(x[:3], window.crop(image).transpose(2, 0, 1))


def test_make_sample_target_covers_a_centred_object():
    image, mask = disc_scene()

    _, y = make_sample(image, mask, None)

    assert 0.3 < y.mean() < 0.9
    assert y[64, 64] == 1.0  # the centre of the disc
    assert y[0, 0] == 0.0 and y[-1, -1] == 0.0  # the window's margin corners are background


def test_make_sample_box_only_prompt_has_an_empty_point_channel():
    image, mask = disc_scene()
    rng = np.random.default_rng(3)

    for _ in range(3):
        sample = make_sample(image, mask, rng, Augment(box_only=1.0))
        assert sample is not None
        x, y = sample
        assert x.shape == (4, 128, 128) and x.dtype == np.float32
        assert not x[3].any()
        assert x[:3].any()
        assert set(np.unique(y)) <= {0.0, 1.0}
        assert y.mean() > 0.3


def test_make_sample_with_rng_and_no_box_only_keeps_four_discs():
    image, mask = disc_scene()
    rng = np.random.default_rng(4)
    aug = Augment(box_only=0.0, rotate=0.0)

    x, y = make_sample(image, mask, rng, aug)

    assert blobs(x[3])[0] == 4
    assert y.mean() > 0.3


@pytest.mark.parametrize("pixels", [0, 3])
def test_make_sample_returns_none_for_a_vanishing_object(pixels):
    image, _ = disc_scene()
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[50, 60 : 60 + pixels] = 255

    assert make_sample(image, mask, None) is None


# --- how often each data set's objects are drawn ------------------------------------------------------------------


def test_quality_augmentation_degrades_the_rgb_crop_and_keeps_points_and_target():
    image, mask = disc_scene()
    always = Augment(flip=0, rotate=0, click_sigma=0, click_rel=0, margin=(0.1, 0.1), box_only=0, colour=0,
                     blur=1.0, min_scale=0.3, jpeg=1.0, sharpen=0.0)
    plain = Augment(flip=0, rotate=0, click_sigma=0, click_rel=0, margin=(0.1, 0.1), box_only=0, colour=0)

    x_plain, y_plain = make_sample(image, mask, np.random.default_rng(1), plain)
    x_deg, y_deg = make_sample(image, mask, np.random.default_rng(1), always)

    assert x_deg.shape == (4, 128, 128) and x_deg.dtype == np.float32
    np.testing.assert_array_equal(x_deg[3], x_plain[3])  # the point channel is never degraded
    np.testing.assert_array_equal(y_deg, y_plain)
    # noise loses detail: a blurred or re-compressed random texture has much less high-frequency energy
    grad = lambda x: np.abs(np.diff(x[:3], axis=2)).mean()
    assert grad(x_deg) < 0.8 * grad(x_plain)
    assert 0 <= x_deg[:3].min() and x_deg[:3].max() <= 255


def test_weights_2_augmentation_turns_every_image_quality_change_on():
    assert QUALITY.blur > 0 and QUALITY.jpeg > 0 and QUALITY.sharpen > 0
    assert Augment().blur == Augment().jpeg == Augment().sharpen == 0  # the 1.x recipe is unchanged


def test_source_weights_parse_name_equals_weight():
    assert parse_source_weights(["otonom=0.33", "adas=2"]) == {"otonom": 0.33, "adas": 2.0}
    assert parse_source_weights(None) == {}


@pytest.mark.parametrize("item", ["adas", "adas=", "=2", "adas=two", "adas=-1"])
def test_a_malformed_source_weight_is_refused_with_the_expected_form(item):
    with pytest.raises(SystemExit, match=r"--source-weight wants NAME=WEIGHT with WEIGHT >= 0, got"):
        parse_source_weights([item])


def test_sampling_probabilities_scale_each_object_by_its_sources_weight():
    p = sampling_probabilities(["camvid", "adas", "adas", "otonom"], {"adas": 2.0, "otonom": 0.5})
    assert np.allclose(p, np.array([1.0, 2.0, 2.0, 0.5]) / 5.5)


def test_objects_seen_in_several_pieces_can_be_drawn_more_often():
    several = np.array([False, True, False])
    p = sampling_probabilities(["camvid", "camvid", "adas"], {"adas": 2.0}, several, piece_weight=3.0)
    assert np.allclose(p, np.array([1.0, 3.0, 2.0]) / 6.0)  # the source's weight times the pieces' weight
    assert np.allclose(sampling_probabilities(["camvid", "camvid"], {}, several[:2], 3.0), [0.25, 0.75])
    with pytest.raises(SystemExit, match="--piece-weight must be >= 0"):
        sampling_probabilities(["camvid"], {}, several[:1], -1.0)


def test_no_weights_or_all_ones_keep_the_plain_shuffled_pass():
    assert sampling_probabilities(["camvid", "adas"], {}) is None
    assert sampling_probabilities(["camvid", "adas"], {"adas": 1.0}) is None


def test_a_weight_for_a_missing_data_set_is_refused():
    with pytest.raises(SystemExit, match=r"names \['cityscapes'\], not among the sources \['adas', 'camvid'\]"):
        sampling_probabilities(["camvid", "adas"], {"cityscapes": 2.0})


def test_weights_that_leave_nothing_are_refused():
    with pytest.raises(SystemExit, match="leaves no object"):
        sampling_probabilities(["camvid"], {"camvid": 0.0})

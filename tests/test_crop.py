"""Tests for :mod:`polyseg.crop`: the crop window, the point channel and the network input.

The crop window is the single place where image geometry meets network geometry, so these tests pin its
conventions with hand-computed numbers:

- points are (x, y) in pixel-centre coordinates: (0, 0) is the centre of the top-left pixel;
- a window is a whole-pixel rectangle ``[x0, x0 + width) x [y0, y0 + height)`` that may reach past the image
  border, where it is padded with zeros (never shifted back inside);
- ``to_input`` / ``to_image`` map points between the image and the ``size x size`` input and are inverses.

Examples
--------
>>> window = CropWindow.from_box((10, 20, 29, 59), margin=0.1, min_margin=3)
>>> window
CropWindow(x0=7, y0=16, width=26, height=48, size=128)
"""

import cv2
import numpy as np
import pytest

from polyseg.crop import INPUT_SIZE, CropWindow, network_input, render_points

# --- CropWindow.from_box ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("box", "margin", "min_margin", "expected"),
    [
        # Box 20 px wide, 40 px tall. x: 10% of 20 = 2 < 3, so min_margin wins: columns 7 .. 32 (26 px).
        # y: 10% of 40 = 4 > 3: rows 16 .. 63 (48 px).
        ((10, 20, 29, 59), 0.1, 3, CropWindow(x0=7, y0=16, width=26, height=48)),
        # No margin at all: the window is exactly the box's pixels, columns 10 .. 29 and rows 20 .. 59.
        ((10, 20, 29, 59), 0.0, 0, CropWindow(x0=10, y0=20, width=20, height=40)),
        # Per-side margins (left, top, right, bottom) as fractions of the side: 20 * 0.5 = 10 px on the left,
        # 40 * 0.25 = 10 px on top, nothing on the right or bottom.
        ((10, 20, 29, 59), (0.5, 0.25, 0.0, 0.0), 0, CropWindow(x0=0, y0=10, width=30, height=50)),
        # A box touching the top-left corner: the window starts at -3, it is not shifted to 0.
        ((0, 0, 19, 19), 0.1, 3, CropWindow(x0=-3, y0=-3, width=26, height=26)),
    ],
)
def test_from_box_adds_the_margin_computed_by_hand(box, margin, min_margin, expected):
    assert CropWindow.from_box(np.array(box), margin=margin, min_margin=min_margin) == expected


def test_from_box_keeps_the_requested_input_size():
    window = CropWindow.from_box((10, 20, 29, 59), size=64)
    assert window.size == 64
    assert window.scale == pytest.approx((64 / 26, 64 / 48))


# --- point mapping ----------------------------------------------------------------------------------------------

WINDOWS = [
    CropWindow(x0=7, y0=16, width=26, height=48),  # enlarged, different scale per axis
    CropWindow(x0=-3, y0=-5, width=26, height=26),  # reaches past the top-left border
    CropWindow(x0=100, y0=40, width=256, height=256),  # shrunk by 2
    CropWindow(x0=3, y0=9, width=300, height=77, size=64),  # another input size
]


@pytest.mark.parametrize("window", WINDOWS)
def test_to_image_inverts_to_input(window):
    rng = np.random.default_rng(0)
    points = rng.uniform(-20, 400, size=(50, 2))
    assert np.allclose(window.to_image(window.to_input(points)), points)
    assert np.allclose(window.to_input(window.to_image(points)), points)


@pytest.mark.parametrize("window", WINDOWS)
def test_window_centre_maps_to_input_centre(window):
    image_centre = (window.x0 + (window.width - 1) / 2, window.y0 + (window.height - 1) / 2)
    input_centre = ((window.size - 1) / 2, (window.size - 1) / 2)
    assert np.allclose(window.to_input(image_centre), input_centre)


@pytest.mark.parametrize("window", WINDOWS)
def test_window_edges_map_to_input_edges(window):
    # Corner coordinates: the window's left/top edge is at x0 - 0.5, the input's at -0.5; likewise right/bottom.
    top_left = (window.x0 - 0.5, window.y0 - 0.5)
    bottom_right = (window.x0 + window.width - 0.5, window.y0 + window.height - 0.5)
    assert np.allclose(window.to_input(top_left), (-0.5, -0.5))
    assert np.allclose(window.to_input(bottom_right), (window.size - 0.5, window.size - 0.5))


def test_a_half_scale_window_maps_each_input_pixel_to_a_2x2_block():
    window = CropWindow(x0=100, y0=40, width=256, height=256)
    # Input pixel (0, 0) averages image pixels x 100..101, y 40..41: its centre is between them.
    assert np.allclose(window.to_input((100.5, 40.5)), (0.0, 0.0))
    assert np.allclose(window.to_image((1.0, 2.0)), (102.5, 44.5))


def test_a_window_of_input_size_is_a_plain_slice():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(200, 300, 3), dtype=np.uint8)
    x0, y0 = 37, 51
    window = CropWindow(x0=x0, y0=y0, width=INPUT_SIZE, height=INPUT_SIZE)

    assert np.allclose(window.to_input((x0, y0)), (0.0, 0.0))
    assert np.allclose(window.to_input((x0 + 10.25, y0 + 3.5)), (10.25, 3.5))
    assert np.array_equal(window.crop(image), image[y0 : y0 + INPUT_SIZE, x0 : x0 + INPUT_SIZE])


# --- crop -------------------------------------------------------------------------------------------------------


def test_crop_pads_with_zeros_past_the_border_instead_of_shifting():
    rng = np.random.default_rng(2)
    image = rng.integers(1, 256, size=(100, 100), dtype=np.uint8)  # no zero pixels
    window = CropWindow(x0=-10, y0=-6, width=INPUT_SIZE, height=INPUT_SIZE)

    out = window.crop(image)

    assert np.all(out[:6, :] == 0)  # above the image
    assert np.all(out[:, :10] == 0)  # left of it
    assert np.all(out[106:, :] == 0)  # below it (the image has 100 rows)
    assert np.all(out[:, 110:] == 0)  # right of it
    assert np.array_equal(out[6:106, 10:110], image)  # the image itself, unshifted


def test_crop_puts_the_border_where_to_input_says_when_resizing():
    image = np.full((40, 40), 255, np.uint8)
    window = CropWindow.from_box((0, 0, 19, 19))  # x0 = y0 = -3, 26 px enlarged to 128
    out = window.crop(image)
    row = out[64].astype(float)

    # The image's left edge (x = -0.5) lands at input x = 3 * 128 / 26 - 0.5; the bilinear step from 0 to 255
    # crosses its half-way value there.
    edge = window.to_input((-0.5, -0.5))[0]
    first_bright = int(np.argmax(row > 127.5))
    crossing = first_bright - 1 + (127.5 - row[first_bright - 1]) / (row[first_bright] - row[first_bright - 1])
    assert crossing == pytest.approx(edge, abs=0.25)
    assert np.all(out[:, : int(edge) - 2] == 0)
    assert np.all(out[int(edge) + 3 :, int(edge) + 3 :] == 255)


@pytest.mark.parametrize(
    ("image", "expected_shape"),
    [
        (np.zeros((60, 80), dtype=np.uint8), (INPUT_SIZE, INPUT_SIZE)),
        (np.zeros((60, 80), dtype=np.float32), (INPUT_SIZE, INPUT_SIZE)),
        (np.zeros((60, 80, 3), dtype=np.uint8), (INPUT_SIZE, INPUT_SIZE, 3)),
    ],
)
def test_crop_shape_and_dtype(image, expected_shape):
    window = CropWindow(x0=5, y0=7, width=30, height=20)
    out = window.crop(image)
    assert out.shape == expected_shape
    assert out.dtype == image.dtype


def test_crop_of_a_mask_keeps_the_object_at_its_mapped_place():
    mask = np.zeros((60, 80), np.uint8)
    mask[20:40, 30:50] = 1  # pixels x 30..49, y 20..39
    window = CropWindow(x0=26, y0=16, width=32, height=32)  # scale 4
    out = window.crop(mask, interpolation=cv2.INTER_NEAREST)
    ys, xs = np.nonzero(out)
    # Pixel 30 is window pixel 30 - 26 = 4, i.e. input pixels 16 .. 19; pixel 49 is window pixel 23, i.e. input
    # pixels 92 .. 95. The same holds along y (20 - 16 = 4).
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (16, 95, 16, 95)
    assert np.allclose(window.to_input((30, 20)), (17.5, 17.5))  # centre of input pixels 16 .. 19


def test_crop_of_a_colour_image_keeps_each_channel():
    image = np.zeros((50, 50, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 10, 120, 250
    out = CropWindow(x0=5, y0=5, width=40, height=40).crop(image)
    assert out.shape == (INPUT_SIZE, INPUT_SIZE, 3)
    assert np.all(out[..., 0] == 10) and np.all(out[..., 1] == 120) and np.all(out[..., 2] == 250)


def test_uncrop_of_crop_recovers_a_smooth_image():
    ys, xs = np.mgrid[:300, :320].astype(np.float32)
    image = 100 + 50 * np.sin(2 * np.pi * xs / 64) * np.cos(2 * np.pi * ys / 80)
    window = CropWindow(x0=20, y0=10, width=256, height=256)  # scale 0.5

    back = window.uncrop(window.crop(image))
    reference = image[10:266, 20:276]

    assert back.shape == (256, 256)
    error = np.abs(back - reference)
    # Half a pixel of misalignment would cost up to ~2.4 here (half the largest step between neighbours).
    assert error[2:-2, 2:-2].max() < 0.6
    assert error.mean() < 0.3


def test_uncrop_returns_the_window_shape():
    window = CropWindow(x0=0, y0=0, width=37, height=91)
    assert window.uncrop(np.zeros((INPUT_SIZE, INPUT_SIZE), np.float32)).shape == (91, 37)


# --- clip -------------------------------------------------------------------------------------------------------


def test_clip_inside():
    assert CropWindow(x0=2, y0=3, width=4, height=5).clip(height=20, width=20) == (
        slice(3, 8),
        slice(2, 6),
        slice(0, 5),
        slice(0, 4),
    )


def test_clip_partly_outside():
    window = CropWindow(x0=-5, y0=-3, width=20, height=10)  # columns -5 .. 14, rows -3 .. 6
    rows, cols, wrows, wcols = window.clip(height=8, width=12)
    assert (rows, cols) == (slice(0, 7), slice(0, 12))
    assert (wrows, wcols) == (slice(3, 10), slice(5, 17))
    # Both pairs of slices cut out arrays of the same shape.
    assert np.zeros((8, 12))[rows, cols].shape == np.zeros((10, 20))[wrows, wcols].shape == (7, 12)


@pytest.mark.parametrize(
    "window",
    [
        CropWindow(x0=20, y0=0, width=5, height=5),  # right of a 12-px-wide image
        CropWindow(x0=-30, y0=-30, width=10, height=10),  # above and left of it
        CropWindow(x0=0, y0=8, width=5, height=5),  # below it
    ],
)
def test_clip_wholly_outside_gives_empty_slices_and_a_black_crop(window):
    image = np.full((8, 12), 255, np.uint8)
    rows, cols, wrows, wcols = window.clip(height=8, width=12)
    assert image[rows, cols].size == 0
    assert np.zeros((window.height, window.width))[wrows, wcols].size == 0
    assert not window.crop(image).any()


# --- render_points ----------------------------------------------------------------------------------------------

POINTS = np.array([[20.3, 40.7], [64.0, 64.0], [10.5, 100.25], [110.0, 15.5]])


def test_render_points_draws_a_disc_centred_on_each_point():
    channel = render_points(POINTS, radius=3)
    n, labels, _, centroids = cv2.connectedComponentsWithStats(channel)
    assert n - 1 == len(POINTS)
    for point in POINTS:
        label = labels[round(point[1]), round(point[0])]
        assert label > 0
        assert np.linalg.norm(centroids[label] - point) < 0.5


@pytest.mark.parametrize("radius", [2.0, 3.0, 5.0, 8.0, 12.0])
def test_render_points_honours_the_radius(radius):
    """``cv2.circle`` rasterises a disc of radius r (sub-pixel centre) into between pi r^2 and pi (r + 1)^2 pixels."""
    for point in POINTS:
        area = np.count_nonzero(render_points(point[None], radius=radius))
        assert np.pi * radius**2 <= area <= np.pi * (radius + 1) ** 2, (point, area)


def test_render_points_a_bigger_radius_gives_a_bigger_disc():
    areas = [np.count_nonzero(render_points(POINTS[:1], radius=r)) for r in (2, 4, 8)]
    assert areas[0] < areas[1] < areas[2]


def test_render_points_values_and_dtype():
    channel = render_points(POINTS, size=96)
    assert channel.shape == (96, 96)
    assert channel.dtype == np.uint8
    assert set(np.unique(channel).tolist()) == {0, 255}


@pytest.mark.parametrize("points", [None, np.zeros((0, 2))])
def test_render_points_without_points_is_empty(points):
    channel = render_points(points)
    assert channel.shape == (INPUT_SIZE, INPUT_SIZE)
    assert channel.dtype == np.uint8
    assert not channel.any()


# --- network_input ----------------------------------------------------------------------------------------------


def _rgb_planes(height=60, width=80, rgb=(10, 120, 250)):
    image = np.empty((height, width, 3), np.uint8)
    image[...] = rgb
    return image


def test_network_input_layout_is_r_g_b_then_points():
    image = _rgb_planes()
    window = CropWindow.from_box((20, 10, 59, 49))
    points = np.array([[20, 30], [40, 10], [59, 25], [35, 49]], float)

    x = network_input(image, window, points)

    assert x.shape == (4, INPUT_SIZE, INPUT_SIZE)
    assert x.dtype == np.float32
    assert np.all(x[0] == 10) and np.all(x[1] == 120) and np.all(x[2] == 250)
    assert set(np.unique(x[3]).tolist()) == {0.0, 255.0}
    for px, py in window.to_input(points):
        assert x[3, round(py), round(px)] == 255


def test_network_input_point_channel_matches_render_points():
    image = _rgb_planes()
    window = CropWindow.from_box((20, 10, 59, 49))
    points = np.array([[20, 30], [40, 10], [59, 25], [35, 49]], float)
    x = network_input(image, window, points, radius=5)
    assert np.array_equal(x[3], render_points(window.to_input(points), radius=5).astype(np.float32))


def test_network_input_for_a_box_prompt_has_an_empty_point_channel():
    x = network_input(_rgb_planes(), CropWindow.from_box((20, 10, 59, 49)), None)
    assert x.shape == (4, INPUT_SIZE, INPUT_SIZE)
    assert not x[3].any()
    assert np.all(x[1] == 120)


def test_an_area_resize_of_a_window_thinner_than_the_input_works_on_either_side():
    image = np.arange(600 * 90, dtype=np.float32).reshape(90, 600)
    for window in (CropWindow(0, 0, 600, 90), CropWindow(0, 0, 90, 600)):
        src = image if window.width == 600 else image.T
        out = window.crop(src, cv2.INTER_AREA)
        assert out.shape == (window.size, window.size)
        assert abs(float(out.mean()) - float(src.mean())) < 0.01 * float(src.mean())


def test_contains_takes_a_window_pixel_as_the_half_open_square_around_its_centre():
    window = CropWindow(10, 20, 5, 4)  # columns 10-14, rows 20-23
    points = [(10, 20), (14, 23), (9.5, 19.5), (14.49, 23.49), (14.5, 22), (12, 23.5), (9.49, 21)]
    assert window.contains(points).tolist() == [True, True, True, True, False, False, False]
    assert window.contains(np.zeros((0, 2))).shape == (0,)

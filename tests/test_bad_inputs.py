"""One test per bad input: each must raise a clear ``TypeError`` / ``ValueError`` (or ``FileNotFoundError``,
``RuntimeError``) whose message says what was expected and what came.

Every case is checked twice: on the pure checking functions of :mod:`polyseg.prompt`, and through the public API
(``Segmenter.polygon`` / ``segment`` / ``segment_many``) with the bundled weights, so a check that exists but is
bypassed by the API would be caught. The distinctive part of each message is pinned with
``pytest.raises(..., match=...)``.

A few inputs the API accepts are tested next to the rejected ones: grayscale and RGBA images, BGR with
``image_format="BGR"``, and points a fraction of a pixel outside the image.

Examples
--------
>>> seg.polygon(np.zeros((64, 80, 3), np.float32), points)
Traceback (most recent call last):
TypeError: image must have dtype uint8 (values 0-255), got float32; convert with e.g. ...
"""

import re

import numpy as np
import pytest

from polyseg import Segmenter
from polyseg.prompt import OUTSIDE_TOLERANCE, Prompt, as_rgb_image, check_box, check_points

H, W = 64, 80
#: The object's left-, top-, right- and bottom-most points: a disc of radius 15 centred at (40, 32).
POINTS = [(25, 32), (40, 17), (55, 32), (40, 47)]
BOX = (25, 17, 55, 47)


def make_image():
    """``(64, 80, 3)`` uint8 RGB: a reddish disc on a dark-blue background (R, G, B all differ)."""
    ys, xs = np.mgrid[:H, :W]
    image = np.empty((H, W, 3), np.uint8)
    image[...] = (10, 30, 90)
    image[(xs - 40) ** 2 + (ys - 32) ** 2 <= 15**2] = (220, 120, 40)
    return image


IMAGE = make_image()


@pytest.fixture(scope="module")
def seg():
    # One thread: the bundled network is small, and the test machine is shared.
    with Segmenter.from_pretrained(num_threads=1) as segmenter:
        yield segmenter


# --- images -----------------------------------------------------------------------------------------------------

BAD_IMAGES = [
    pytest.param(IMAGE.tolist(), TypeError, r"image must be a numpy\.ndarray of dtype uint8, got list", id="list"),
    pytest.param(
        IMAGE.astype(np.float32) / 255,
        TypeError,
        r"image must have dtype uint8 \(values 0-255\), got float32",
        id="float32",
    ),
    pytest.param(IMAGE > 100, TypeError, r"image must have dtype uint8 \(values 0-255\), got bool", id="bool"),
    pytest.param(
        IMAGE[:, :, :2],
        ValueError,
        r"image must have shape \(H, W\), \(H, W, 1\), \(H, W, 3\) or \(H, W, 4\), got \(64, 80, 2\)",
        id="two-channels",
    ),
    pytest.param(np.zeros((0, 10, 3), np.uint8), ValueError, r"image is empty: shape \(0, 10, 3\)", id="no-rows"),
    pytest.param(np.zeros((10, 0), np.uint8), ValueError, r"image is empty: shape \(10, 0\)", id="no-columns"),
    pytest.param(IMAGE[None], ValueError, r"image must have shape .* got \(1, 64, 80, 3\)", id="4-d"),
    pytest.param(np.zeros(5, np.uint8), ValueError, r"image must have shape .* got \(5,\)", id="1-d"),
]


@pytest.mark.parametrize(("image", "error", "message"), BAD_IMAGES)
def test_as_rgb_image_rejects(image, error, message):
    with pytest.raises(error, match=message):
        as_rgb_image(image)


@pytest.mark.parametrize(("image", "error", "message"), BAD_IMAGES)
def test_polygon_rejects_the_image(seg, image, error, message):
    with pytest.raises(error, match=message):
        seg.polygon(image, POINTS)


@pytest.mark.parametrize(("image", "error", "message"), BAD_IMAGES)
def test_segment_many_rejects_the_image(seg, image, error, message):
    with pytest.raises(error, match=message):
        seg.segment_many(image, [POINTS, BOX])


@pytest.mark.parametrize("image_format", ["HSV", "bgr", "", None])
def test_an_unknown_image_format_is_rejected(seg, image_format):
    message = re.escape(f"image_format must be 'RGB' or 'BGR', got {image_format!r}")
    with pytest.raises(ValueError, match=message):
        as_rgb_image(IMAGE, image_format)
    with pytest.raises(ValueError, match=message):
        seg.polygon(IMAGE, POINTS, image_format=image_format)
    with pytest.raises(ValueError, match=message):
        seg.segment_many(IMAGE, [POINTS], image_format=image_format)


# --- images that are accepted -----------------------------------------------------------------------------------


def test_as_rgb_image_converts_every_accepted_layout_to_rgb():
    gray = IMAGE[:, :, 0]
    rgba = np.dstack([IMAGE, np.full((H, W), 7, np.uint8)])
    assert np.array_equal(as_rgb_image(gray), np.dstack([gray] * 3))
    assert np.array_equal(as_rgb_image(gray[:, :, None]), np.dstack([gray] * 3))
    assert np.array_equal(as_rgb_image(rgba), IMAGE)
    assert np.array_equal(as_rgb_image(rgba[:, :, [2, 1, 0, 3]], "BGR"), IMAGE)
    assert np.array_equal(as_rgb_image(IMAGE[:, :, ::-1], "BGR"), IMAGE)
    assert as_rgb_image(IMAGE[:, ::-1]).flags["C_CONTIGUOUS"]


@pytest.mark.parametrize(
    "gray",
    [
        pytest.param(np.ascontiguousarray(IMAGE[:, :, 0]), id="(H, W)"),
        pytest.param(IMAGE[:, :, 0], id="(H, W) strided view"),
        pytest.param(IMAGE[:, :, :1], id="(H, W, 1)"),
    ],
)
def test_a_grayscale_image_is_accepted(seg, gray):
    polygon = seg.polygon(gray, POINTS)
    assert polygon.ndim == 2 and polygon.shape[1] == 2 and len(polygon) >= 3
    # It is segmented as the RGB image with the gray value in every channel.
    assert np.allclose(polygon, seg.polygon(np.dstack([IMAGE[:, :, 0]] * 3), POINTS))


def test_an_rgba_image_is_accepted_and_its_alpha_ignored(seg):
    rgba = np.dstack([IMAGE, np.zeros((H, W), np.uint8)])
    polygon = seg.polygon(rgba, POINTS)
    assert polygon.ndim == 2 and polygon.shape[1] == 2 and len(polygon) >= 3
    assert np.allclose(polygon, seg.polygon(IMAGE, POINTS))


def test_a_bgr_image_with_image_format_bgr_gives_the_rgb_result(seg):
    rgb_polygon = seg.polygon(IMAGE, POINTS, image_format="RGB")
    bgr = np.ascontiguousarray(IMAGE[:, :, ::-1])
    assert len(rgb_polygon) >= 3
    assert np.allclose(seg.polygon(bgr, POINTS, image_format="BGR"), rgb_polygon)
    bgra = np.dstack([bgr, np.full((H, W), 255, np.uint8)])
    assert np.allclose(seg.polygon(bgra, POINTS, image_format="BGR"), rgb_polygon)


# --- extreme points ---------------------------------------------------------------------------------------------

OUTSIDE = r"extreme_points lie outside the 80x64 image: expected x in \[0, 79\] and y in \[0, 63\] \(pixel centres\)"

BAD_POINTS = [
    pytest.param(
        POINTS[:3],
        ValueError,
        r"extreme_points must have shape \(4, 2\) as four \(x, y\) pairs, got shape \(3, 2\)",
        id="three-points",
    ),
    pytest.param(
        [p[::-1] + (0,) for p in POINTS],
        ValueError,
        r"must have shape \(4, 2\) .* got shape \(4, 3\)",
        id="x-y-z",
    ),
    pytest.param(
        [(np.nan, 32)] + POINTS[1:],
        ValueError,
        r"extreme_points must be finite numbers, got \[\[nan, 32\.0\]",
        id="nan",
    ),
    pytest.param(
        [(25, 32), (40, np.inf)] + POINTS[2:],
        ValueError,
        r"extreme_points must be finite numbers, got \[\[25\.0, 32\.0\], \[40\.0, inf\]",
        id="inf",
    ),
    pytest.param(
        [(5, 5)] * 4,
        ValueError,
        r"extreme_points are all the same point \[5\.0, 5\.0\]: click the object's four extremes",
        id="all-the-same",
    ),
    pytest.param(
        [(5, 5), (6, 5), (6, 20), (5, 20)],
        ValueError,
        r"extreme_points must span at least 2 px in x and in y, got a span of 1 x 15 px",
        id="narrow-span",
    ),
    pytest.param([(-50, 32)] + POINTS[1:], ValueError, OUTSIDE + r", got \[\[-50\.0, 32\.0\]", id="far-left"),
    pytest.param(POINTS[:2] + [(W + 10, 32), POINTS[3]], ValueError, OUTSIDE + r".*\[90\.0, 32\.0\]", id="far-right"),
    pytest.param(POINTS[:3] + [(40, H + 3)], ValueError, OUTSIDE + r".*\[40\.0, 67\.0\]", id="far-below"),
    pytest.param("25 32 40 17 55 32 40 47", TypeError, r"extreme_points must be numbers, got str", id="string"),
    pytest.param(
        [(25, 32), (40,), (55, 32), (40, 47)],
        TypeError,
        r"extreme_points must be an array-like of numbers, got list",
        id="ragged",
    ),
    pytest.param(
        [("a", "b")] * 4, TypeError, r"extreme_points must be an array-like of numbers, got list", id="letters"
    ),
    pytest.param(
        [(10**400, 32)] + POINTS[1:],
        ValueError,
        r"extreme_points must be finite numbers, got an integer too large for a float",
        id="past-float-range",
    ),
    pytest.param(
        np.array(POINTS) + 1j, TypeError, r"extreme_points must be real numbers, got complex128", id="complex"
    ),
]


@pytest.mark.parametrize(("points", "error", "message"), BAD_POINTS)
def test_check_points_rejects(points, error, message):
    with pytest.raises(error, match=message):
        check_points(points, W, H)


@pytest.mark.parametrize(("points", "error", "message"), BAD_POINTS)
def test_polygon_rejects_the_points(seg, points, error, message):
    with pytest.raises(error, match=message):
        seg.polygon(IMAGE, points)


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        # 0.7 px past the image's outer edge (-0.5 and W - 0.5): clipped onto the border pixels.
        ([(-1.2, 32), (40, -1.2), (W + 0.2, 32), (40, H + 0.2)], [(0, 32), (40, 0), (W - 1, 32), (40, H - 1)]),
        # Exactly OUTSIDE_TOLERANCE past the edge is still accepted.
        ([(-1.5, 32), (40, -1.5), (W + 0.5, 32), (40, H + 0.5)], [(0, 32), (40, 0), (W - 1, 32), (40, H - 1)]),
        # In-range points come back unchanged, as float64.
        (POINTS, POINTS),
    ],
)
def test_points_slightly_outside_are_clipped(points, expected):
    out = check_points(points, W, H)
    assert out.dtype == np.float64
    assert np.array_equal(out, np.array(expected, float))


def test_points_just_beyond_the_tolerance_are_rejected():
    assert OUTSIDE_TOLERANCE == 1.0
    with pytest.raises(ValueError, match=OUTSIDE):
        check_points([(-1.6, 32)] + POINTS[1:], W, H)


def test_polygon_accepts_points_slightly_outside(seg):
    polygon = seg.polygon(IMAGE, [(-1.2, 32), (40, -1.2), (W + 0.2, 32), (40, H + 0.2)])
    assert polygon.ndim == 2 and polygon.shape[1] == 2 and len(polygon) >= 3


# --- boxes ------------------------------------------------------------------------------------------------------

BAD_BOXES = [
    pytest.param(
        (55, 17, 25, 47),
        ValueError,
        r"box must be \(x0, y0, x1, y1\) with x0 <= x1 and y0 <= y1, got \[55\.0, 17\.0, 25\.0, 47\.0\]",
        id="x1-left-of-x0",
    ),
    pytest.param((25, 47, 55, 17), ValueError, r"with x0 <= x1 and y0 <= y1", id="y1-above-y0"),
    pytest.param((25, 17, 55), ValueError, r"box must be 4 numbers \(x0, y0, x1, y1\), got shape \(3,\)", id="three"),
    pytest.param([BOX], ValueError, r"box must be 4 numbers \(x0, y0, x1, y1\), got shape \(1, 4\)", id="nested"),
    pytest.param((25, np.nan, 55, 47), ValueError, r"box must be finite numbers", id="nan"),
    pytest.param(
        (0, 0, W + 20, H - 1),
        ValueError,
        r"box corners lie outside the 80x64 image: expected x in \[0, 79\]",
        id="outside",
    ),
    pytest.param((3, 3, 4, 30), ValueError, r"box must span at least 2 px in x and in y, got 1 x 27 px", id="narrow"),
    pytest.param("25 17 55 47", TypeError, r"box must be numbers, got str", id="string"),
    pytest.param(
        (25, 17, -(10**400), 47), ValueError, r"box must be finite numbers, got an integer too large", id="huge"
    ),
    pytest.param(np.array(BOX, complex), TypeError, r"box must be real numbers, got complex128", id="complex"),
]


@pytest.mark.parametrize(("box", "error", "message"), BAD_BOXES)
def test_check_box_rejects(box, error, message):
    with pytest.raises(error, match=message):
        check_box(box, W, H)


@pytest.mark.parametrize(("box", "error", "message"), BAD_BOXES)
def test_segment_rejects_the_box(seg, box, error, message):
    with pytest.raises(error, match=message):
        seg.segment(IMAGE, box=box)


# --- points or box ----------------------------------------------------------------------------------------------

NEITHER = r"give either extreme_points=\(4, 2\) array of \(x, y\) or box=\(x0, y0, x1, y1\); got neither"
BOTH = r"give either extreme_points or box, not both"


def test_a_prompt_needs_points_or_a_box():
    with pytest.raises(TypeError, match=NEITHER):
        Prompt()
    with pytest.raises(TypeError, match=BOTH):
        Prompt(POINTS, BOX)


def test_a_checked_prompt_keeps_the_points_and_bounds_them_by_their_box():
    prompt = Prompt(extreme_points=POINTS).inside(W, H)
    assert np.array_equal(prompt.extreme_points, np.array(POINTS, float)) and prompt.box is None
    assert np.array_equal(prompt.bounds, [25, 17, 55, 47])
    prompt = Prompt(box=BOX).inside(W, H)
    assert prompt.extreme_points is None
    assert np.array_equal(prompt.bounds, [25, 17, 55, 47])


def test_segment_takes_a_prompt_or_points_and_a_box_not_both(seg):
    with pytest.raises(TypeError, match=r"give either a prompt or extreme_points / box, not both"):
        seg.segment(IMAGE, POINTS, prompt=Prompt(box=BOX))


def test_segment_needs_points_or_a_box(seg):
    with pytest.raises(TypeError, match=NEITHER):
        seg.segment(IMAGE)
    with pytest.raises(TypeError, match=NEITHER):
        seg.polygon(IMAGE)


def test_segment_takes_points_or_a_box_not_both(seg):
    with pytest.raises(TypeError, match=BOTH):
        seg.segment(IMAGE, POINTS, box=BOX)


# --- segment_many -----------------------------------------------------------------------------------------------


def test_segment_many_names_the_bad_prompt(seg):
    with pytest.raises(ValueError, match=r"^prompts\[1\]: extreme_points are all the same point"):
        seg.segment_many(IMAGE, [POINTS, [(5, 5)] * 4, BOX])


def test_segment_many_names_a_bad_box(seg):
    with pytest.raises(ValueError, match=r"^prompts\[2\]: box must be \(x0, y0, x1, y1\) with x0 <= x1"):
        seg.segment_many(IMAGE, [POINTS, BOX, (55, 17, 25, 47)])


@pytest.mark.parametrize(
    ("prompt", "shape"),
    [([(25, 32), (55, 32)], r"\(2, 2\)"), (POINTS[:3], r"\(3, 2\)"), ((1, 2, 3, 4, 5), r"\(5,\)"), ("abcd", r"\(\)")],
)
def test_segment_many_rejects_a_prompt_of_the_wrong_shape(seg, prompt, shape):
    expected = r"^prompts\[1\]: expected \(4, 2\) extreme points or a \(4,\) box, got shape " + shape
    with pytest.raises(ValueError, match=expected):
        seg.segment_many(IMAGE, [BOX, prompt])


def test_segment_many_keeps_the_type_of_error(seg):
    with pytest.raises(TypeError, match=r"^prompts\[0\]: extreme_points must be an array-like of numbers"):
        seg.segment_many(IMAGE, [[("a", "b")] * 4])


@pytest.mark.parametrize("prompts", ["abc", None, 5])
def test_segment_many_needs_a_sequence_of_prompts(seg, prompts):
    with pytest.raises(TypeError, match=r"prompts must be a sequence of \(4, 2\) points or \(4,\) boxes, got "):
        seg.segment_many(IMAGE, prompts)


def test_segment_many_names_a_ragged_prompt(seg):
    with pytest.raises((TypeError, ValueError), match=r"prompts\[1\]"):
        seg.segment_many(IMAGE, [POINTS, [(25, 32), (40,), (55, 32), (40, 47)]])


# --- tolerance --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tolerance", [-1, -0.01, float("nan")])
def test_a_negative_tolerance_is_rejected(seg, tolerance):
    message = r"tolerance must be a finite number >= 0 \(pixels\), got "
    with pytest.raises(ValueError, match=message):
        seg.polygon(IMAGE, POINTS, tolerance=tolerance)
    with pytest.raises(ValueError, match=message):
        seg.segment_many(IMAGE, [POINTS, BOX], tolerance=tolerance)


def test_a_non_numeric_tolerance_is_rejected(seg):
    with pytest.raises(TypeError, match=r"tolerance"):
        seg.polygon(IMAGE, POINTS, tolerance="1.4")


def test_a_tolerance_past_float_range_is_a_value_error(seg):
    message = r"tolerance must be a finite number >= 0 \(pixels\), got an integer too large for a float"
    with pytest.raises(ValueError, match=message):
        seg.polygon(IMAGE, POINTS, tolerance=10**400)


# --- threads ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threads", "error", "message"),
    [
        (1.7, TypeError, r"num_threads must be a whole number of threads, got float 1\.7"),
        (True, TypeError, r"num_threads must be a whole number of threads, got bool True"),
        ("2", TypeError, r"num_threads must be a whole number of threads, got str '2'"),
        (0, ValueError, r"num_threads must be at least 1, got 0"),
    ],
)
def test_num_threads_must_be_a_whole_number(threads, error, message):
    with pytest.raises(error, match=message):
        Segmenter.from_pretrained(num_threads=threads)


# --- weights ----------------------------------------------------------------------------------------------------


def test_missing_weights_name_the_xml(tmp_path):
    path = tmp_path / "nope.xml"
    with pytest.raises(FileNotFoundError, match=re.escape(f"model file not found: {path}")):
        Segmenter.from_pretrained(path)


def test_missing_bin_names_the_bin(tmp_path):
    path = tmp_path / "model.xml"
    path.write_text('<?xml version="1.0"?>\n<net name="x" version="11"></net>\n')
    expected = f"model weights not found: {tmp_path / 'model.bin'} (must lie beside model.xml)"
    with pytest.raises(FileNotFoundError, match=re.escape(expected)):
        Segmenter.from_pretrained(str(path))


def test_a_corrupt_xml_is_a_value_error_naming_the_path(tmp_path):
    path = tmp_path / "model.xml"
    path.write_text("this is not an OpenVINO IR at all")
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=re.escape(f"cannot read the OpenVINO IR {path}: it is corrupt or not an IR")):
        Segmenter.from_pretrained(path)


def test_an_ir_without_inputs_is_a_value_error_naming_the_path(tmp_path):
    path = tmp_path / "model.xml"
    path.write_text('<?xml version="1.0"?>\n<net name="x" version="11"><layers/><edges/></net>\n')
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        Segmenter.from_pretrained(path)


@pytest.mark.parametrize("name", ["model.onnx", "model.bin", "model"])
def test_a_path_that_is_not_an_xml_is_rejected(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=re.escape(f"expected an OpenVINO IR .xml file, got {path}")):
        Segmenter.from_pretrained(path)


# --- lifetime ---------------------------------------------------------------------------------------------------

CLOSED = r"this Segmenter is closed; create a new one with Segmenter\.from_pretrained\(\)"


def test_a_closed_segmenter_refuses_to_work():
    segmenter = Segmenter.from_pretrained(num_threads=1)
    assert len(segmenter.polygon(IMAGE, POINTS)) >= 3
    segmenter.close()
    with pytest.raises(RuntimeError, match=CLOSED):
        segmenter.polygon(IMAGE, POINTS)
    with pytest.raises(RuntimeError, match=CLOSED):
        segmenter.segment_many(IMAGE, [POINTS])
    with pytest.raises(RuntimeError, match=CLOSED):
        _ = segmenter.info


def test_leaving_the_with_block_closes_the_segmenter():
    with Segmenter.from_pretrained(num_threads=1) as segmenter:
        assert segmenter.info.input_size == 128
    with pytest.raises(RuntimeError, match=CLOSED):
        segmenter.segment(IMAGE, box=BOX)

"""Input checking: images, extreme points and boxes.

Every public entry point of polyseg passes its inputs through these functions, so that a bad input raises a
``TypeError`` or ``ValueError`` saying what was expected and what came, instead of failing deep inside OpenCV
or OpenVINO.

Coordinate convention
---------------------
Points and boxes are (x, y) in pixels, in *pixel-centre* coordinates: the centre of the top-left pixel is
(0, 0) and pixel ``(row i, column j)`` covers ``[j - 0.5, j + 0.5) x [i - 0.5, i + 0.5)``. A box
``(x0, y0, x1, y1)`` names the left-, top-, right- and bottom-most pixels of the object (inclusive), just like
the bounding box of its four extreme points.
"""

from __future__ import annotations

from typing import Any, Literal

import cv2
import numpy as np

ImageFormat = Literal["RGB", "BGR"]

#: How far (in pixels) a point may lie outside the image before it is rejected; closer points are clipped.
OUTSIDE_TOLERANCE = 1.0
#: Smallest extent (in pixels) the prompt must span in x and in y.
MIN_SPAN = 2.0


def as_rgb_image(image: Any, image_format: str = "RGB") -> np.ndarray:
    """Check an image and return it as a C-contiguous ``(H, W, 3)`` uint8 RGB array.

    Parameters
    ----------
    image : np.ndarray
        ``(H, W)`` grayscale, ``(H, W, 1)``, ``(H, W, 3)`` colour or ``(H, W, 4)`` colour + alpha, dtype uint8.
    image_format : {"RGB", "BGR"}
        Channel order of a colour image (``cv2.imread`` gives BGR). Alpha is dropped.

    Raises
    ------
    TypeError
        If ``image`` is not a NumPy array or its dtype is not uint8.
    ValueError
        If the image is empty, has the wrong number of dimensions or channels, or ``image_format`` is unknown.
    """
    if image_format not in ("RGB", "BGR"):
        raise ValueError(f"image_format must be 'RGB' or 'BGR', got {image_format!r}")
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy.ndarray of dtype uint8, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(
            f"image must have dtype uint8 (values 0-255), got {image.dtype}; "
            "convert with e.g. np.clip(image * 255, 0, 255).astype(np.uint8)"
        )
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(
            "image must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), " f"got {tuple(image.shape)}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: shape {tuple(image.shape)}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        code = cv2.COLOR_RGBA2RGB if image_format == "RGB" else cv2.COLOR_BGRA2RGB
        return cv2.cvtColor(np.ascontiguousarray(image), code)
    if image_format == "BGR":
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(image)


def _as_float_array(value: Any, name: str) -> np.ndarray:
    if value is None:
        raise TypeError(f"{name} is required, got None")
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be numbers, got {type(value).__name__}")
    if isinstance(value, np.ndarray) and np.iscomplexobj(value):  # casting would drop the imaginary part
        raise TypeError(f"{name} must be real numbers, got {value.dtype}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except OverflowError:
        raise ValueError(f"{name} must be finite numbers, got an integer too large for a float") from None
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array-like of numbers, got {type(value).__name__}: {exc}") from None
    return arr


def _check_inside(arr: np.ndarray, name: str, width: int, height: int) -> np.ndarray:
    xs, ys = arr[..., 0], arr[..., 1]
    lo = -0.5 - OUTSIDE_TOLERANCE
    if (xs < lo).any() or (xs > width - 0.5 + OUTSIDE_TOLERANCE).any() or (ys < lo).any() or (
        ys > height - 0.5 + OUTSIDE_TOLERANCE
    ).any():
        raise ValueError(
            f"{name} lie outside the {width}x{height} image: expected x in [0, {width - 1}] and y in "
            f"[0, {height - 1}] (pixel centres), got {arr.round(2).tolist()}"
        )
    out = arr.copy()
    out[..., 0] = np.clip(xs, 0, width - 1)
    out[..., 1] = np.clip(ys, 0, height - 1)
    return out


def check_points(points: Any, width: int, height: int) -> np.ndarray:
    """Validate four extreme points and return them as a ``(4, 2)`` float64 array of (x, y).

    Points may come in any order. Points up to :data:`OUTSIDE_TOLERANCE` px outside the image are clipped onto
    it; points farther out are an error.

    Raises
    ------
    TypeError
        If ``points`` is not an array-like of numbers.
    ValueError
        If the shape is not (4, 2), a value is NaN or infinite, the points lie outside the image, are all
        equal, or span less than :data:`MIN_SPAN` px in x or y.
    """
    arr = _as_float_array(points, "extreme_points")
    if arr.shape != (4, 2):
        raise ValueError(f"extreme_points must have shape (4, 2) as four (x, y) pairs, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"extreme_points must be finite numbers, got {arr.tolist()}")
    arr = _check_inside(arr, "extreme_points", width, height)
    if np.all(arr == arr[0]):
        raise ValueError(f"extreme_points are all the same point {arr[0].tolist()}: click the object's four extremes")
    span = arr.max(axis=0) - arr.min(axis=0)
    if (span < MIN_SPAN).any():
        raise ValueError(
            f"extreme_points must span at least {MIN_SPAN:g} px in x and in y, got a span of "
            f"{span[0]:g} x {span[1]:g} px"
        )
    return arr


def check_box(box: Any, width: int, height: int) -> np.ndarray:
    """Validate a box ``(x0, y0, x1, y1)`` and return it as a ``(4,)`` float64 array.

    Raises
    ------
    TypeError
        If ``box`` is not an array-like of numbers.
    ValueError
        If it does not hold 4 finite numbers, has ``x1 < x0`` or ``y1 < y0``, lies outside the image or spans
        less than :data:`MIN_SPAN` px.
    """
    arr = _as_float_array(box, "box")
    if arr.shape != (4,):
        raise ValueError(f"box must be 4 numbers (x0, y0, x1, y1), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"box must be finite numbers, got {arr.tolist()}")
    if arr[2] < arr[0] or arr[3] < arr[1]:
        raise ValueError(f"box must be (x0, y0, x1, y1) with x0 <= x1 and y0 <= y1, got {arr.tolist()}")
    corners = _check_inside(arr.reshape(2, 2), "box corners", width, height)
    span = corners[1] - corners[0]
    if (span < MIN_SPAN).any():
        raise ValueError(
            f"box must span at least {MIN_SPAN:g} px in x and in y, got {span[0]:g} x {span[1]:g} px"
        )
    return corners.reshape(4)


def check_prompt(
    extreme_points: Any, box: Any, width: int, height: int
) -> tuple[np.ndarray | None, np.ndarray]:
    """Validate a prompt given as extreme points *or* a box.

    Returns
    -------
    points : (4, 2) float64 array or None
        The checked extreme points, or None for a box prompt.
    box : (4,) float64 array
        ``(x0, y0, x1, y1)``: the given box, or the bounding box of the points.
    """
    if extreme_points is None and box is None:
        raise TypeError("give either extreme_points=(4, 2) array of (x, y) or box=(x0, y0, x1, y1); got neither")
    if extreme_points is not None and box is not None:
        raise TypeError("give either extreme_points or box, not both")
    if extreme_points is not None:
        pts = check_points(extreme_points, width, height)
        return pts, np.concatenate([pts.min(axis=0), pts.max(axis=0)])
    return None, check_box(box, width, height)


def check_tolerance(tolerance: Any) -> float:
    """Validate a polygon simplification tolerance (pixels, finite, >= 0) and return it as a float."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.integer, np.floating)):
        raise TypeError(f"tolerance must be a number of pixels, got {type(tolerance).__name__} {tolerance!r}")
    try:
        float(tolerance)
    except OverflowError:
        raise ValueError("tolerance must be a finite number >= 0 (pixels), got an integer too large for a float") from None
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a finite number >= 0 (pixels), got {tolerance}")
    return float(tolerance)

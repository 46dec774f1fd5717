"""Input checking: images and prompts (extreme points or a box, plus clicks), and the prompt type itself.

Every public entry point of polyseg passes its inputs through these functions, so that a bad input raises a
``TypeError`` or ``ValueError`` saying what was expected and what came, instead of failing deep inside OpenCV
or OpenVINO.

Coordinate convention
---------------------
Points and boxes are (x, y) in pixels, in *pixel-centre* coordinates: the centre of the top-left pixel is
(0, 0) and pixel ``(row i, column j)`` covers ``[j - 0.5, j + 0.5) x [i - 0.5, i + 0.5)``. A box
``(x0, y0, x1, y1)`` names the left-, top-, right- and bottom-most pixels of the object (inclusive), just like
the bounding box of its four extreme points.

Labeling tools and data sets give a rectangle by its *edges* instead, in corner coordinates where pixel i spans
[i, i + 1) (CVAT, Label Studio, COCO, YOLO): :func:`box_from_edges` is the one rule that turns those into a box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

ImageFormat = Literal["RGB", "BGR"]

#: How far (in pixels) a point may lie outside the image before it is rejected; closer points are clipped.
OUTSIDE_TOLERANCE = 1.0
#: Smallest extent (in pixels) the prompt must span in x and in y.
MIN_SPAN = 2.0
#: Most clicks (positive and negative, the extreme points among them) a labeling tool may send for one object: a
#: hand makes a few dozen; the bound keeps a request's work bounded.
MAX_TOOL_CLICKS = 1000


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


def _points_form(points: Any) -> np.ndarray:
    """Four extreme points as a ``(4, 2)`` float64 array: shape and finite numbers (no image needed)."""
    arr = _as_float_array(points, "extreme_points")
    if arr.shape != (4, 2):
        raise ValueError(f"extreme_points must have shape (4, 2) as four (x, y) pairs, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"extreme_points must be finite numbers, got {arr.tolist()}")
    return arr


def _points_inside(arr: np.ndarray, width: int, height: int) -> np.ndarray:
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


def _box_form(box: Any) -> np.ndarray:
    """A box as a ``(4,)`` float64 array: four finite numbers, corners in order (no image needed)."""
    arr = _as_float_array(box, "box")
    if arr.shape != (4,):
        raise ValueError(f"box must be 4 numbers (x0, y0, x1, y1), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"box must be finite numbers, got {arr.tolist()}")
    if arr[2] < arr[0] or arr[3] < arr[1]:
        raise ValueError(f"box must be (x0, y0, x1, y1) with x0 <= x1 and y0 <= y1, got {arr.tolist()}")
    return arr


def _box_inside(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    corners = _check_inside(arr.reshape(2, 2), "box corners", width, height)
    span = corners[1] - corners[0]
    if (span < MIN_SPAN).any():
        raise ValueError(
            f"box must span at least {MIN_SPAN:g} px in x and in y, got {span[0]:g} x {span[1]:g} px"
        )
    return corners.reshape(4)


def point_array(points: Any, name: str) -> np.ndarray:
    """Any number of points (clicks) as an ``(N, 2)`` float64 array of (x, y); None or an empty sequence gives
    ``(0, 2)``. Not checked against an image (see :meth:`Prompt.inside`).

    Raises
    ------
    TypeError
        If ``points`` is not an array-like of numbers.
    ValueError
        If it is not ``(N, 2)``, or a value is NaN or infinite. Messages start with ``name``.
    """
    if points is None or (isinstance(points, (list, tuple)) and len(points) == 0):
        return np.zeros((0, 2))
    arr = _as_float_array(points, name)
    if arr.size == 0:
        return np.zeros((0, 2))
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2) as (x, y) pairs, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite numbers, got {arr.tolist()}")
    return arr


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
    return _points_inside(_points_form(points), width, height)


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
    return _box_inside(_box_form(box), width, height)


def box_from_edges(edges: Any) -> np.ndarray:
    """The box prompt ``(x0, y0, x1, y1)`` of a rectangle given by its edges, as labeling tools draw it.

    CVAT, Label Studio, COCO and YOLO give a rectangle as its edges ``(left, top, right, bottom)`` in corner
    coordinates, where pixel i spans [i, i + 1): the object covers columns ``left`` .. ``right - 1`` and rows
    ``top`` .. ``bottom - 1``. A box prompt names the first and last pixel centres, so the box is
    ``(left, top, right - 1, bottom - 1)``; fractional edges take the same linear map (the rectangle shrunk by
    half a pixel on each side and moved by -0.5 px into pixel-centre coordinates).

    Parameters
    ----------
    edges : array-like, shape (4,)
        ``(left, top, right, bottom)``, corner coordinates, ``left <= right`` and ``top <= bottom``.

    Returns
    -------
    np.ndarray
        ``(4,)`` float64 ``(x0, y0, x1, y1)``, pixel-centre coordinates (not yet checked against an image: see
        :class:`Prompt`).
    """
    return np.asarray(edges, dtype=np.float64).reshape(4) - (0.0, 0.0, 1.0, 1.0)


@dataclass(frozen=True, eq=False)
class Prompt:
    """What the annotator gave for one object: four extreme points or a box, plus positive and negative clicks.

    The one place a prompt is validated. Creating a Prompt checks its form (points *or* a box, shapes, finite
    numbers, box corners in order) and stores float64 arrays; :meth:`inside` checks it against an image (inside
    it, not degenerate) and clips what lies up to :data:`OUTSIDE_TOLERANCE` px outside onto it. Coordinates are
    pixel centres (see the module docstring).

    Attributes
    ----------
    extreme_points : (4, 2) float64 or None
        The object's left-, top-, right- and bottom-most points as (x, y), in any order; None for a box prompt.
    box : (4,) float64 or None
        ``(x0, y0, x1, y1)``, the object's first and last column and row (inclusive); None for a points prompt.
    positive, negative : (N, 2) float64
        Clicks on the object and off it, for models that take corrections. Empty by default; the
        extreme-points model takes none (:meth:`polyseg.Segmenter.prepare` refuses them).

    Raises
    ------
    TypeError
        If neither or both of ``extreme_points`` and ``box`` are given, or a value is not numbers.
    ValueError
        If a shape is wrong, a value is NaN or infinite, or the box has ``x1 < x0`` or ``y1 < y0``.

    Examples
    --------
    >>> Prompt(box=(336, 261, 591, 385)).inside(640, 640).bounds
    array([336., 261., 591., 385.])
    """

    extreme_points: Any = None
    box: Any = None
    positive: Any = ()
    negative: Any = ()

    def __post_init__(self) -> None:
        if self.extreme_points is None and self.box is None:
            raise TypeError("give either extreme_points=(4, 2) array of (x, y) or box=(x0, y0, x1, y1); got neither")
        if self.extreme_points is not None and self.box is not None:
            raise TypeError("give either extreme_points or box, not both")
        if self.extreme_points is not None:
            object.__setattr__(self, "extreme_points", _points_form(self.extreme_points))
        else:
            object.__setattr__(self, "box", _box_form(self.box))
        object.__setattr__(self, "positive", point_array(self.positive, "positive clicks"))
        object.__setattr__(self, "negative", point_array(self.negative, "negative clicks"))

    @classmethod
    def of(cls, value: Any) -> Prompt:
        """A prompt from a Prompt (returned as it is) or an array-like by its shape: ``(4, 2)`` is four extreme
        points, ``(4,)`` a box.

        Raises
        ------
        TypeError
            If ``value`` is ragged or not numbers.
        ValueError
            If it has any other shape.
        """
        if isinstance(value, Prompt):
            return value
        try:
            shape = np.shape(value) if not isinstance(value, (str, bytes)) else ()
        except ValueError:
            raise TypeError("expected (4, 2) extreme points or a (4,) box, got a ragged sequence") from None
        if shape == (4, 2):
            return cls(extreme_points=value)
        if shape == (4,):
            return cls(box=value)
        raise ValueError(f"expected (4, 2) extreme points or a (4,) box, got shape {shape}")

    @property
    def bounds(self) -> np.ndarray:
        """``(4,)`` float64 ``(x0, y0, x1, y1)``: the box, or the bounding box of the extreme points."""
        if self.extreme_points is not None:
            return np.concatenate([self.extreme_points.min(axis=0), self.extreme_points.max(axis=0)])
        return self.box

    @property
    def has_clicks(self) -> bool:
        """Whether the prompt holds positive or negative clicks."""
        return len(self.positive) + len(self.negative) > 0

    def scaled(self, sx: float, sy: float) -> Prompt:
        """This prompt on a copy of the image resized by ``sx`` in x and ``sy`` in y: pixel centres map as
        ``(x + 0.5) * sx - 0.5`` (an image's outer edges stay its outer edges)."""

        def scale(xy: np.ndarray | None) -> np.ndarray | None:
            if xy is None:
                return None
            return ((xy.reshape(-1, 2) + 0.5) * (sx, sy) - 0.5).reshape(xy.shape)

        return Prompt(scale(self.extreme_points), scale(self.box), scale(self.positive), scale(self.negative))

    def inside(self, width: int, height: int) -> Prompt:
        """This prompt checked against a ``width x height`` image: the same prompt with every point and corner
        clipped onto the image.

        Raises
        ------
        ValueError
            If a point, a box corner or a click lies more than :data:`OUTSIDE_TOLERANCE` px outside the image,
            the extreme points are all equal, or the prompt spans less than :data:`MIN_SPAN` px in x or y.
        """
        points = None if self.extreme_points is None else _points_inside(self.extreme_points, width, height)
        box = None if self.box is None else _box_inside(self.box, width, height)
        positive, negative = (_check_inside(c, name, width, height) if len(c) else c
                              for c, name in ((self.positive, "positive clicks"), (self.negative, "negative clicks")))
        return Prompt(points, box, positive, negative)


class NoPrompt(ValueError):
    """A labeling tool's clicks make no prompt: fewer than four positive clicks and no box."""


def tool_prompt(positive: np.ndarray, box: np.ndarray | None, *, negative: np.ndarray | None = None,
                points_name: str = "points", box_name: str = "box") -> Prompt:
    """The prompt of a labeling tool's clicks and rectangle: the rule CVAT, Label Studio and the page share.

    Tools send every click so far each time. With a box, the box is the prompt and every click is a correction.
    Without one, the first four positive clicks are the object's extreme points and later positive clicks are
    corrections. Negative clicks are always corrections. :meth:`polyseg.Segmenter.segment` answers the prompt with
    its first answer, refined by the corrections when there are any.

    Parameters
    ----------
    positive : (N, 2) float
        The positive clicks in click order, pixel centres.
    box : (4,) float or None
        ``(x0, y0, x1, y1)``, pixel centres (a tool's rectangle goes through :func:`box_from_edges` first).
    negative : (M, 2) float or None
        The negative clicks, pixel centres.
    points_name, box_name : str
        What the tool calls them, for the error message.

    Raises
    ------
    NoPrompt
        If there are fewer than four positive clicks and no box (a ``ValueError``).
    ValueError
        If the box is malformed, or there are more than :data:`MAX_TOOL_CLICKS` clicks.
    """
    positive = np.asarray(positive, dtype=np.float64).reshape(-1, 2)
    negative = np.zeros((0, 2)) if negative is None else np.asarray(negative, dtype=np.float64).reshape(-1, 2)
    if len(positive) + len(negative) > MAX_TOOL_CLICKS:
        raise ValueError(f"at most {MAX_TOOL_CLICKS} clicks per object, got {len(positive) + len(negative)} "
                         f"({len(positive)} positive, {len(negative)} negative)")
    if box is not None:
        return Prompt(box=box, positive=positive, negative=negative)
    if len(positive) < 4:
        raise NoPrompt(
            f"need 4 extreme points or a box: at least 4 positive points in {points_name} (the first 4 are the "
            f"object's extreme points, later ones corrections) or {box_name}, got {len(positive)} points"
        )
    return Prompt(extreme_points=positive[:4], positive=positive[4:], negative=negative)


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

"""Parsing of request bodies shared by every endpoint: base64 images, point lists, boxes.

Every problem raises :class:`BadRequest`, whose message is one line that the server returns as
``{"error": "..."}`` with a 4xx status.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

#: Largest image (pixels) the server decodes: a 32 MB PNG can claim gigapixels. :func:`decode_image` reads the size
#: from the image's header and refuses a larger one before decoding it. 2**27 is e.g. 16384 x 8192; a process
#: started with ``OPENCV_IO_MAX_IMAGE_PIXELS`` set takes that instead. OpenCV reads that variable when cv2 is
#: loaded, so setting it here is only a second guard, for processes that import this module first (and their
#: children): cv2 is usually loaded already.
MAX_IMAGE_PIXELS = int(os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(2**27)))
#: Largest mask an answer carries (CVAT's mask over the object's box, the page's CVAT file): 2**24 pixels, e.g.
#: 4096 x 4096, about 32 MB of JSON, as much as the largest request. A whole-image box on a 2**27-pixel image
#: would otherwise answer with 265 MB.
MAX_ANSWER_PIXELS = 2**24
#: The formats whose header :func:`polyseg.imageio.image_size` reads, in words.
IMAGE_FORMATS = "PNG, JPEG, WebP, BMP, GIF, TIFF, PNM or Sun raster"

import cv2
import numpy as np

from ..imageio import image_size
from ..prompt import point_array


class BadRequest(ValueError):
    """A request the client must fix; ``status`` is the HTTP status to answer with (4xx)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(" ".join(str(message).split()))  # one line
        self.status = status


def parse_json(body: bytes | str | dict) -> dict[str, Any]:
    """A JSON object from a request body (bytes, str, or an already decoded dict as nuclio gives)."""
    if isinstance(body, dict):
        return body
    try:
        data = json.loads(body)
    except RecursionError:
        raise BadRequest("body is nested too deeply to parse") from None
    except ValueError as exc:  # malformed, not UTF-8, or an integer of more than 4300 digits
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"body must be a JSON object, got {type(data).__name__}")
    return data


def decode_base64(text: Any, what: str = "image") -> bytes:
    """Bytes of a base64 string; a ``data:...;base64,`` prefix and line breaks (any whitespace) are allowed."""
    if not isinstance(text, str) or not text:
        raise BadRequest(f"{what} must be a non-empty base64 string, got {type(text).__name__}")
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or not head.endswith(";base64"):
            raise BadRequest(f"{what}: a data: URI must be base64 (data:<type>;base64,<data>)")
    text = "".join(text.split())  # lines wrapped at 76 characters, as the base64 command prints them
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"{what} is not valid base64: {exc}") from None


def decode_image(data: bytes, what: str = "image") -> np.ndarray:
    """A BGR ``(H, W, 3)`` uint8 image from encoded bytes (PNG, JPEG, WebP, BMP, GIF, TIFF, PNM, Sun raster;
    grayscale and RGBA are converted).

    Raises
    ------
    BadRequest
        413 if the header claims more than :data:`MAX_IMAGE_PIXELS` pixels (nothing is decoded); 422 if the
        bytes are not an image of those formats.
    """
    if not data:
        raise BadRequest(f"{what} is empty")
    size = image_size(data)
    undecodable = BadRequest(f"{what} could not be decoded as an image ({len(data)} bytes; expected {IMAGE_FORMATS} "
                             f"of at most {MAX_IMAGE_PIXELS} pixels)", status=422)
    if size is None or 0 in size:
        raise undecodable
    check_pixels(*size, what)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:  # OpenCV raises (rather than returning None) for an image over its own pixel limit
        image = None
    if image is None:
        raise undecodable
    check_pixels(image.shape[1], image.shape[0], what)  # as decoded, should a header have lied
    return image


def check_pixels(width: int, height: int, what: str = "image") -> None:
    """Refuse (413) an image of more than :data:`MAX_IMAGE_PIXELS` pixels."""
    if width * height > MAX_IMAGE_PIXELS:
        raise BadRequest(f"{what} is {width} x {height} = {width * height} pixels, more than the {MAX_IMAGE_PIXELS} "
                         "the server decodes", status=413)


def segment(segmenter: Any, image: np.ndarray, prompt: Any, tolerance: float) -> Any:
    """``segmenter.segment(image, prompt=prompt, ...)`` for a decoded BGR image, bad input answered 400: the one
    segmentation call of every route (``segmenter`` a :class:`polyseg.Segmenter`, ``prompt`` a
    :class:`polyseg.Prompt`; returns its :class:`polyseg.Segmentation`)."""
    try:
        return segmenter.segment(image, prompt=prompt, image_format="BGR", tolerance=tolerance)
    except (TypeError, ValueError) as exc:
        raise BadRequest(str(exc)) from None


def check_answer(seg: Any) -> None:
    """Refuse (413) to answer with a mask of more than :data:`MAX_ANSWER_PIXELS` pixels (``seg`` a
    :class:`polyseg.Segmentation`; the mask covers its bounding box)."""
    _, _, w, h = seg.bbox
    if w * h > MAX_ANSWER_PIXELS:
        raise BadRequest(f"the object's mask is {w} x {h} = {w * h} pixels, more than the {MAX_ANSWER_PIXELS} an answer "
                         f"carries: segment a smaller object, or send a smaller image", status=413)


def point_list(value: Any, what: str) -> np.ndarray:
    """An ``(N, 2)`` float array from ``[[x, y], ...]``; ``None`` gives ``(0, 2)``
    (:func:`polyseg.prompt.point_array`)."""
    try:
        return point_array(value, what)
    except (TypeError, ValueError) as exc:
        raise BadRequest(str(exc)) from None


def box(value: Any, what: str = "box") -> np.ndarray | None:
    """A box ``(x0, y0, x1, y1)`` from flat ``[x0, y0, x1, y1]`` or nested ``[[x0, y0], [x1, y1]]`` corners in
    any order; ``None`` or ``[]`` give ``None``."""
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return None
    try:
        arr = np.asarray(value, dtype=float).reshape(-1)
    except OverflowError:  # an integer no float holds
        arr = np.full(4, np.inf)
    except (TypeError, ValueError):
        raise BadRequest(f"{what} must be [x0, y0, x1, y1] or [[x0, y0], [x1, y1]]") from None
    if arr.shape != (4,) or not np.isfinite(arr).all():
        raise BadRequest(f"{what} must be four finite numbers [x0, y0, x1, y1] or [[x0, y0], [x1, y1]]")
    x0, x1 = sorted(arr[[0, 2]])
    y0, y1 = sorted(arr[[1, 3]])
    return np.array([x0, y0, x1, y1])


def tolerance(value: Any, default: float = 1.4) -> float:
    """The polygon tolerance in pixels from a request (a number in [0, 100])."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"tolerance must be a number, got {value!r}")
    if not 0 <= value <= 100:  # also NaN, and integers no float holds
        raise BadRequest(f"tolerance must be between 0 and 100 pixels, got {_short(value)}")
    return float(value)


def _short(value: Any) -> str:
    """``repr`` of a value cut to 40 characters (an integer of 400 digits is not worth repeating)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"

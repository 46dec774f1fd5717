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

#: Largest image (pixels) the server decodes: a 32 MB PNG can claim gigapixels. OpenCV reads this variable on its
#: first decode, so it applies in a server process (``polyseg serve``, the nuclio function) that decodes nothing
#: before importing this module. 2**27 is e.g. 16384 x 8192.
MAX_IMAGE_PIXELS = int(os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(2**27)))

import cv2  # after the limit is set
import numpy as np

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
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"body must be a JSON object, got {type(data).__name__}")
    return data


def decode_base64(text: Any, what: str = "image") -> bytes:
    """Bytes of a base64 string; a ``data:...;base64,`` prefix is allowed."""
    if not isinstance(text, str) or not text:
        raise BadRequest(f"{what} must be a non-empty base64 string, got {type(text).__name__}")
    if text.startswith("data:"):
        head, sep, text = text.partition(",")
        if not sep or not head.endswith(";base64"):
            raise BadRequest(f"{what}: a data: URI must be base64 (data:<type>;base64,<data>)")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"{what} is not valid base64: {exc}") from None


def decode_image(data: bytes, what: str = "image") -> np.ndarray:
    """A BGR ``(H, W, 3)`` uint8 image from encoded bytes (JPEG, PNG, ...; grayscale and RGBA are converted)."""
    if not data:
        raise BadRequest(f"{what} is empty")
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:  # OpenCV raises (rather than returning None) for an image over the pixel limit
        image = None
    if image is None:
        raise BadRequest(f"{what} could not be decoded as an image ({len(data)} bytes; at most "
                         f"{MAX_IMAGE_PIXELS} pixels)", status=422)
    return image


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
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise BadRequest(f"tolerance must be a number, got {value!r}")
    if not 0 <= value <= 100:
        raise BadRequest(f"tolerance must be between 0 and 100 pixels, got {value}")
    return float(value)

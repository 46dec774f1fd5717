"""The crop window: maps an image region to the network's square input and back.

One :class:`CropWindow` carries the whole geometry of one object: which image pixels go into the network input,
how a point moves from image to input coordinates and back, and where the network's output lands in the image.
Training (``training/``) builds its samples with this same code, so the network sees at run time exactly what it
saw while learning.

Conventions
-----------
- Points are (x, y) in pixel-centre coordinates (see :mod:`polyseg.prompt`).
- The window is a whole-pixel rectangle ``[x0, x0 + width) x [y0, y0 + height)`` in image pixel indices. It may
  reach past the image border; that part is padded with zeros, never shifted back inside.
- The window is resized to ``size x size`` with a separate scale per axis (the object fills the input whatever
  its aspect ratio).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Default side of the network input, in pixels.
INPUT_SIZE = 128
#: Default margin added on each side of the prompt's box, as a fraction of the box side.
MARGIN = 0.1
#: Smallest margin on each side, in image pixels.
MIN_MARGIN = 3
#: Default radius of the extreme-point discs in the point channel, in input pixels.
POINT_RADIUS = 3.0
#: Zoom-in of a correction: the focus window around a new click is the object window's side divided by this.
ZOOM_FACTOR = 3.0


@dataclass(frozen=True)
class CropWindow:
    """A whole-pixel image window and its resize to a ``size x size`` network input.

    Attributes
    ----------
    x0, y0 : int
        Image column and row of the window's top-left pixel (may be negative).
    width, height : int
        Window size in image pixels (at least 1).
    size : int
        Side of the square network input.
    """

    x0: int
    y0: int
    width: int
    height: int
    size: int = INPUT_SIZE

    @classmethod
    def from_box(
        cls,
        box: np.ndarray,
        *,
        size: int = INPUT_SIZE,
        margin: float = MARGIN,
        min_margin: float = MIN_MARGIN,
    ) -> CropWindow:
        """Window around a box ``(x0, y0, x1, y1)`` of inclusive pixel-centre coordinates.

        Each side grows by ``max(margin * side, min_margin)`` pixels, ``side`` being the box's extent in pixels
        along that axis. ``margin`` may be given per side as four numbers (left, top, right, bottom), as training
        does to jitter the window.
        """
        bx0, by0, bx1, by1 = (float(v) for v in box)
        w, h = bx1 - bx0 + 1.0, by1 - by0 + 1.0
        ml, mt, mr, mb = np.broadcast_to(np.asarray(margin, dtype=np.float64), (4,))
        left = bx0 - 0.5 - max(ml * w, min_margin)
        right = bx1 + 0.5 + max(mr * w, min_margin)
        top = by0 - 0.5 - max(mt * h, min_margin)
        bottom = by1 + 0.5 + max(mb * h, min_margin)
        # Corner coordinates -> whole pixels: pixel i spans [i - 0.5, i + 0.5).
        x0, y0 = math.floor(left + 0.5), math.floor(top + 0.5)
        x1, y1 = math.ceil(right + 0.5), math.ceil(bottom + 0.5)
        return cls(x0, y0, max(x1 - x0, 1), max(y1 - y0, 1), size)

    @property
    def scale(self) -> tuple[float, float]:
        """Input pixels per image pixel along x and y."""
        return self.size / self.width, self.size / self.height

    def to_input(self, points: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` image (x, y) to network-input (x, y), both pixel-centre coordinates."""
        sx, sy = self.scale
        pts = np.asarray(points, dtype=np.float64)
        return np.stack([(pts[..., 0] + 0.5 - self.x0) * sx - 0.5, (pts[..., 1] + 0.5 - self.y0) * sy - 0.5], -1)

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` network-input (x, y) back to image (x, y): the inverse of :meth:`to_input`."""
        sx, sy = self.scale
        pts = np.asarray(points, dtype=np.float64)
        return np.stack([(pts[..., 0] + 0.5) / sx + self.x0 - 0.5, (pts[..., 1] + 0.5) / sy + self.y0 - 0.5], -1)

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Which of ``(N, 2)`` image points (x, y) lie on the window's pixels (pixel ``i`` spans
        ``[i - 0.5, i + 0.5)``); ``(N,)`` bool."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        x, y = pts[:, 0], pts[:, 1]
        inside_x = (self.x0 - 0.5 <= x) & (x < self.x0 + self.width - 0.5)
        return inside_x & (self.y0 - 0.5 <= y) & (y < self.y0 + self.height - 0.5)

    def clip(self, height: int, width: int) -> tuple[slice, slice, slice, slice]:
        """Slices of the part of the window inside an ``height x width`` image.

        Returns ``(image_rows, image_cols, window_rows, window_cols)``; the window slices index an array of the
        window's own ``(height, width)``. They are empty if the window lies wholly outside the image.
        """
        ix0, iy0 = max(self.x0, 0), max(self.y0, 0)
        ix1, iy1 = min(self.x0 + self.width, width), min(self.y0 + self.height, height)
        ix1, iy1 = max(ix1, ix0), max(iy1, iy0)
        return (
            slice(iy0, iy1),
            slice(ix0, ix1),
            slice(iy0 - self.y0, iy1 - self.y0),
            slice(ix0 - self.x0, ix1 - self.x0),
        )

    def crop(self, image: np.ndarray, interpolation: int | None = None) -> np.ndarray:
        """Cut the window out of ``image`` (``(H, W)`` or ``(H, W, C)``), zero-padded, resized to ``size x size``.

        ``interpolation`` defaults to ``INTER_AREA`` when shrinking and ``INTER_LINEAR`` when enlarging; a window
        more than twice the output size is first resampled bilinearly to a whole multiple of it.
        """
        rows, cols, wrows, wcols = self.clip(image.shape[0], image.shape[1])
        if (rows.stop - rows.start, cols.stop - cols.start) == (self.height, self.width):
            window = image[rows, cols]  # wholly inside the image: no copy
        else:
            window = np.zeros((self.height, self.width) + image.shape[2:], dtype=image.dtype)
            window[wrows, wcols] = image[rows, cols]
        if interpolation is None:
            shrink = self.width > self.size and self.height > self.size
            interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        kx, ky = max(self.width // self.size, 1), max(self.height // self.size, 1)
        if interpolation == cv2.INTER_AREA and max(kx, ky) > 1:
            # INTER_AREA is fast only for whole-number factors: resample to the nearest multiple of the output
            # size first (a mild bilinear step), then average k x k blocks. 4x faster, within 0.4 grey levels.
            window = cv2.resize(window, (self.size * kx, self.size * ky), interpolation=cv2.INTER_LINEAR)
        out = cv2.resize(window, (self.size, self.size), interpolation=interpolation)
        return out.reshape((self.size, self.size) + image.shape[2:])

    def uncrop(self, input_map: np.ndarray) -> np.ndarray:
        """Resize a ``(size, size)`` map (e.g. the network's probabilities) back to the window's
        ``(height, width)``, bilinearly. Use :meth:`clip` to place it in the image."""
        return cv2.resize(input_map, (self.width, self.height), interpolation=cv2.INTER_LINEAR)


def focus_window(window: CropWindow, point: np.ndarray, factor: float = ZOOM_FACTOR, min_side: int = 0) -> CropWindow:
    """The zoom-in's focus window: a square around an image point (x, y), its side the longer side of ``window``
    divided by ``factor``, at least ``min_side`` (the run time passes the input size: never finer than native
    resolution); same input size as ``window``."""
    side = max(round(max(window.width, window.height) / factor), min_side, 1)
    x, y = (float(v) for v in point)
    return CropWindow(round(x) - side // 2, round(y) - side // 2, side, side, window.size)


def resample_map(prob: np.ndarray, source: CropWindow, target: CropWindow) -> np.ndarray:
    """A ``(size, size)`` network-resolution map over ``source`` seen through ``target``, bilinearly (zero where
    ``source`` has nothing): e.g. a previous answer for a grown window, or for a zoom-in's focus window."""
    if source == target:
        return prob
    # target input coordinates -> image -> source input coordinates: an affine map per axis
    corners = np.array([[0.0, 0.0], [1.0, 1.0]])
    mapped = source.to_input(target.to_image(corners))
    scale = mapped[1] - mapped[0]
    m = np.array([[scale[0], 0.0, mapped[0, 0]], [0.0, scale[1], mapped[0, 1]]])
    size = (target.size, target.size)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(prob.astype(np.float32), m, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def render_points(points_in_input: np.ndarray | None, size: int = INPUT_SIZE, radius: float = POINT_RADIUS) -> np.ndarray:
    """Draw extreme points as filled discs: the network's fourth input channel.

    Parameters
    ----------
    points_in_input : (N, 2) array or None
        (x, y) in network-input pixel-centre coordinates (see :meth:`CropWindow.to_input`). None, or an empty
        array, gives an empty channel: the box-only prompt.
    size : int
        Side of the square channel.
    radius : float
        Disc radius in input pixels, as ``cv2.circle`` draws it at a sub-pixel centre (a disc covers between
        pi r^2 and pi (r + 1)^2 pixels).

    Returns
    -------
    np.ndarray
        ``(size, size)`` uint8, 255 inside a disc and 0 elsewhere.
    """
    channel = np.zeros((size, size), dtype=np.uint8)
    if points_in_input is None:
        return channel
    shift = 4  # sub-pixel precision: coordinates in 1/16 px
    for x, y in np.asarray(points_in_input, dtype=np.float64).reshape(-1, 2):
        centre = (round(x * (1 << shift)), round(y * (1 << shift)))
        cv2.circle(channel, centre, round(radius * (1 << shift)), 255, thickness=-1, lineType=cv2.LINE_8, shift=shift)
    return channel


def network_input(
    image_rgb: np.ndarray,
    window: CropWindow,
    points: np.ndarray | None,
    radius: float = POINT_RADIUS,
) -> np.ndarray:
    """Build one network input: the window's RGB crop stacked with the point channel.

    Parameters
    ----------
    image_rgb : (H, W, 3) uint8
        The image, RGB.
    window : CropWindow
        The object's window.
    points : (4, 2) float array or None
        Extreme points in image coordinates; None for a box prompt (empty point channel).

    Returns
    -------
    np.ndarray
        ``(4, size, size)`` float32, channels R, G, B (0-255) and points (0 or 255): the layout the network takes.
    """
    out = np.empty((4, window.size, window.size), np.float32)  # filled in place: one pass, no uint8 stack
    out[:3] = window.crop(image_rgb).transpose(2, 0, 1)
    out[3] = render_points(None if points is None else window.to_input(points), window.size, radius)
    return out


def correction_input(
    image_rgb: np.ndarray,
    window: CropWindow,
    positive: np.ndarray | None,
    negative: np.ndarray | None,
    previous: np.ndarray,
    radius: float = POINT_RADIUS,
) -> np.ndarray:
    """Build one input of the correction network: RGB, positive clicks, negative clicks, previous answer.

    Parameters
    ----------
    image_rgb : (H, W, 3) uint8
        The image, RGB.
    window : CropWindow
        The object's window (the first answer's, grown to take in positive clicks outside it).
    positive, negative : (N, 2) float arrays or None
        Clicks in image coordinates, (x, y) pixel centres. ``positive`` holds the extreme points (if the first
        answer came from them) and every positive correction; ``negative`` every negative correction.
    previous : (size, size) float32
        The previous answer's foreground probability in this window, 0-1.

    Returns
    -------
    np.ndarray
        ``(6, size, size)`` float32: R, G, B (0-255), positive and negative discs (0 or 255) and the previous
        probability scaled to 0-255.
    """
    if previous.shape != (window.size, window.size):
        raise ValueError(f"previous must be ({window.size}, {window.size}), got {previous.shape}")
    discs = [
        render_points(window.to_input(clicks) if clicks is not None and len(clicks) else None, window.size, radius)
        for clicks in (positive, negative)
    ]
    return correction_channels(window.crop(image_rgb).transpose(2, 0, 1), *discs, previous)


def correction_channels(
    rgb: np.ndarray, positive: np.ndarray, negative: np.ndarray, previous: np.ndarray
) -> np.ndarray:
    """The correction network's channel layout, from its parts at network resolution: ``rgb`` ``(3, S, S)``
    (0-255), ``positive`` and ``negative`` click discs ``(S, S)`` (0 or 255), ``previous`` ``(S, S)`` probability
    (0-1, scaled to 0-255 here). Returns ``(6, S, S)`` float32; :func:`correction_input` and the training samples
    both build their inputs with it."""
    out = np.empty((6, *previous.shape), np.float32)
    out[:3] = rgb
    out[3] = positive
    out[4] = negative
    out[5] = np.clip(previous, 0.0, 1.0) * 255.0
    return out

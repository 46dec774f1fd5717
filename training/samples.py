"""Training samples: ground-truth extreme points, simulated clicks, augmentation, and the network input.

The network input is built by :func:`polyseg.crop.network_input` and the window by
:meth:`polyseg.crop.CropWindow.from_box`: the package's own code, so training and inference cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from polyseg.crop import INPUT_SIZE, MARGIN, MIN_MARGIN, POINT_RADIUS, CropWindow, network_input


def extreme_points(mask: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Left-, top-, right- and bottom-most pixels of a bool mask as a ``(4, 2)`` float array of (x, y).

    Where several pixels tie, ``rng`` picks one at random (training); without it, the middle one.
    """
    ys, xs = np.nonzero(mask)
    out = []
    for coords, others, pick in ((xs, ys, np.argmin), (ys, xs, np.argmin), (xs, ys, np.argmax), (ys, xs, np.argmax)):
        ext = coords[pick(coords)]
        ties = np.sort(others[coords == ext])
        other = ties[rng.integers(len(ties))] if rng is not None else ties[len(ties) // 2]
        out.append((ext, other) if coords is xs else (other, ext))
    return np.asarray(out, np.float64)


@dataclass
class Augment:
    """Augmentation settings; see :func:`make_sample`."""

    flip: float = 0.5  # probability of a horizontal flip
    rotate: float = 0.5  # probability of a rotation ...
    max_angle: float = 20.0  # ... by up to this many degrees
    click_sigma: float = 1.5  # px (at the patch's scale) of Gaussian click noise, plus ...
    click_rel: float = 0.015  # ... this fraction of the object's size
    margin: tuple[float, float] = (0.03, 0.2)  # per-side window margin, uniform
    box_only: float = 0.2  # probability of an empty point channel (box prompt)
    colour: float = 0.8  # probability of brightness/contrast/saturation jitter
    # Image quality, so that one model serves sharp full-resolution frames and small stretched JPEGs alike:
    blur: float = 0.0  # probability of lost detail: a Gaussian blur, or a resize down and back up ...
    min_scale: float = 0.3  # ... to as little as this fraction of the crop's size
    jpeg: float = 0.0  # probability of JPEG re-compression ...
    jpeg_quality: tuple[int, int] = (30, 90)  # ... at a quality drawn from this range
    sharpen: float = 0.0  # probability of an unsharp mask (over-sharpened camera output)


#: The augmentation of weights 2.0: the defaults plus image-quality changes.
QUALITY = Augment(blur=0.3, jpeg=0.3, sharpen=0.1)


def _rotate(image: np.ndarray, mask: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    h, w = mask.shape
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    image = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return image, mask


def _colour_jitter(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = rgb.astype(np.float32)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(0.6, 1.4)  # saturation
    x = (x - x.mean()) * rng.uniform(0.7, 1.3) + x.mean()  # contrast
    x = x * rng.uniform(0.7, 1.3) + rng.uniform(-20, 20)  # brightness
    return np.clip(x, 0, 255)


def _degrade(rgb: np.ndarray, rng: np.random.Generator, aug: Augment) -> np.ndarray:
    """Blur, resolution loss, JPEG artefacts or over-sharpening of a ``(S, S, 3)`` float32 crop (0-255)."""
    img = np.clip(rgb, 0, 255).astype(np.uint8)
    size = img.shape[1], img.shape[0]
    if rng.random() < aug.blur:
        if rng.random() < 0.5:
            img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.5))
        else:
            scale = rng.uniform(aug.min_scale, 0.8)
            small = cv2.resize(
                img, (max(8, round(size[0] * scale)), max(8, round(size[1] * scale))), interpolation=cv2.INTER_AREA
            )
            img = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)
    if rng.random() < aug.sharpen:
        img = cv2.addWeighted(img, 1.8, cv2.GaussianBlur(img, (0, 0), 1.0), -0.8, 0)
    if rng.random() < aug.jpeg:
        quality = int(rng.integers(aug.jpeg_quality[0], aug.jpeg_quality[1] + 1))
        _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return img.astype(np.float32)


@dataclass
class Drawn:
    """A sample and what it was drawn from: the flipped / rotated patch, its window and the (noisy) extreme points
    in patch coordinates; the zoom-in's focus samples are cut from the same patch (:func:`focus_rgb`)."""

    x: np.ndarray
    y: np.ndarray
    image: np.ndarray
    mask: np.ndarray
    window: CropWindow
    points: np.ndarray


def make_sample(
    image: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator | None,
    aug: Augment | None = None,
    *,
    size: int = INPUT_SIZE,
    radius: float = POINT_RADIUS,
    margin: float = MARGIN,
    min_margin: float = MIN_MARGIN,
) -> tuple[np.ndarray, np.ndarray] | None:
    """One ``(4, size, size)`` float32 input and its ``(size, size)`` float32 target (see :func:`draw_sample`)."""
    d = draw_sample(image, mask, rng, aug, size=size, radius=radius, margin=margin, min_margin=min_margin)
    return None if d is None else (d.x, d.y)


def draw_sample(
    image: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator | None,
    aug: Augment | None = None,
    *,
    size: int = INPUT_SIZE,
    radius: float = POINT_RADIUS,
    margin: float = MARGIN,
    min_margin: float = MIN_MARGIN,
) -> Drawn | None:
    """One ``(4, size, size)`` float32 input and its ``(size, size)`` float32 target, or None if the object is
    lost (e.g. rotated out of the patch).

    ``size``, ``radius``, ``margin`` and ``min_margin`` are the sample geometry a run trains with (and its IR
    states, see ``train.sample_geometry``): input side, point-disc radius, and the crop margins of
    :meth:`polyseg.crop.CropWindow.from_box`. Without ``rng`` (validation) nothing is random: middle tie-breaks,
    no click noise, the window's ``margin``; training draws a margin per side from ``aug.margin`` instead.
    """
    if rng is not None and aug is not None:
        if rng.random() < aug.flip:
            image, mask = image[:, ::-1], mask[:, ::-1]
        if rng.random() < aug.rotate:
            image, mask = _rotate(
                np.ascontiguousarray(image), np.ascontiguousarray(mask), rng.uniform(-1, 1) * aug.max_angle
            )
    binary = mask > 127
    if binary.sum() < 4:
        return None
    points = extreme_points(binary, rng)
    window_margin: float | np.ndarray = margin
    if rng is not None and aug is not None:
        extent = points.max(axis=0) - points.min(axis=0) + 1
        sigma = aug.click_sigma + aug.click_rel * extent
        points = points + np.clip(rng.normal(0.0, 1.0, (4, 2)), -2.5, 2.5) * sigma
        points = np.clip(points, 0, np.array(binary.shape[::-1]) - 1)
        window_margin = rng.uniform(*aug.margin, size=4)
    box = np.concatenate([points.min(axis=0), points.max(axis=0)])
    window = CropWindow.from_box(box, size=size, margin=window_margin, min_margin=min_margin)
    box_only = rng is not None and aug is not None and rng.random() < aug.box_only
    x = network_input(np.ascontiguousarray(image), window, None if box_only else points, radius)
    x[:3] = augment_rgb(x[:3], rng, aug)
    y = (window.crop(np.ascontiguousarray(mask)) > 127).astype(np.float32)
    return Drawn(x, y, image, mask, window, points)


def augment_rgb(rgb: np.ndarray, rng: np.random.Generator | None, aug: Augment | None) -> np.ndarray:
    """Image quality and colour changes of a ``(3, S, S)`` float32 crop (none without ``rng`` and ``aug``)."""
    if rng is None or aug is None:
        return rgb
    if aug.blur or aug.jpeg or aug.sharpen:
        rgb = _degrade(rgb.transpose(1, 2, 0), rng, aug).transpose(2, 0, 1)
    if rng.random() < aug.colour:
        rgb = _colour_jitter(rgb.transpose(1, 2, 0), rng).transpose(2, 0, 1)
    return rgb


def focus_rgb(
    drawn: Drawn, focus: CropWindow, rng: np.random.Generator | None, aug: Augment | None
) -> tuple[np.ndarray, np.ndarray]:
    """The RGB input ``(3, S, S)`` float32 and target ``(S, S)`` float32 of a zoom-in focus window (in the drawn
    patch's coordinates), cut from the same flipped / rotated patch as the object's sample."""
    rgb = focus.crop(np.ascontiguousarray(drawn.image)).transpose(2, 0, 1).astype(np.float32)
    y = (focus.crop(np.ascontiguousarray(drawn.mask)) > 127).astype(np.float32)
    return augment_rgb(rgb, rng, aug), y


def parse_source_weights(items: list[str] | None) -> dict[str, float]:
    """``["otonom=0.33", "adas=2"]`` -> ``{"otonom": 0.33, "adas": 2.0}``."""
    weights = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not sep or not name or not weight >= 0:  # NaN fails too
            raise SystemExit(f"--source-weight wants NAME=WEIGHT with WEIGHT >= 0, got {item!r}")
        weights[name] = weight
    return weights


#: A piece of an object: an 8-connected part of its mask of at least this fraction of its largest part (an object
#: seen behind an occluder is two or more pieces; specks of a rasterised outline are not).
PIECE_FRACTION = 0.05


def pieces(gt: np.ndarray) -> int:
    """How many pieces (:data:`PIECE_FRACTION`) the ``(H, W)`` mask ``gt`` (non-zero: the object) is seen in."""
    _n, _labels, stats, _ = cv2.connectedComponentsWithStats(np.ascontiguousarray(gt, np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    return int((areas >= PIECE_FRACTION * areas.max()).sum()) if len(areas) else 0


def sampling_probabilities(
    sources: list[str],
    weights: dict[str, float],
    several_pieces: np.ndarray | None = None,
    piece_weight: float = 1.0,
) -> np.ndarray | None:
    """Per-object draw probabilities: each object's weight is its source's (1 if not named), times ``piece_weight``
    for the objects ``several_pieces`` marks (seen in several pieces: :func:`pieces`). None if all are 1."""
    unknown = set(weights) - set(sources)
    if unknown:
        raise SystemExit(f"--source-weight names {sorted(unknown)}, not among the sources {sorted(set(sources))}")
    if piece_weight < 0:
        raise SystemExit(f"--piece-weight must be >= 0, got {piece_weight}")
    if all(w == 1 for w in weights.values()) and piece_weight == 1:
        return None
    w = np.array([weights.get(s, 1.0) for s in sources])
    if piece_weight != 1:
        if several_pieces is None or len(several_pieces) != len(sources):
            raise ValueError("piece_weight needs several_pieces, one flag per object")
        w = w * np.where(several_pieces, piece_weight, 1.0)
    if w.sum() <= 0:
        raise SystemExit("--source-weight leaves no object to train on")
    return w / w.sum()

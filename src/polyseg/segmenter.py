"""The public entry point: extreme points or a box in, polygon out; and the per-object steps it is made of.

One object goes through three public steps, which :meth:`Segmenter.segment`, :meth:`Segmenter.segment_many`, the
``annotate`` engine and the training evaluation all use:

1. :meth:`Segmenter.prepare_image`: check the image and put it in the channel order of the weights;
2. :meth:`Segmenter.prepare`: check the :class:`~polyseg.prompt.Prompt` against the image and build the object's
   crop window and network input (a :class:`Prepared`);
3. :meth:`Segmenter.finish`: the network's probabilities (from :attr:`Segmenter.network`) -> a
   :class:`~polyseg.result.Segmentation`, which keeps the prompt, the window and those probabilities for a later
   correction.

Corrections: :meth:`Segmenter.refine` takes a first answer and every corrective click so far (positive on what
was missed, negative on what was wrongly taken) and runs the second, correction network (``kind`` "correction",
loaded on first use) on the same window, grown to take in positive clicks outside it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .contours import clean_mask, trace
from .crop import CropWindow, correction_input, focus_window, network_input, resample_map
from .network import BUNDLED_REFINER, ModelInfo, Network, bundled_model_path
from .prompt import Prompt, as_rgb_image, check_tolerance, point_array
from .result import Segmentation

#: Margin (fraction of the box side, per side) of a window grown to take in positive clicks outside it.
GROWN_MARGIN = 0.3
#: Zoom-in: a new click in a window of more than this many image pixels per network pixel is also refined in a
#: focus window around it (:func:`polyseg.crop.focus_window`), ``ZOOM_FACTOR`` times closer to native resolution.
ZOOM_MIN_SCALE = 3.0
#: Share of the focus window's side, on each side, over which its answer fades into the object window's.
ZOOM_FEATHER = 0.15


@dataclass(frozen=True, eq=False)
class Prepared:
    """One object made ready for the network by :meth:`Segmenter.prepare`.

    Attributes
    ----------
    prompt : Prompt
        The prompt, checked against the image (points clipped onto it).
    window : CropWindow
        The image window the network sees, resized to ``window.size`` square.
    input : (C, S, S) float32
        The network input: the window's colour channels (0-255, in the weights' order) and the prompt channel.
    image_size : (height, width)
        Size of the image.
    """

    prompt: Prompt
    window: CropWindow
    input: np.ndarray
    image_size: tuple[int, int]


class Segmenter:
    """Segments objects from four extreme points or a box, with a U-Net run by OpenVINO on the CPU.

    Create it with :meth:`from_pretrained`. One instance may be shared by several threads. Use it as a context
    manager, or call :meth:`close`, to free the compiled network.

    Examples
    --------
    >>> seg = Segmenter.from_pretrained()
    >>> polygon = seg.polygon(image_rgb, [(x_left, y_left), (x_top, y_top), (x_right, y_right), (x_bottom, y_bottom)])
    """

    #: The model kind this class builds inputs for (:func:`polyseg.crop.network_input`), and their channels.
    KIND, INPUT_CHANNELS = "extreme_points", 4

    def __init__(self, network: Network) -> None:
        info = network.info
        if (info.kind, info.input_channels) != (self.KIND, self.INPUT_CHANNELS):
            raise ValueError(
                f"{getattr(network, 'path', 'the network')}: a Segmenter runs {self.KIND!r} models with "
                f"{self.INPUT_CHANNELS} input channels; this model_info says kind {info.kind!r} with "
                f"{info.input_channels} input channels"
            )
        self._network: Network | None = network
        self._refiner: Network | None = None
        self._refiner_source: str | Path | None = None  # what refine() loads on first use
        self._refiner_options: tuple[str, int | None, dict[str, str] | None] = ("CPU", None, None)
        self._refiner_lock = threading.Lock()

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        *,
        refiner: str | Path | None = None,
        device: str = "CPU",
        num_threads: int | None = None,
        config: dict[str, str] | None = None,
    ) -> Segmenter:
        """Load the bundled weights, or an IR at ``path``.

        Parameters
        ----------
        path : str or Path, optional
            An OpenVINO IR ``.xml`` (its ``.bin`` beside it). Default: the IR shipped inside the package.
        refiner : str or Path, optional
            The correction network's IR for :meth:`refine`, loaded on the first correction (so a Segmenter that
            never corrects starts as fast as before). Default: the correction IR shipped inside the package.
        device : str
            OpenVINO device name.
        num_threads : int, optional
            Threads OpenVINO may use (``INFERENCE_NUM_THREADS``); default: OpenVINO's choice. A labeling GUI
            may want 1 or 2 to keep its own thread responsive.
        config : dict, optional
            Further OpenVINO properties, e.g. ``{"EXECUTION_MODE_HINT": "ACCURACY"}`` for float32 everywhere.

        Raises
        ------
        TypeError
            If ``num_threads`` is not a whole number.
        FileNotFoundError
            If the model's ``.xml`` or ``.bin`` is missing (the message names the file).
        ValueError
            If the file is not a readable IR, not an ``"extreme_points"`` model (its ``model_info`` says), or
            ``num_threads`` is below 1.
        """
        seg = cls(Network(bundled_model_path() if path is None else path, device, num_threads, config))
        seg._refiner_source = refiner
        seg._refiner_options = (device, num_threads, config)
        return seg

    @property
    def info(self) -> ModelInfo:
        """The model's parameters (input size, margin, point radius, threshold, version), read from the IR."""
        return self.network.info

    @property
    def network(self) -> Network:
        """The compiled network: ``network(x)`` runs one :attr:`Prepared.input`, ``network.run_many(inputs,
        count)`` many on several CPU streams. Thread-safe.

        Raises
        ------
        RuntimeError
            If the Segmenter is closed.
        """
        if self._network is None:
            raise RuntimeError("this Segmenter is closed; create a new one with Segmenter.from_pretrained()")
        return self._network

    @property
    def refiner(self) -> Network:
        """The correction network (kind "correction"), loaded and compiled on first use. Thread-safe.

        Raises
        ------
        RuntimeError
            If the Segmenter is closed.
        FileNotFoundError, ValueError
            If the correction IR is missing, unreadable, or not a correction model.
        """
        self.network  # noqa: B018 (raises if closed)
        with self._refiner_lock:
            if self._refiner is None:
                source = self._refiner_source
                device, num_threads, config = self._refiner_options
                net = Network(bundled_model_path(BUNDLED_REFINER) if source is None else source, device, num_threads,
                              config)
                info = net.info
                if (info.kind, info.input_channels, info.input_size) != ("correction", 6, self.info.input_size):
                    raise ValueError(
                        f"{getattr(net, 'path', 'the refiner')}: refine() needs a 'correction' model with 6 input "
                        f"channels at {self.info.input_size}x{self.info.input_size}; its model_info says kind "
                        f"{info.kind!r}, {info.input_channels} channels, {info.input_size}x{info.input_size}"
                    )
                self._refiner = net
            return self._refiner

    @property
    def refiner_info(self) -> ModelInfo:
        """The correction network's parameters (loads it; see :attr:`refiner`)."""
        return self.refiner.info

    def close(self) -> None:
        """Free the compiled networks. Later calls raise ``RuntimeError``."""
        self._network = None
        self._refiner = None

    def __enter__(self) -> Segmenter:  # noqa: PYI034 (typing.Self needs Python 3.11)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one object --------------------------------------------------------------------------------------------

    def segment(
        self,
        image: np.ndarray,
        extreme_points: Any = None,
        *,
        box: Any = None,
        prompt: Prompt | None = None,
        positive: Any = (),
        negative: Any = (),
        image_format: str = "RGB",
        tolerance: float = 1.4,
    ) -> Segmentation:
        """Segment one object; with corrective clicks, the first answer refined by them (:meth:`refine`).

        Parameters
        ----------
        image : np.ndarray
            ``(H, W, 3)`` uint8 (RGB, or BGR with ``image_format="BGR"``), or ``(H, W)`` grayscale, or
            ``(H, W, 4)`` with alpha (dropped).
        extreme_points : array-like, shape (4, 2)
            The object's left-, top-, right- and bottom-most points as (x, y) pixel-centre coordinates, in any
            order.
        box : array-like, shape (4,)
            Instead of points: ``(x0, y0, x1, y1)``, the object's left-, top-, right- and bottom-most pixel
            coordinates (inclusive).
        prompt : Prompt
            Instead of either: a :class:`~polyseg.prompt.Prompt` (its clicks, if any, are corrections).
        positive, negative : array-like, shape (N, 2)
            Corrective clicks, (x, y) pixel centres: on parts the first answer missed, and on parts it wrongly
            took. Given, the first answer is refined by them in the same call (see :meth:`refine`).
        image_format : {"RGB", "BGR"}
            Channel order of ``image``.
        tolerance : float
            Polygon simplification tolerance in pixels (0 keeps every boundary pixel): no traced boundary pixel
            is further than this from the polygon, and each boundary is simplified no further than keeps 98 % IoU
            with its traced pixels (see :func:`polyseg.contours.simplify`).

        Returns
        -------
        Segmentation
        """
        rgb = self.prepare_image(image, image_format)
        tolerance = check_tolerance(tolerance)
        if prompt is None:
            prompt = Prompt(extreme_points, box, positive, negative)
        elif extreme_points is not None or box is not None:
            raise TypeError("give either a prompt or extreme_points / box, not both")
        elif len(point_array(positive, "positive clicks")) or len(point_array(negative, "negative clicks")):
            raise TypeError("give corrective clicks either in the prompt or as positive / negative, not both")
        h, w = rgb.shape[:2]
        prompt = prompt.inside(w, h)  # every click checked before any network runs
        first = Prompt(prompt.extreme_points, prompt.box)
        prepared = self.prepare(rgb, first)
        result = self.finish(prepared, self.network(prepared.input), tolerance)
        if not prompt.has_clicks:
            return result
        return self._refine(rgb, result, prompt, tolerance)

    def polygon(
        self,
        image: np.ndarray,
        extreme_points: Any = None,
        *,
        box: Any = None,
        image_format: str = "RGB",
        tolerance: float = 1.4,
    ) -> np.ndarray:
        """The object's outer boundary (its largest part) as an ``(N, 2)`` float64 array of (x, y) pixel-centre
        coordinates; ``(0, 2)`` if nothing was found. Arguments as for :meth:`segment`.

        ``cv2.fillPoly(m, [np.round(p).astype(np.int32)], 1)`` reproduces the predicted mask.
        """
        return self.segment(image, extreme_points, box=box, image_format=image_format, tolerance=tolerance).polygon

    def mask(
        self, image: np.ndarray, extreme_points: Any = None, *, box: Any = None, image_format: str = "RGB"
    ) -> np.ndarray:
        """The object's full-size ``(H, W)`` bool mask. Arguments as for :meth:`segment`."""
        return self.segment(image, extreme_points, box=box, image_format=image_format).mask

    def refine(
        self,
        image: np.ndarray,
        previous: Segmentation,
        *,
        positive: Any = (),
        negative: Any = (),
        image_format: str = "RGB",
        tolerance: float = 1.4,
        zoom: bool = False,
    ) -> Segmentation:
        """Correct an answer with clicks: the correction network, fed the image, the prompt's extreme points, every
        corrective click so far and the previous answer, gives a new one.

        Stateless: pass *all* corrective clicks so far each time (a server can replay them). The window is the
        previous answer's, grown to take in a positive click outside it; a negative click outside the window has
        nothing to remove there and is ignored.

        Parameters
        ----------
        image : np.ndarray
            The image ``previous`` was segmented on, as for :meth:`segment`.
        previous : Segmentation
            The answer to correct: from :meth:`segment` or :meth:`refine` on this image.
        positive, negative : array-like, shape (N, 2)
            Every corrective click so far, (x, y) pixel centres, in click order: positive ones on parts the
            answer missed, negative ones on parts it wrongly took. At least one click in all.
        image_format : {"RGB", "BGR"}
            Channel order of ``image``.
        tolerance : float
            Polygon simplification tolerance in pixels, as for :meth:`segment`.
        zoom : bool
            Zoom-in: where the object's window is coarse (a large object: more than ``ZOOM_MIN_SCALE`` image pixels
            per network pixel), also refine a window around each new click (one not in ``previous``'s prompt)
            ``ZOOM_FACTOR`` times closer to native resolution, and fade its answer into the object's. Off by
            default: with correction network 1.0, which was not trained on such windows, it cost clicks on large
            objects, and one trained for it gained nothing measurable (model card, "Version 1.0 through the public API").

        Returns
        -------
        Segmentation
            Its prompt holds the clicks; pass it as ``previous`` for the next correction.

        Raises
        ------
        TypeError
            If ``previous`` is not a Segmentation from this package's :meth:`segment` / :meth:`refine`.
        ValueError
            If there is no click, a click is NaN or lies outside the image, or ``previous`` was made on an image
            of another size.
        """
        rgb = self.prepare_image(image, image_format)
        tolerance = check_tolerance(tolerance)
        if not isinstance(previous, Segmentation):
            raise TypeError(f"previous must be a Segmentation from segment() or refine(), got {type(previous).__name__}")
        if previous.prompt is None or previous.window is None or previous.probabilities is None:
            raise TypeError("previous has no prompt, window or probabilities: pass a Segmentation from segment() or "
                            "refine(), not one built by hand")
        h, w = rgb.shape[:2]
        if tuple(previous.image_size) != (h, w):
            raise ValueError(f"previous was segmented on a {previous.image_size[1]}x{previous.image_size[0]} image, "
                             f"this one is {w}x{h}: refine on the same image")
        base = previous.prompt
        prompt = Prompt(base.extreme_points, base.box, positive, negative).inside(w, h)
        if not prompt.has_clicks:
            raise ValueError("refine needs at least one corrective click (positive or negative), got none")
        return self._refine(rgb, previous, prompt, tolerance, zoom=bool(zoom))

    def _refine(
        self, rgb: np.ndarray, previous: Segmentation, prompt: Prompt, tolerance: float, zoom: bool = False
    ) -> Segmentation:
        """The correction network on ``previous``'s window (grown for positive clicks outside it), and with
        ``zoom`` on a focus window around each new click where that window is coarse (:func:`_focus_windows`)."""
        info = self.refiner.info
        window = previous.window
        if not window.contains(prompt.positive).all():
            lo = np.minimum(prompt.bounds[:2], np.min(prompt.positive, axis=0))
            hi = np.maximum(prompt.bounds[2:], np.max(prompt.positive, axis=0))
            # a positive click outside marks a missed part that goes on beyond the click: take in a wide margin
            window = CropWindow.from_box(np.concatenate([lo, hi]), size=info.input_size,
                                         margin=max(info.margin, GROWN_MARGIN), min_margin=info.min_margin)
        prev = resample_map(previous.probabilities, previous.window, window)
        points = prompt.extreme_points
        positive = prompt.positive if points is None else np.concatenate([points, prompt.positive])
        negative = np.asarray(prompt.negative, np.float64).reshape(-1, 2)
        negative = negative[window.contains(negative)]
        x = correction_input(rgb, window, positive, negative, prev, info.click_radius)
        prepared = Prepared(prompt, window, x, rgb.shape[:2])
        prob = self.refiner(x)
        focus = _focus_windows(window, previous.prompt, prompt) if zoom else []
        if not focus:
            return self.finish(prepared, prob, tolerance)
        # Zoom-in: refine around each new click at closer to native resolution, and fade that into the answer.
        full = window.uncrop(prob)
        for f in focus:
            prev_f = resample_map(prob, window, f)
            xf = correction_input(rgb, f, positive, negative[f.contains(negative)], prev_f, info.click_radius)
            _paste(full, window, f.uncrop(self.refiner(xf)), f)
        return self._finish_full(prepared, full, tolerance)

    def _finish_full(self, prepared: Prepared, full: np.ndarray, tolerance: float) -> Segmentation:
        """:meth:`finish` for probabilities over the window at image resolution (``(height, width)`` float32):
        the same clean-up, on the full-resolution mask; the network-resolution probabilities kept for the next
        correction are this map resized to the network input."""
        threshold = self.info.threshold
        window, image_size = prepared.window, prepared.image_size
        rows, cols, wrows, wcols = window.clip(*image_size)
        inside = np.zeros_like(full)
        inside[wrows, wcols] = full[wrows, wcols]
        # the window's own pixels resized to the input (not the window cut out of them)
        probabilities = CropWindow(0, 0, window.width, window.height, window.size).crop(inside).astype(np.float32)
        full = full[wrows, wcols]
        offset = (cols.start, rows.start)
        positive, negative = _clicked(prepared.prompt)
        mask = clean_mask(full > threshold, keep_parts_at=positive - offset, keep_holes_at=negative - offset)
        parts = tuple(trace(mask, tolerance=tolerance, offset=offset, min_part_fraction=0.0, min_hole_area=0))
        score = float(np.minimum(full, mask).sum() / max(np.maximum(full, mask).sum(), 1e-6))
        return Segmentation(parts, mask, offset, image_size, score, prepared.prompt, window, probabilities)

    # --- many objects ------------------------------------------------------------------------------------------

    def segment_many(
        self,
        image: np.ndarray,
        prompts: Sequence[Any],
        *,
        image_format: str = "RGB",
        tolerance: float = 1.4,
    ) -> list[Segmentation]:
        """Segment many objects of one image, e.g. to pre-annotate existing boxes: all prompts are checked first,
        then the network runs on several CPU streams at once while the next inputs are built.

        Parameters
        ----------
        prompts : sequence
            One prompt per object: a :class:`~polyseg.prompt.Prompt`, or an array-like: ``(4, 2)`` is four
            extreme points, ``(4,)`` a box ``(x0, y0, x1, y1)`` (:meth:`Prompt.of`).

        Returns
        -------
        list of Segmentation, in the order of ``prompts``.

        Raises
        ------
        ValueError, TypeError
            If any prompt is bad; the message names its index.
        """
        rgb = self.prepare_image(image, image_format)
        tolerance = check_tolerance(tolerance)
        if isinstance(prompts, np.ndarray) and prompts.ndim in (2, 3):
            prompts = list(prompts)
        if not isinstance(prompts, Sequence) or isinstance(prompts, (str, bytes)):
            raise TypeError(f"prompts must be a sequence of (4, 2) points or (4,) boxes, got {type(prompts).__name__}")
        h, w = rgb.shape[:2]
        checked = []
        for i, prompt in enumerate(prompts):
            try:
                checked.append(self._check(Prompt.of(prompt), w, h))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"prompts[{i}]: {exc}") from None
        running: dict[int, Prepared] = {}  # objects in the network, by index

        def inputs():  # built while the network runs the earlier ones
            for i, prompt in enumerate(checked):
                running[i] = self.prepare(rgb, prompt)
                yield running[i].input

        results: list[Segmentation] = [None] * len(checked)  # type: ignore[list-item]
        for i, prob in self.network.run_many(inputs(), len(checked)):  # finish each while the others run
            results[i] = self.finish(running.pop(i), prob, tolerance)
        return results

    # --- the steps of one object ------------------------------------------------------------------------------

    def prepare_image(self, image: np.ndarray, image_format: str = "RGB") -> np.ndarray:
        """Check an image and return it as :meth:`prepare` takes it: ``(H, W, 3)`` uint8, C-contiguous, in the
        channel order the weights were trained on (``info.channel_order``).

        Parameters
        ----------
        image : np.ndarray
            As for :meth:`segment` (colour, grayscale or with alpha; uint8).
        image_format : {"RGB", "BGR"}
            Channel order of ``image``.
        """
        rgb = as_rgb_image(image, image_format)
        return np.ascontiguousarray(rgb[:, :, ::-1]) if self.info.channel_order == "BGR" else rgb

    def prepare(self, image: np.ndarray, prompt: Prompt) -> Prepared:
        """Check a prompt against an image and build the object's crop window and network input.

        Parameters
        ----------
        image : (H, W, 3) uint8
            An image from :meth:`prepare_image`.
        prompt : Prompt
            The object's prompt (checked here with :meth:`Prompt.inside`).

        Raises
        ------
        ValueError
            If the prompt does not fit the image, or holds clicks (the extreme-points model takes none).
        """
        h, w = image.shape[:2]
        prompt = self._check(prompt, w, h)
        info = self.info
        window = CropWindow.from_box(prompt.bounds, size=info.input_size, margin=info.margin,
                                     min_margin=info.min_margin)
        x = network_input(image, window, prompt.extreme_points, info.point_radius)
        return Prepared(prompt, window, x, (h, w))

    def _check(self, prompt: Prompt, width: int, height: int) -> Prompt:
        """The prompt checked against the image, and refused if it holds clicks (this model takes none)."""
        prompt = prompt.inside(width, height)
        if prompt.has_clicks:
            raise ValueError(f"this model (kind {self.KIND!r}) takes extreme points or a box, without clicks; got "
                             f"{len(prompt.positive)} positive and {len(prompt.negative)} negative clicks")
        return prompt

    def finish(self, prepared: Prepared, probabilities: np.ndarray, tolerance: float = 1.4) -> Segmentation:
        """The network's probabilities for a prepared object -> the object in the image.

        Spurious parts are dropped and pin holes filled on the network-resolution map (cheap), by editing the
        probabilities before they are resized to the window, so the full-resolution mask is thresholded and
        traced once. A correction (a prompt with clicks) keeps every part that holds one of its positive clicks or
        extreme points and every hole that holds a negative click, however small: what was clicked stays.

        Parameters
        ----------
        prepared : Prepared
            The object, from :meth:`prepare`.
        probabilities : (S, S) float32
            The network's output for ``prepared.input``.
        tolerance : float
            Polygon simplification tolerance in pixels, as for :meth:`segment`.

        Returns
        -------
        Segmentation
            With ``prompt``, ``window`` and ``probabilities`` (the network's output as given) kept.
        """
        threshold = self.info.threshold
        window, image_size = prepared.window, prepared.image_size
        prob = probabilities
        hard = prob > threshold
        positive, negative = _clicked(prepared.prompt)
        kept = clean_mask(hard, keep_parts_at=window.to_input(positive), keep_holes_at=window.to_input(negative))
        changed = kept != hard  # dropped parts (to 0) and filled pin holes (to 1)
        if changed.any():
            prob = np.where(changed, kept, prob).astype(np.float32)
        rows, cols, wrows, wcols = window.clip(*image_size)
        mask = window.uncrop(prob)[wrows, wcols] > threshold
        offset = (cols.start, rows.start)
        parts = tuple(trace(mask, tolerance=tolerance, offset=offset, min_part_fraction=0.0, min_hole_area=0))
        score = float(np.minimum(prob, kept).sum() / max(np.maximum(prob, kept).sum(), 1e-6))
        return Segmentation(parts, mask, offset, image_size, score, prepared.prompt, window, probabilities)


def _clicked(prompt: Prompt) -> tuple[np.ndarray, np.ndarray]:
    """Where a prompt with corrective clicks says foreground (its extreme points and positive clicks) and
    background (its negative clicks): two ``(N, 2)`` float64 arrays of image (x, y). Both empty for a prompt without
    clicks, so a first answer is cleaned as it always was; :meth:`Segmenter.finish` keeps the parts and holes
    clicked."""
    none = np.zeros((0, 2))
    if not prompt.has_clicks:
        return none, none
    positive = np.reshape(np.asarray(prompt.positive, np.float64), (-1, 2))
    if prompt.extreme_points is not None:
        positive = np.concatenate([np.asarray(prompt.extreme_points, np.float64), positive])
    return positive, np.reshape(np.asarray(prompt.negative, np.float64), (-1, 2))


def _focus_windows(window: CropWindow, before: Prompt | None, now: Prompt) -> list[CropWindow]:
    """The zoom-in's focus windows: one around each click of ``now`` that ``before`` did not have and that lies in
    ``window``, where ``window`` holds more than :data:`ZOOM_MIN_SCALE` image pixels per network pixel."""
    if max(window.width, window.height) / window.size <= ZOOM_MIN_SCALE:
        return []
    old = set() if before is None else {tuple(p) for p in (*before.positive, *before.negative)}
    clicks = np.concatenate([np.reshape(now.positive, (-1, 2)), np.reshape(now.negative, (-1, 2))])
    new = [p for p, inside in zip(clicks, window.contains(clicks)) if inside and tuple(p) not in old]
    return [focus_window(window, p, min_side=window.size) for p in new]


def _paste(full: np.ndarray, window: CropWindow, local: np.ndarray, focus: CropWindow) -> None:
    """Fade ``local`` (probabilities over the square ``focus`` at image resolution) into ``full`` (over
    ``window``), in place: weight 1 inside, falling linearly to 0 over :data:`ZOOM_FEATHER` of the side towards
    the focus window's edge."""
    x0, y0 = max(focus.x0, window.x0), max(focus.y0, window.y0)
    x1 = min(focus.x0 + focus.width, window.x0 + window.width)
    y1 = min(focus.y0 + focus.height, window.y0 + window.height)
    if x1 <= x0 or y1 <= y0:
        return
    i = np.arange(focus.width, dtype=np.float32)
    edge = np.clip(np.minimum(i + 0.5, focus.width - i - 0.5) / max(ZOOM_FEATHER * focus.width, 1.0), 0.0, 1.0)
    weight = np.minimum.outer(edge, edge)[y0 - focus.y0 : y1 - focus.y0, x0 - focus.x0 : x1 - focus.x0]
    part = full[y0 - window.y0 : y1 - window.y0, x0 - window.x0 : x1 - window.x0]
    part += weight * (local[y0 - focus.y0 : y1 - focus.y0, x0 - focus.x0 : x1 - focus.x0] - part)

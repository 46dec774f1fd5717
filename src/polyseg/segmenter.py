"""The public entry point: extreme points or a box in, polygon out; and the per-object steps it is made of.

One object goes through three public steps, which :meth:`Segmenter.segment`, :meth:`Segmenter.segment_many`, the
``annotate`` engine and the training evaluation all use:

1. :meth:`Segmenter.prepare_image`: check the image and put it in the channel order of the weights;
2. :meth:`Segmenter.prepare`: check the :class:`~polyseg.prompt.Prompt` against the image and build the object's
   crop window and network input (a :class:`Prepared`);
3. :meth:`Segmenter.finish`: the network's probabilities (from :attr:`Segmenter.network`) -> a
   :class:`~polyseg.result.Segmentation`, which keeps the prompt, the window and those probabilities for a later
   correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .contours import clean_mask, trace
from .crop import CropWindow, network_input
from .network import ModelInfo, Network, bundled_model_path
from .prompt import Prompt, as_rgb_image, check_tolerance
from .result import Segmentation


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

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        *,
        device: str = "CPU",
        num_threads: int | None = None,
        config: dict[str, str] | None = None,
    ) -> Segmenter:
        """Load the bundled weights, or an IR at ``path``.

        Parameters
        ----------
        path : str or Path, optional
            An OpenVINO IR ``.xml`` (its ``.bin`` beside it). Default: the IR shipped inside the package.
        device : str
            OpenVINO device name.
        num_threads : int, optional
            Threads OpenVINO may use (``INFERENCE_NUM_THREADS``); default: OpenVINO's choice. A labeling GUI
            may want 1 or 2 to keep its own thread responsive.
        config : dict, optional
            Further OpenVINO properties, e.g. ``{"EXECUTION_MODE_HINT": "ACCURACY"}`` for float32 everywhere.

        Raises
        ------
        FileNotFoundError
            If the model's ``.xml`` or ``.bin`` is missing (the message names the file).
        ValueError
            If the file is not a readable IR, or not an ``"extreme_points"`` model (its ``model_info`` says).
        """
        return cls(Network(bundled_model_path() if path is None else path, device, num_threads, config))

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

    def close(self) -> None:
        """Free the compiled network. Later calls raise ``RuntimeError``."""
        self._network = None

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
        image_format: str = "RGB",
        tolerance: float = 1.4,
    ) -> Segmentation:
        """Segment one object.

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
            Instead of either: a :class:`~polyseg.prompt.Prompt`.
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
            prompt = Prompt(extreme_points, box)
        elif extreme_points is not None or box is not None:
            raise TypeError("give either a prompt or extreme_points / box, not both")
        prepared = self.prepare(rgb, prompt)
        return self.finish(prepared, self.network(prepared.input), tolerance)

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
        traced once.

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
        kept = clean_mask(hard)
        changed = kept != hard  # dropped parts (to 0) and filled pin holes (to 1)
        if changed.any():
            prob = np.where(changed, kept, prob).astype(np.float32)
        rows, cols, wrows, wcols = window.clip(*image_size)
        mask = window.uncrop(prob)[wrows, wcols] > threshold
        offset = (cols.start, rows.start)
        parts = tuple(trace(mask, tolerance=tolerance, offset=offset, min_part_fraction=0.0, min_hole_area=0))
        score = float(np.minimum(prob, kept).sum() / max(np.maximum(prob, kept).sum(), 1e-6))
        return Segmentation(parts, mask, offset, image_size, score, prepared.prompt, window, probabilities)

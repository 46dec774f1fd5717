"""The public entry point: extreme points or a box in, polygon out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .contours import clean_mask, trace
from .crop import CropWindow, network_input
from .network import ModelInfo, Network, bundled_model_path
from .prompt import as_rgb_image, check_prompt, check_tolerance
from .result import Segmentation


class Segmenter:
    """Segments objects from four extreme points or a box, with a U-Net run by OpenVINO on the CPU.

    Create it with :meth:`from_pretrained`. One instance may be shared by several threads. Use it as a context
    manager, or call :meth:`close`, to free the compiled network.

    Examples
    --------
    >>> seg = Segmenter.from_pretrained()
    >>> polygon = seg.polygon(image_rgb, [(x_left, y_left), (x_top, y_top), (x_right, y_right), (x_bottom, y_bottom)])
    """

    def __init__(self, network: Network) -> None:
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
        TypeError
            If ``num_threads`` is not a whole number.
        FileNotFoundError
            If the model's ``.xml`` or ``.bin`` is missing (the message names the file).
        ValueError
            If the file is not a readable IR for this network, or ``num_threads`` is below 1.
        """
        return cls(Network(bundled_model_path() if path is None else path, device, num_threads, config))

    @property
    def info(self) -> ModelInfo:
        """The model's parameters (input size, margin, point radius, threshold, version), read from the IR."""
        return self._net.info

    @property
    def _net(self) -> Network:
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
        rgb = self._model_order(as_rgb_image(image, image_format))
        tolerance = check_tolerance(tolerance)
        points, window = self._prepare(rgb, extreme_points, box)
        prob = self._net(network_input(rgb, window, points, self.info.point_radius))
        return self._finish(prob, window, rgb.shape[:2], tolerance)

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
            One prompt per object: a ``(4, 2)`` array-like is four extreme points, a ``(4,)`` one is a box
            ``(x0, y0, x1, y1)``.

        Returns
        -------
        list of Segmentation, in the order of ``prompts``.

        Raises
        ------
        ValueError, TypeError
            If any prompt is bad; the message names its index.
        """
        rgb = self._model_order(as_rgb_image(image, image_format))
        tolerance = check_tolerance(tolerance)
        if isinstance(prompts, np.ndarray) and prompts.ndim in (2, 3):
            prompts = list(prompts)
        if not isinstance(prompts, Sequence) or isinstance(prompts, (str, bytes)):
            raise TypeError(f"prompts must be a sequence of (4, 2) points or (4,) boxes, got {type(prompts).__name__}")
        prepared = []
        for i, prompt in enumerate(prompts):
            try:
                try:
                    shape = np.shape(prompt) if not isinstance(prompt, (str, bytes)) else ()
                except ValueError:
                    raise TypeError("expected (4, 2) extreme points or a (4,) box, got a ragged sequence") from None
                if shape == (4, 2):
                    prepared.append(self._prepare(rgb, prompt, None))
                elif shape == (4,):
                    prepared.append(self._prepare(rgb, None, prompt))
                else:
                    raise ValueError(f"expected (4, 2) extreme points or a (4,) box, got shape {shape}")
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"prompts[{i}]: {exc}") from None
        radius = self.info.point_radius
        inputs = (network_input(rgb, w, p, radius) for p, w in prepared)
        results: list[Segmentation] = [None] * len(prepared)  # type: ignore[list-item]
        for i, prob in self._net.run_many(inputs, len(prepared)):  # finish each while the others run
            results[i] = self._finish(prob, prepared[i][1], rgb.shape[:2], tolerance)
        return results

    # --- shared steps ------------------------------------------------------------------------------------------

    def _model_order(self, rgb: np.ndarray) -> np.ndarray:
        """The image in the channel order the weights were trained on (``info.channel_order``)."""
        return np.ascontiguousarray(rgb[:, :, ::-1]) if self.info.channel_order == "BGR" else rgb

    def _prepare(self, rgb: np.ndarray, extreme_points: Any, box: Any) -> tuple[np.ndarray | None, CropWindow]:
        h, w = rgb.shape[:2]
        points, bbox = check_prompt(extreme_points, box, w, h)
        info = self.info
        return points, CropWindow.from_box(bbox, size=info.input_size, margin=info.margin, min_margin=info.min_margin)

    def _finish(self, prob: np.ndarray, window: CropWindow, image_size: tuple[int, int], tolerance: float) -> Segmentation:
        """Probabilities at network resolution -> the object in the image.

        Spurious parts are dropped and pin holes filled on the 128x128 map (cheap), by editing the probabilities
        before they are resized to the window, so the full-resolution mask is thresholded and traced once.
        """
        threshold = self.info.threshold
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
        return Segmentation(parts, mask, offset, image_size, score)

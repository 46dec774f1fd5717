"""The result of segmenting one object, and its conversion to labeling-tool formats: the one place each output
format is built (the CLI, the page, the CVAT interactor and ``polyseg annotate`` all call these).

Coordinates
-----------
``Segmentation`` keeps vertices in pixel-centre coordinates ((0, 0) is the centre of the top-left pixel). The
converters say which convention each format uses: COCO, YOLO and Label Studio use corner coordinates (pixel i
spans [i, i + 1)), so their vertices are shifted by +0.5; labelme and CVAT take pixel indices as they come from
``cv2.findContours``, so their vertices are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from .contours import Part
from .crop import CropWindow
from .prompt import Prompt

#: The ``version`` a labelme file written by polyseg states (the labelme file format it follows).
LABELME_VERSION = "5.5.0"


@dataclass(frozen=True)
class Segmentation:
    """One segmented object.

    Attributes
    ----------
    parts : tuple of Part
        The object's connected parts, largest first, each with its holes (see :class:`polyseg.contours.Part`).
    mask_crop : (h, w) bool
        The mask of the kept parts over the object's crop window (the part of it inside the image).
    offset : (x, y)
        Image column and row of ``mask_crop[0, 0]``.
    image_size : (height, width)
        Size of the image that was segmented.
    score : float
        Quality estimate in [0, 1]: the soft IoU between the probability map and its thresholded mask. Low
        values mean many uncertain pixels: a polygon worth reviewing.
    prompt : Prompt or None
        The prompt, as checked against the image.
    window : CropWindow or None
        The image window the network saw (``window.size`` square at network resolution).
    probabilities : (S, S) float32 or None
        The network's output over ``window`` at network resolution, before the clean-up of spurious parts:
        what a correction passes back to the network as the previous mask. (None: built by hand.)
    """

    parts: tuple[Part, ...]
    mask_crop: np.ndarray = field(repr=False)
    offset: tuple[int, int]
    image_size: tuple[int, int]
    score: float
    prompt: Prompt | None = field(default=None, repr=False)
    window: CropWindow | None = None
    probabilities: np.ndarray | None = field(default=None, repr=False)

    @property
    def polygon(self) -> np.ndarray:
        """``(N, 2)`` float64 outer boundary of the largest part, (x, y) pixel centres; ``(0, 2)`` if empty."""
        return self.parts[0].outer if self.parts else np.zeros((0, 2))

    @property
    def area(self) -> int:
        """Foreground pixels in the kept parts."""
        return sum(p.area for p in self.parts)

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """``(x, y, width, height)`` in whole pixels of the mask: columns x .. x + width - 1 and rows
        y .. y + height - 1. All zero if empty."""
        x, y, w, h = cv2.boundingRect(np.ascontiguousarray(self.mask_crop, dtype=np.uint8))  # of non-zero pixels
        if w == 0:
            return (0, 0, 0, 0)
        return (x + self.offset[0], y + self.offset[1], w, h)

    @property
    def mask(self) -> np.ndarray:
        """Full-size ``(height, width)`` bool mask of the kept parts (holes open)."""
        full = np.zeros(self.image_size, dtype=bool)
        x, y = self.offset
        h, w = self.mask_crop.shape
        full[y : y + h, x : x + w] = self.mask_crop
        return full

    # --- formats ---------------------------------------------------------------------------------------------

    def to_coco(self, *, category_id: int = 1, rle: bool = False) -> dict[str, Any]:
        """A COCO annotation (without ``id`` and ``image_id``).

        ``segmentation`` is a list of flat ``[x1, y1, x2, y2, ...]`` polygons, one per part, in corner
        coordinates. COCO polygons cannot express holes: with ``rle=True`` it is instead an uncompressed RLE
        ``{"counts": [...], "size": [height, width]}`` of the full mask, holes included.
        """
        if rle:
            segmentation: Any = _rle(self.mask)
        else:
            segmentation = [(p.outer + 0.5).round(2).ravel().tolist() for p in self.parts]
        return {
            "segmentation": segmentation,
            "bbox": [float(v) for v in self.bbox],
            "area": float(self.area),
            "category_id": category_id,
            "iscrowd": 0,
            "score": round(self.score, 4),
        }

    def to_coco_file(self, file_name: str, *, label: str = "object") -> dict[str, Any]:
        """A whole COCO instance file of this one object: ``images`` (id 1, ``file_name``, the image size),
        ``annotations`` (id 1, :meth:`to_coco` with category 1) and ``categories`` (1: ``label``)."""
        h, w = self.image_size
        return {
            "images": [{"id": 1, "file_name": file_name, "width": w, "height": h}],
            "annotations": [{"id": 1, "image_id": 1, **self.to_coco(category_id=1)}],
            "categories": [{"id": 1, "name": label}],
        }

    def to_yolo(self) -> list[float]:
        """A YOLO-seg polygon: ``[x1, y1, x2, y2, ...]`` of the largest part's outer boundary, corner coordinates
        normalised by the image width and height (clipped to [0, 1], 6 decimals); ``[]`` if empty."""
        h, w = self.image_size
        return ((self.polygon + 0.5) / (w, h)).clip(0, 1).round(6).ravel().tolist()

    def to_labelme(self, label: str = "object", group_id: int | None = None) -> list[dict[str, Any]]:
        """labelme shapes, one polygon per part; the parts of one object share ``group_id``."""
        if group_id is None and len(self.parts) > 1:
            group_id = 1
        return [
            {
                "label": label,
                "points": p.outer.round(2).tolist(),
                "group_id": group_id,
                "shape_type": "polygon",
                "flags": {},
                "description": "",
            }
            for p in self.parts
        ]

    def to_labelme_file(self, image_path: str, *, label: str = "object") -> dict[str, Any]:
        """A whole labelme JSON file of this object: :meth:`to_labelme` shapes, ``imagePath`` (no embedded
        image data), the image size and :data:`LABELME_VERSION`."""
        h, w = self.image_size
        return {
            "version": LABELME_VERSION, "flags": {}, "shapes": self.to_labelme(label), "imagePath": image_path,
            "imageData": None, "imageHeight": h, "imageWidth": w,
        }

    def to_cvat(self) -> dict[str, Any]:
        """What a CVAT interactor function answers: ``points``, the outer polygon of the largest part (pixel
        centres); ``mask``, rows of 0 (background) and 255 (object) over ``bounds``; ``bounds`` ``[x1, y1, x2,
        y2]``, inclusive pixel indices of the mask's first and last column and row.

        The values are those of CVAT's own interactors (its HRNet and IOG functions and its SAM plugin write
        0/255); cvat-ui reads the mask with ``mask2Rle`` and places it by ``bounds`` (a mask of ``y2 - y1 + 1``
        rows of ``x2 - x1 + 1`` values). Nothing found gives ``points == []`` and a 1 x 1 background mask at
        ``bounds == [0, 0, 0, 0]``: a shape CVAT can place, from which the UI creates nothing.
        """
        if not self.parts:
            return {"points": [], "mask": [[0]], "bounds": [0, 0, 0, 0]}
        x, y, w, h = self.bbox
        return {
            "points": self.polygon.round(2).tolist(),
            "mask": (self.mask[y : y + h, x : x + w].astype(np.uint8) * 255).tolist(),
            "bounds": [x, y, x + w - 1, y + h - 1],
        }

    def to_label_studio(
        self, width: int, height: int, *, label: str = "object", from_name: str = "label", to_name: str = "image"
    ) -> dict[str, Any]:
        """A Label Studio ``polygonlabels`` result: points in percent of the image size (corner coordinates)."""
        if width <= 0 or height <= 0:
            raise ValueError(f"width and height must be positive, got {width} x {height}")
        pts = (self.polygon + 0.5) / (width, height) * 100.0
        return {
            "type": "polygonlabels",
            "from_name": from_name,
            "to_name": to_name,
            "original_width": width,
            "original_height": height,
            "image_rotation": 0,
            "value": {"points": pts.round(4).tolist(), "polygonlabels": [label], "closed": True},
            "score": round(self.score, 4),
        }


def _rle(mask: np.ndarray) -> dict[str, Any]:
    """Uncompressed COCO RLE: run lengths of the column-major flattened mask, starting with a 0-run."""
    flat = mask.ravel(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"counts": counts, "size": [int(mask.shape[0]), int(mask.shape[1])]}

"""One rectangle, one meaning: the same box drawn in CVAT, in Label Studio or stored in a data set reaches the
segmenter as the same prompt.

Every tool gives a rectangle by its edges in corner coordinates (pixel i spans [i, i + 1)): CVAT's canvas takes
a rectangle's points from the SVG box (``cvat-canvas/src/typescript/interactionHandler.ts``: ``[x, y, x + width,
y + height]``) and exports it as ``Bbox(x0, y0, x1 - x0, y1 - y0)`` (``cvat/apps/dataset_manager/bindings.py``),
as COCO, YOLO and Label Studio do. The segmenter wants the object's first and last pixel (inclusive pixel
centres), so edges ``(10, 20, 110, 70)`` -- columns 10 .. 109, rows 20 .. 69 -- become ``(10, 20, 109, 69)``.
"""

from __future__ import annotations

import numpy as np
import pytest

from polyseg.annotate.formats import pixel_box
from polyseg.serve import cvat
from polyseg.serve.label_studio import read_prompt
from serve_support import encode_b64

WIDTH, HEIGHT = 200, 100
EDGES = (10, 20, 110, 70)  # left, top, right, bottom: columns 10 .. 109, rows 20 .. 69
PIXELS = [10, 20, 109, 69]  # the first and last column and row


class Asked(Exception):
    """Raised by :class:`Recorder` once it has seen the prompt."""


class Recorder:
    """Stands in for a Segmenter: records the prompt it is asked to segment, then stops the request."""

    def segment(self, image, *, prompt, **kwargs):
        self.prompt = prompt
        raise Asked


def test_a_cvat_rectangle_is_read_by_its_edges():
    left, top, right, bottom = EDGES
    body = {"image": encode_b64(np.zeros((HEIGHT, WIDTH, 3), np.uint8)), "pos_points": [], "neg_points": [],
            "obj_bbox": [[left, top], [right, bottom]]}  # as views.py cuts it from pos_points (startswith_box)
    recorder = Recorder()
    with pytest.raises(Asked):
        cvat.interact(recorder, body)
    assert recorder.prompt.extreme_points is None
    assert recorder.prompt.box.tolist() == PIXELS


def test_a_label_studio_rectangle_is_read_by_its_edges():
    left, top, right, bottom = EDGES
    region = {"type": "rectanglelabels", "original_width": WIDTH, "original_height": HEIGHT,
              "value": {"x": left * 100 / WIDTH, "y": top * 100 / HEIGHT, "width": (right - left) * 100 / WIDTH,
                        "height": (bottom - top) * 100 / HEIGHT, "rectanglelabels": ["car"]}}
    prompt = read_prompt({"result": [region]}).prompt
    assert prompt.extreme_points is None
    assert prompt.box.round(9).tolist() == PIXELS


def test_a_data_set_box_is_read_by_its_edges():
    box, why = pixel_box(EDGES, WIDTH, HEIGHT, normalised=False)
    assert why == ""
    assert box.tolist() == PIXELS

"""The try-it page's protocol (``POST /api/segment`` of ``polyseg serve``), framework-free like
:mod:`polyseg.serve.cvat` and :mod:`polyseg.serve.label_studio`.

Request (what ``static/page.js`` sends)::

    {"image": "<base64 or data: URI of the image file>", "points": [[x, y], ...] | null,
     "negative": [[x, y], ...] | null, "box": [x0, y0, x1, y1] | null, "tolerance": 1.4, "label": "object",
     "file_name": "image.jpg"}

``points`` are every positive click so far and ``negative`` every negative one, in click order and pixel-centre
coordinates; ``box`` is the dragged box's first and last pixel (pixel centres, inclusive: the page converts the
mouse position itself), not a tool's edges. Which of them is the prompt is :func:`polyseg.prompt.tool_prompt`'s
rule, as for CVAT and Label Studio: the first four points are the extreme points (or the box is the prompt), the
other clicks corrections, replayed with the first answer in one :meth:`polyseg.Segmenter.segment`.

Answer: the polygon, its parts (outer boundary and holes), score, area, bbox, image size and tolerance, the
``prompt`` as it was read (``extreme_points`` or ``box``, and the ``positive`` and ``negative`` corrections), and
ready-to-save ``files``: a COCO instance file, a labelme file and the CVAT interactor answer (None when nothing
was found), each built by :class:`polyseg.result.Segmentation`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..prompt import Prompt, tool_prompt
from ..segmenter import Segmenter
from . import requests as rq


def segment(segmenter: Segmenter, body: bytes | dict[str, Any]) -> dict[str, Any]:
    """Answer one page request (see the module docstring).

    Raises
    ------
    BadRequest
        For a malformed body, bad base64, an image that does not decode, fewer than four points and no box, too
        many clicks, a bad tolerance, or a prompt that does not fit the image; the message is one line.
    """
    data = rq.parse_json(body)
    if "image" not in data:
        raise rq.BadRequest("missing 'image' (base64 of the image file)")
    points = rq.point_list(data.get("points"), "points")
    negative = rq.point_list(data.get("negative"), "negative")
    box = rq.box(data.get("box"))
    try:
        prompt = tool_prompt(points, box, negative=negative, points_name="points", box_name="box")
    except ValueError as exc:
        raise rq.BadRequest(str(exc)) from None
    tolerance = rq.tolerance(data.get("tolerance"))
    label = str(data.get("label") or "object")
    file_name = str(data.get("file_name") or "image.jpg")
    image = rq.decode_image(rq.decode_base64(data["image"]))
    seg = rq.segment(segmenter, image, prompt, tolerance)
    rq.check_answer(seg)
    h, w = seg.image_size
    return {
        "polygon": seg.polygon.round(2).tolist(),
        "parts": [{"outer": p.outer.round(2).tolist(), "holes": [hole.round(2).tolist() for hole in p.holes]}
                  for p in seg.parts],
        "score": round(seg.score, 4),
        "area": seg.area,
        "bbox": list(seg.bbox),
        "image_size": [h, w],
        "tolerance": tolerance,
        "prompt": prompt_json(seg.prompt),
        "files": {
            "coco": seg.to_coco_file(file_name, label=label),
            "labelme": seg.to_labelme_file(file_name, label=label),
            "cvat": seg.to_cvat() if seg.parts else None,
        },
    }


def prompt_json(prompt: Prompt) -> dict[str, Any]:
    """A prompt as the page's answer gives it: ``extreme_points`` or ``box`` (the other None), ``positive`` and
    ``negative`` (lists of ``[x, y]``), pixel centres rounded to 0.01 px."""

    def rounded(values: np.ndarray | None) -> list | None:
        return None if values is None else values.round(2).tolist()

    return {"extreme_points": rounded(prompt.extreme_points), "box": rounded(prompt.box),
            "positive": rounded(prompt.positive), "negative": rounded(prompt.negative)}

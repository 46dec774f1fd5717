"""The CVAT interactor contract (API version 2, as CVAT's DEXTR, IOG and HRNet functions).

Request (what ``cvat/apps/lambda_manager/views.py`` of cvat-ai/cvat POSTs to an interactor function)::

    {"image": "<base64 of the frame file>", "pos_points": [[x, y], ...], "neg_points": [[x, y], ...],
     "obj_bbox": [[x1, y1], [x2, y2]] | [x1, y1, x2, y2] | null, "threshold": 0.5 (optional)}

Response (``InteractorResults`` of cvat-core ``lambda-manager.ts``, read by ``tools-control.tsx`` of cvat-ui)::

    {"mask": [[0, 1, ...], ...], "bounds": [x1, y1, x2, y2], "points": [[x, y], ...]}

``mask`` covers ``bounds`` (inclusive pixel indices); with ``points`` present the UI uses our polygon instead
of tracing the mask itself. Points are frame pixels, taken as polyseg's pixel-centre coordinates, and the
polygon comes back the same way (as ``Segmentation.to_cvat``). ``neg_points`` and ``threshold`` are accepted
and ignored: the model takes four extreme points or a box.

This module needs only polyseg: the nuclio function in ``integrations/cvat`` and ``polyseg serve`` share it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..result import Segmentation
from ..segmenter import Segmenter
from . import requests as rq

#: Size limit of a request body, as CVAT's own functions set (``maxRequestBodySize: 33554432``).
MAX_BODY_BYTES = 32 * 1024 * 1024


def interactor_response(seg: Segmentation) -> dict[str, Any]:
    """The CVAT interactor answer for one segmentation: a 0/1 ``mask`` over ``bounds`` and the ``points``.

    Raises
    ------
    BadRequest
        (422) If nothing was segmented: CVAT needs a non-empty mask.
    """
    if not seg.parts:
        raise rq.BadRequest("no object found at these points", status=422)
    x, y, w, h = seg.bbox
    return {
        "mask": seg.mask[y : y + h, x : x + w].astype(np.uint8).tolist(),
        "bounds": [x, y, x + w - 1, y + h - 1],
        "points": seg.polygon.round(2).tolist(),
    }


def interact(segmenter: Segmenter, body: bytes | str | dict[str, Any], *, tolerance: float = 1.4) -> dict[str, Any]:
    """Answer one CVAT interactor request.

    Four or more positive points are the extreme points (the outermost four of them are used); with fewer, a
    box in ``obj_bbox`` is used.

    Raises
    ------
    BadRequest
        For a malformed body, bad base64, an image that does not decode or has too many pixels, too few points
        and no box, points outside the image, or a mask too large to answer with; the message is one line.
    """
    data = rq.parse_json(body)
    if "image" not in data:
        raise rq.BadRequest("missing 'image' (base64 of the frame)")
    pos = rq.point_list(data.get("pos_points"), "pos_points")
    rq.point_list(data.get("neg_points"), "neg_points")  # checked, not used
    bbox = rq.box(data.get("obj_bbox"), "obj_bbox")
    if len(pos) < 4 and bbox is None:
        raise rq.BadRequest(f"need at least 4 positive points (the object's extreme points) or obj_bbox, got {len(pos)}")
    image = rq.decode_image(rq.decode_base64(data["image"]))
    points = rq.extremes(pos) if len(pos) >= 4 else None
    try:
        seg = segmenter.segment(image, points, box=None if points is not None else bbox, image_format="BGR",
                                tolerance=tolerance)
    except (TypeError, ValueError) as exc:
        raise rq.BadRequest(str(exc)) from None
    rq.check_answer(seg)
    return interactor_response(seg)

"""The CVAT interactor contract (API version 2, as CVAT's DEXTR, IOG and HRNet functions).

Request (what ``cvat/apps/lambda_manager/views.py`` of cvat-ai/cvat POSTs to an interactor function)::

    {"image": "<base64 of the frame file>", "pos_points": [[x, y], ...], "neg_points": [[x, y], ...],
     "obj_bbox": [[x1, y1], [x2, y2]] | [x1, y1, x2, y2] | null, "threshold": 0.5 (optional)}

Response (``InteractorResults`` of cvat-core ``lambda-manager.ts``, read by ``tools-control.tsx`` of cvat-ui)::

    {"mask": [[0, 255, ...], ...], "bounds": [x1, y1, x2, y2], "points": [[x, y], ...]}

``mask`` covers ``bounds`` (inclusive pixel indices); with ``points`` present the UI uses our polygon instead
of tracing the mask itself. Points are frame pixels, taken as polyseg's pixel-centre coordinates, and the
polygon comes back the same way (as ``Segmentation.to_cvat``). ``obj_bbox`` is a rectangle of CVAT's canvas,
given by its edges: cvat-canvas's ``interactionHandler.ts`` takes ``[x, y, x + width, y + height]`` of the drawn
SVG box, and CVAT exports rectangles as ``Bbox(x0, y0, x1 - x0, y1 - y0)`` (``dataset_manager/bindings.py``),
COCO's convention; it becomes a box prompt by :func:`polyseg.prompt.box_from_edges`, as Label Studio's
rectangles and data-set boxes do. ``threshold`` is accepted and ignored.

Corrections: CVAT sends every point of the interaction each time, the positive ones (left clicks) and the negative
ones (right clicks, which cvat-canvas's ``interactionHandler.ts`` adds only when the function's ``min_neg_points``
is 0 or more) in two lists, so the order between the lists is lost. :func:`polyseg.prompt.tool_prompt` reads them:
the first four positive points are the extreme points (or ``obj_bbox`` is the box), later positive points and all
negative points are corrective clicks, and the whole interaction is replayed in one
:meth:`polyseg.Segmenter.segment` (the first answer, refined by the corrections).

This module needs only polyseg: the nuclio function in ``integrations/cvat`` and ``polyseg serve`` share it.
"""

from __future__ import annotations

from typing import Any

from ..prompt import box_from_edges, tool_prompt
from ..result import Segmentation
from ..segmenter import Segmenter
from . import requests as rq

#: Size limit of a request body, as CVAT's own functions set (``maxRequestBodySize: 33554432``).
MAX_BODY_BYTES = 32 * 1024 * 1024


def interactor_response(seg: Segmentation) -> dict[str, Any]:
    """The CVAT interactor answer for one segmentation: :meth:`Segmentation.to_cvat` (0/255 ``mask`` over
    ``bounds``, and ``points``).

    Raises
    ------
    BadRequest
        (422) If nothing was segmented, so that the annotator sees why no shape appeared.
    """
    if not seg.parts:
        raise rq.BadRequest("no object found at these points", status=422)
    return seg.to_cvat()


def interact(segmenter: Segmenter, body: bytes | str | dict[str, Any], *, tolerance: float = 1.4) -> dict[str, Any]:
    """Answer one CVAT interactor request.

    The prompt is :func:`polyseg.prompt.tool_prompt` of ``pos_points``, ``neg_points`` and ``obj_bbox`` (read by
    its edges): with a box, every point is a correction; without one, the first four positive points are the
    extreme points and later positive points, like all negative ones, are corrections.

    Raises
    ------
    BadRequest
        For a malformed body, bad base64, an image that does not decode or has too many pixels, too few positive
        points and no box, too many points, points outside the image, or a mask too large to answer with; the
        message is one line.
    """
    data = rq.parse_json(body)
    if "image" not in data:
        raise rq.BadRequest("missing 'image' (base64 of the frame)")
    pos = rq.point_list(data.get("pos_points"), "pos_points")
    neg = rq.point_list(data.get("neg_points"), "neg_points")
    edges = rq.box(data.get("obj_bbox"), "obj_bbox")
    try:
        prompt = tool_prompt(pos, None if edges is None else box_from_edges(edges), negative=neg,
                             points_name="pos_points", box_name="obj_bbox")
    except ValueError as exc:
        raise rq.BadRequest(str(exc)) from None
    image = rq.decode_image(rq.decode_base64(data["image"]))
    seg = rq.segment(segmenter, image, prompt, tolerance)
    rq.check_answer(seg)
    return interactor_response(seg)

"""polyseg as a CVAT interactor: the nuclio entry points ``init_context(context)`` and ``handler(context, event)``.

The pattern is that of CVAT's own interactors (``serverless/openvino/dextr/nuclio/main.py`` and
``serverless/pytorch/saic-vul/hrnet/nuclio/main.py`` of cvat-ai/cvat): the model is loaded once per worker in
``init_context``; ``event.body`` is the JSON body CVAT's lambda manager sends (a dict, or bytes if it was not
sent as JSON). The contract itself lives in :mod:`polyseg.serve.cvat`, shared with ``polyseg serve``.
"""

from __future__ import annotations

import json
import os

from polyseg import Segmenter
from polyseg.serve.cvat import interact
from polyseg.serve.requests import BadRequest


def init_context(context) -> None:
    """Load the bundled model once per nuclio worker (one Segmenter is thread-safe)."""
    threads = os.environ.get("POLYSEG_THREADS")
    context.user_data.segmenter = Segmenter.from_pretrained(num_threads=int(threads) if threads else None)
    context.user_data.tolerance = float(os.environ.get("POLYSEG_TOLERANCE", "1.4"))
    context.logger.info("polyseg ready")


def _json(context, body: dict, status: int):
    return context.Response(body=json.dumps(body, separators=(",", ":")), headers={},
                            content_type="application/json", status_code=status)


def handler(context, event):
    """Answer one interactor request: ``{"mask", "bounds", "points"}`` (200) or ``{"error": "one line"}`` (4xx)."""
    try:
        answer = interact(context.user_data.segmenter, event.body, tolerance=context.user_data.tolerance)
    except BadRequest as exc:
        context.logger.info(f"bad request: {exc}")  # nuclio_sdk.Logger has warn(), not warning()
        return _json(context, {"error": str(exc)}, exc.status)
    except Exception as exc:  # noqa: BLE001 (never a trace to the client; the log keeps it)
        context.logger.error(f"polyseg failed: {exc!r}")
        return _json(context, {"error": "internal error"}, 500)
    return _json(context, answer, 200)

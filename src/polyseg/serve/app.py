"""The ASGI application of ``polyseg serve`` (Starlette): the try-it page, the CVAT interactor contract and,
optionally, the Label Studio ML backend protocol, all answered by one shared :class:`~polyseg.Segmenter`.

Routes
------
- ``GET /`` the page (with ``label_studio=True``: the health answer, as label-studio-ml's ``/``)
- ``GET /page``, ``GET /static/...`` the page and its files (served locally, no CDN)
- ``GET /health`` ``{"status": "UP", "model_class": "polyseg", "model_version": ...}``
- ``POST /api/segment`` the page's request: base64 image, points or box and corrective clicks, tolerance ->
  polygon, the prompt as read, and files (:mod:`polyseg.serve.page`)
- ``POST /api/cvat`` the CVAT interactor contract (:mod:`polyseg.serve.cvat`)
- ``POST /setup``, ``POST /predict``, ``POST /webhook``, ``GET /metrics`` with ``label_studio=True``
  (:mod:`polyseg.serve.label_studio`)

Every request body is read with a size limit (the ``Content-Length`` is checked first, then the stream is cut
off at the limit); decoding, the network and the JSON encoding of the answer run in a worker thread, never in
the event loop. Bad input gets a 4xx ``{"error": "one line"}``; an unexpected failure a 500
``{"error": "internal error"}`` (the trace goes to the server's log only).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, cast

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..segmenter import Segmenter
from . import cvat, page
from . import requests as rq
from .label_studio import ImageLoader, LabelStudioBackend

log = logging.getLogger("polyseg.serve")

STATIC = Path(str(resources.files("polyseg.serve") / "static"))
MAX_BODY_BYTES = cvat.MAX_BODY_BYTES


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes (from
    ``Content-Length`` before anything is read, else while streaming)."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise rq.BadRequest("bad Content-Length header")
        if int(length) > limit:
            raise rq.BadRequest(f"request body larger than {limit} bytes", status=413)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise rq.BadRequest(f"request body larger than {limit} bytes", status=413)
            chunks.append(chunk)
    except ClientDisconnect:  # gone, or cut off by the server's read deadline: nobody to answer
        raise rq.BadRequest("the connection closed before the whole body came") from None
    return b"".join(chunks)


class AuthMiddleware:
    """Optional bearer-token or HTTP basic authentication for every route but the page and its files.

    Label Studio sends basic auth to ML backends (``auth_method: BASIC_AUTH``); other clients may send
    ``Authorization: Bearer <token>``. Either configured credential is accepted.
    """

    def __init__(self, app: ASGIApp, token: str | None, basic: tuple[str, str] | None, public: Callable[[str], bool]):
        self.app, self.token, self.basic, self.public = app, token, basic, public

    def _ok(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if self.token and scheme.lower() == "bearer":
            return hmac.compare_digest(value.strip().encode(), self.token.encode())
        if self.basic and scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return False
            return hmac.compare_digest(user.encode(), self.basic[0].encode()) & hmac.compare_digest(
                password.encode(), self.basic[1].encode())
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (not self.token and not self.basic) or self.public(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self._ok(headers.get(b"authorization", b"").decode("latin-1")):
            await self.app(scope, receive, send)
            return
        challenge = {"WWW-Authenticate": 'Basic realm="polyseg"'} if self.basic else {}
        await JSONResponse({"error": "unauthorized"}, 401, headers=challenge)(scope, receive, send)


def create_app(
    segmenter: Segmenter | None = None,
    *,
    label_studio: bool = False,
    loader: ImageLoader | None = None,
    token: str | None = None,
    basic_auth: tuple[str, str] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    tolerance: float = 1.4,
) -> Starlette:
    """Build the application.

    Parameters
    ----------
    segmenter : Segmenter, optional
        Shared by all requests (it is thread-safe); default: the bundled model, closed when the app stops.
    label_studio : bool
        Answer the Label Studio ML backend protocol (``/`` then answers the health check).
    loader : ImageLoader, optional
        How Label Studio task images are fetched; default: ``LABEL_STUDIO_URL`` / ``LABEL_STUDIO_API_KEY`` from
        the environment, no local files.
    token, basic_auth : optional
        Require ``Authorization: Bearer <token>`` or basic auth ``(user, password)`` on every route but the page.
    max_body_bytes : int
        Largest request body accepted (413 above it).
    tolerance : float
        Polygon tolerance for CVAT and Label Studio answers (the page sends its own).
    """
    own = segmenter is None
    seg = Segmenter.from_pretrained() if segmenter is None else segmenter
    backend = LabelStudioBackend(seg, loader or ImageLoader.from_env(), tolerance=tolerance)
    health = {"status": "UP", "model_class": "polyseg", "model_version": backend.model_version}

    async def run(fn: Callable[..., Any], request: Request, status: int = 200) -> Response:
        body = await read_body(request, max_body_bytes)
        content = await run_in_threadpool(lambda: _json_bytes(fn(body)))
        return Response(content, status, media_type="application/json")

    async def page_route(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def health_route(request: Request) -> Response:
        return JSONResponse(health)

    async def segment_route(request: Request) -> Response:
        return await run(lambda body: page.segment(seg, body), request)

    async def cvat_route(request: Request) -> Response:
        return await run(lambda body: cvat.interact(seg, body, tolerance=tolerance), request)

    async def setup_route(request: Request) -> Response:
        return await run(backend.setup, request)

    async def predict_route(request: Request) -> Response:
        return await run(backend.predict, request)

    async def webhook_route(request: Request) -> Response:
        await read_body(request, max_body_bytes)
        return JSONResponse({"status": "ok", "result": "polyseg does not train from annotations"}, 201)

    async def metrics_route(request: Request) -> Response:
        return JSONResponse({})

    routes = [
        Route("/", health_route if label_studio else page_route),
        Route("/page", page_route),
        Route("/health", health_route),
        Route("/api/segment", segment_route, methods=["POST"]),
        Route("/api/cvat", cvat_route, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    if label_studio:
        routes += [
            Route("/setup", setup_route, methods=["POST"]),
            Route("/predict", predict_route, methods=["POST"]),
            Route("/webhook", webhook_route, methods=["POST"]),
            Route("/metrics", metrics_route),
        ]

    async def bad_request(request: Request, exc: Exception) -> Response:
        exc = cast(rq.BadRequest, exc)
        log.info("%s %s -> %d %s", request.method, request.url.path, exc.status, exc)
        return JSONResponse({"error": str(exc)}, exc.status)

    async def http_error(request: Request, exc: Exception) -> Response:
        exc = cast(HTTPException, exc)
        return JSONResponse({"error": " ".join(str(exc.detail).split())}, exc.status_code, headers=exc.headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"error": "internal error"}, 500)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        if own:
            seg.close()

    def public(path: str) -> bool:
        return path in ("/page", "/favicon.ico") or path.startswith("/static/") or (path == "/" and not label_studio)

    app = Starlette(
        routes=routes,
        exception_handlers={rq.BadRequest: bad_request, HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.add_middleware(AuthMiddleware, token=token, basic=basic_auth, public=public)
    app.state.segmenter = seg
    app.state.version = __version__
    return app

"""Label Studio ML backend: interactive pre-annotation with smart ``KeyPointLabels`` / ``RectangleLabels`` tools.

Protocol (routes and payloads of ``label_studio_ml/api.py`` in HumanSignal/label-studio-ml-backend, and of the
caller, ``label_studio/ml/api_connector.py`` and ``ml/models.py`` of the ``label-studio`` 1.23 package):

- ``POST /setup`` ``{"project": "12.1700000000", "schema": "<View>...", ...}`` -> ``{"model_version": ...}``
- ``POST /predict`` ``{"tasks": [...], "label_config": "<View>...", "params": {"context": {"result": [...]}}}``
  -> ``{"results": [{"result": [...], "score": s, "model_version": v}, ...]}``, one entry per task. Label Studio's
  interactive view takes ``results[0]`` and rejects an empty list, so a task without a usable prompt gets an
  entry with an empty ``result``.

The context holds smart regions, in percent of the image (``original_width`` / ``original_height`` give the pixel
size). The labeling UI sends, each time a smart region is drawn, moved or deleted, every smart region of the same
kind and label on that image, in the annotation's order (``getConnectedDynamicRegions`` in the editor's
``mixins/Regions.js``): all the keypoints of a label so far, or its rectangles. A keypoint Alt-clicked with the
smart tool is negative, ``"is_positive": false`` at the top level of its result item (``serialize`` of
``regions/KeyPointRegion.jsx``; label-studio-ml-backend's SAM examples read it there). Which regions are the prompt
is :func:`polyseg.prompt.tool_prompt`'s rule, as for CVAT and the page: the first four positive keypoints are the
extreme points, later ones and every negative keypoint corrections; a rectangle is a box, and every keypoint sent
with it a correction (the UI sends a rectangle and keypoints together only if a client puts both in one context);
fewer than four positive keypoints and no rectangle give an empty result. The answer is one ``polygonlabels``
region in percent, for the first ``PolygonLabels`` tag of the labeling config, with the label the annotator chose
and the model's score.

Images: task URLs on the Label Studio instance (``/data/upload/...``, or absolute URLs of its origin: the same
scheme, host and port) are fetched from ``LABEL_STUDIO_URL`` with ``LABEL_STUDIO_API_KEY`` (``Authorization:
Token`` for a legacy token, ``Bearer`` for a JWT, as ``label_studio_sdk/_extensions/label_studio_tools/core/utils/
io.py`` does), and the key never follows a redirect to another origin; other http(s) URLs are fetched without
credentials; ``data:`` URIs are decoded; local file paths are read when they lie under
``image_root``.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..imageio import FileTooLargeError, read_regular_file
from ..prompt import NoPrompt, Prompt, box_from_edges, tool_prompt
from ..segmenter import Segmenter
from . import requests as rq

#: Largest image the backend downloads.
MAX_IMAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class LabelConfig:
    """What the backend needs from a labeling config: the image's data key and the polygon tag's names."""

    image_key: str
    polygon_from: str
    polygon_to: str

    @classmethod
    def parse(cls, xml: Any) -> LabelConfig:
        """Read a ``<View>`` labeling config.

        Raises
        ------
        BadRequest
            If it is not XML or lacks an ``Image`` or a ``PolygonLabels`` tag.
        """
        if not isinstance(xml, str) or not xml.strip():
            raise rq.BadRequest("label_config is missing")
        try:
            root = ET.fromstring(xml)
        except ET.ParseError as exc:
            raise rq.BadRequest(f"label_config is not valid XML: {exc}") from None
        tags = {el.tag.lower(): el for el in reversed(list(root.iter()))}  # first of each kind wins
        image, polygon = tags.get("image"), tags.get("polygonlabels")
        if image is None or polygon is None:
            raise rq.BadRequest("label_config needs an <Image> and a <PolygonLabels> tag")
        return cls(
            image_key=image.get("value", "$image").lstrip("$"),
            polygon_from=polygon.get("name", "polygon"),
            polygon_to=polygon.get("toName", image.get("name", "image")),
        )


@dataclass(frozen=True)
class ContextPrompt:
    """The prompt read from a context (pixel-centre coordinates of the original image), the label and the
    original image size."""

    prompt: Prompt
    label: str | None
    width: int
    height: int


def read_prompt(context: Any) -> ContextPrompt | None:
    """The prompt of an interactive context: :func:`polyseg.prompt.tool_prompt` of the positive keypoints, the
    negative ones (``"is_positive": false``) and the last rectangle (read by its edges), converted from percent to
    pixel-centre coordinates; ``None`` when there is no usable prompt (fewer than four positive keypoints and no
    rectangle).

    Raises
    ------
    BadRequest
        For regions without a usable image size or coordinates, a keypoint whose ``is_positive`` is not true or
        false, or more clicks than :data:`polyseg.prompt.MAX_TOOL_CLICKS`.
    """
    if not isinstance(context, dict) or not isinstance(context.get("result"), list):
        return None
    points: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    boxes, label, size = [], None, None
    for region in context["result"]:
        if not isinstance(region, dict) or not isinstance(region.get("value"), dict):
            continue
        kind, value = region.get("type"), region["value"]
        try:
            w, h = int(region["original_width"]), int(region["original_height"])
            float(w * h)  # sizes no float holds would overflow below
        except (KeyError, TypeError, ValueError, OverflowError):
            raise rq.BadRequest("context regions need original_width and original_height (pixels)") from None
        if w <= 0 or h <= 0:
            raise rq.BadRequest(f"original_width and original_height must be positive, got {w} x {h}")
        if size is not None and size != (w, h):
            raise rq.BadRequest(f"the context's regions disagree on the image size: {size[0]} x {size[1]} and "
                                f"{w} x {h}")
        size = (w, h)
        try:
            if kind == "keypointlabels":
                positive = region.get("is_positive", True)
                if positive not in (True, False):
                    raise rq.BadRequest(f"a keypoint's is_positive must be true or false, got "
                                        f"{type(positive).__name__}")
                points[bool(positive)].append((float(value["x"]) * w / 100 - 0.5, float(value["y"]) * h / 100 - 0.5))
            elif kind == "rectanglelabels":
                x, y = float(value["x"]) * w / 100, float(value["y"]) * h / 100
                width, height = float(value["width"]), float(value["height"])
                if not (width > 0 and height > 0):
                    raise rq.BadRequest(f"a rectanglelabels region needs a positive width and height, got "
                                        f"{value['width']} x {value['height']} (percent of the image)")
                x1, y1 = x + width * w / 100, y + height * h / 100
                boxes.append(box_from_edges((x, y, x1, y1)))
            else:
                continue
        except rq.BadRequest:
            raise
        except (KeyError, TypeError, ValueError, OverflowError):
            raise rq.BadRequest(f"a {kind} region needs numeric x, y (and width, height) in its value") from None
        labels = value.get(kind)
        if isinstance(labels, list) and labels:
            label = str(labels[0])
    if size is None:
        return None
    try:
        prompt = tool_prompt(np.reshape(points[True], (-1, 2)), boxes[-1] if boxes else None,
                             negative=np.reshape(points[False], (-1, 2)))
    except NoPrompt:
        return None
    except ValueError as exc:
        raise rq.BadRequest(str(exc)) from None
    return ContextPrompt(prompt, label, *size)


def origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL, the default port filled in; None for anything else."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


class _TokenRedirects(urllib.request.HTTPRedirectHandler):
    """Follows http(s) redirects; the Label Studio token (an unredirected header of the first request, which
    urllib never copies to the next one) goes on only to Label Studio's own origin."""

    def __init__(self, label_studio: tuple[str, str, int] | None) -> None:
        self.label_studio = label_studio

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, f"{msg} (a redirect to {newurl!r})", headers, fp)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        token = req.unredirected_hdrs.get("Authorization")
        if new is not None and token and self.label_studio and origin(new.full_url) == self.label_studio:
            new.add_unredirected_header("Authorization", token)
        return new


class ImageLoader:
    """Fetches task images: Label Studio URLs with its API key, other URLs, ``data:`` URIs, local files.

    The API key goes only to ``label_studio_url``'s origin (scheme, host and port): a redirect to another origin
    is followed without it.
    """

    def __init__(self, label_studio_url: str | None = None, api_key: str | None = None,
                 image_root: str | Path | None = None, timeout: float = 30.0) -> None:
        self.label_studio_url = (label_studio_url or "").rstrip("/")
        self.api_key = api_key
        self.image_root = Path(image_root).resolve() if image_root is not None else None
        self.timeout = timeout
        self._origin = origin(self.label_studio_url)
        self._opener = urllib.request.build_opener(_TokenRedirects(self._origin))

    @classmethod
    def from_env(cls, image_root: str | Path | None = None) -> ImageLoader:
        """``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY`` from the environment, as label-studio-ml does."""
        return cls(os.environ.get("LABEL_STUDIO_URL"), os.environ.get("LABEL_STUDIO_API_KEY"), image_root)

    def load(self, url: Any) -> bytes:
        """The encoded bytes of the image at ``url``.

        Raises
        ------
        BadRequest
            If the URL is not a string, cannot be fetched, or is a local path outside ``image_root``.
        """
        if not isinstance(url, str) or not url:
            raise rq.BadRequest("the task has no image URL")
        if url.startswith("data:"):
            return rq.decode_base64(url, "the task's data: URI")
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme in ("http", "https"):
            return self._fetch(url)
        if url.startswith(("/data/", "/storage-data/")):
            if not self.label_studio_url:
                raise rq.BadRequest(f"set LABEL_STUDIO_URL (and LABEL_STUDIO_API_KEY) to fetch {url}")
            return self._fetch(self.label_studio_url + url)
        return self._read_local(url)

    def _read_local(self, path: str) -> bytes:
        if self.image_root is None:
            raise rq.BadRequest("local image paths are disabled (no image root)", status=403)
        if "\0" in path:
            raise rq.BadRequest("the task's image path holds a NUL character")
        file = (self.image_root / path).resolve()
        if not file.is_relative_to(self.image_root):
            raise rq.BadRequest(f"{path} is outside the image root", status=403)
        try:
            return read_regular_file(file, MAX_IMAGE_BYTES)
        except FileTooLargeError:
            raise rq.BadRequest(f"the task image {path} is larger than {MAX_IMAGE_BYTES} bytes", status=413) from None
        except OSError:  # missing, a folder, a device or FIFO, unreadable
            raise rq.BadRequest(f"no such image file: {path}", status=404) from None

    def _headers(self, url: str) -> dict[str, str]:
        headers = {"User-Agent": f"polyseg/{__version__}"}
        if self.api_key and self._origin and origin(url) == self._origin:
            scheme = "Bearer" if self.api_key.count(".") == 2 else "Token"  # a JWT, or a legacy token
            headers["Authorization"] = f"{scheme} {self.api_key}"
        return headers

    def _fetch(self, url: str) -> bytes:
        headers = self._headers(url)
        token = headers.pop("Authorization", None)
        request = urllib.request.Request(url, headers=headers)
        if token:
            request.add_unredirected_header("Authorization", token)  # see _TokenRedirects
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                data = response.read(MAX_IMAGE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise rq.BadRequest(f"fetching the task image {url} failed: HTTP {exc.code}", status=424) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise rq.BadRequest(f"fetching the task image {url} failed: {reason}", status=424) from None
        if len(data) > MAX_IMAGE_BYTES:
            raise rq.BadRequest(f"the task image {url} is larger than {MAX_IMAGE_BYTES} bytes", status=413)
        return data


class LabelStudioBackend:
    """Answers ``/setup`` and ``/predict`` of the Label Studio ML backend protocol with a shared
    :class:`~polyseg.Segmenter`. Methods are blocking: the server runs them in a worker thread."""

    def __init__(self, segmenter: Segmenter, loader: ImageLoader, *, tolerance: float = 1.4) -> None:
        self.segmenter = segmenter
        self.loader = loader
        self.tolerance = tolerance

    @property
    def model_version(self) -> str:
        return f"polyseg-{__version__}-{self.segmenter.info.version}"

    def setup(self, body: bytes | dict[str, Any]) -> dict[str, Any]:
        """``POST /setup``: check the labeling config (when given) and name the model version."""
        data = rq.parse_json(body)
        if data.get("schema"):
            LabelConfig.parse(data["schema"])
        return {"model_version": self.model_version}

    def predict(self, body: bytes | dict[str, Any]) -> dict[str, Any]:
        """``POST /predict``: one prediction per task, a polygon when the context holds a prompt."""
        data = rq.parse_json(body)
        tasks = data.get("tasks")
        if not isinstance(tasks, list):
            raise rq.BadRequest("'tasks' must be a list")
        params = data.get("params") if isinstance(data.get("params"), dict) else {}
        prompt = read_prompt(params.get("context"))
        empty = {"result": [], "score": 0.0, "model_version": self.model_version}
        if prompt is None or not tasks:
            return {"results": [dict(empty) for _ in tasks]}
        config = LabelConfig.parse(data.get("label_config"))
        results = [self._predict_task(tasks[0], config, prompt)]  # the context belongs to the first task
        return {"results": results + [dict(empty) for _ in tasks[1:]]}

    def _predict_task(self, task: Any, config: LabelConfig, context: ContextPrompt) -> dict[str, Any]:
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise rq.BadRequest("each task needs a 'data' object")
        image = rq.decode_image(self.loader.load(task["data"].get(config.image_key)), "the task image")
        h, w = image.shape[:2]
        prompt = context.prompt
        if (w, h) != (context.width, context.height):  # the context's percent refer to the original size
            prompt = prompt.scaled(w / context.width, h / context.height)
        seg = rq.segment(self.segmenter, image, prompt, self.tolerance)
        if not seg.parts:
            return {"result": [], "score": 0.0, "model_version": self.model_version}
        region = seg.to_label_studio(w, h, label=context.label or "object", from_name=config.polygon_from,
                                     to_name=config.polygon_to)
        return {"result": [region], "score": round(seg.score, 4), "model_version": self.model_version}

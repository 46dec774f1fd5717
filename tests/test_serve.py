"""``polyseg serve``: the page API, the CVAT endpoint, errors, limits and auth, through Starlette's TestClient
(in process) and a real uvicorn process (binding, body limit before the body is read)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from starlette.testclient import TestClient

from polyseg import Segmenter, cli
from polyseg.serve.app import create_app
from polyseg.serve.cli import build_parser
from serve_support import EXAMPLE_JPG, GOLDEN_MASK, POINTS, ROOT, cvat_mask, example_b64, filled, iou, serve_process

STATIC = ROOT / "src" / "polyseg" / "serve" / "static"


@pytest.fixture(scope="module")
def segmenter():
    with Segmenter.from_pretrained() as seg:
        yield seg


@pytest.fixture(scope="module")
def client(segmenter):
    with TestClient(create_app(segmenter)) as c:
        yield c


def segment(client, **body):
    return client.post("/api/segment", json={"image": example_b64(), **body})


def test_the_page_and_its_files_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert client.get("/page").text == page.text
    for name in ("page.js", "page.css"):
        assert client.get(f"/static/{name}").status_code == 200
    for file in STATIC.iterdir():  # no CDN, nothing fetched from elsewhere
        assert "http://" not in file.read_text() and "https://" not in file.read_text(), file.name


def test_health(client):
    assert client.get("/health").json()["status"] == "UP"


def test_four_points_give_the_polygon_and_files_to_download(client):
    answer = segment(client, points=POINTS, label="car", file_name="street.jpg")
    assert answer.status_code == 200
    data = answer.json()
    assert iou(filled(data["polygon"], GOLDEN_MASK.shape), GOLDEN_MASK) > 0.95
    assert data["image_size"] == [640, 640] and 0 < data["score"] <= 1
    coco, labelme, cvat = (data["files"][k] for k in ("coco", "labelme", "cvat"))
    assert coco["images"][0] == {"id": 1, "file_name": "street.jpg", "width": 640, "height": 640}
    assert coco["categories"] == [{"id": 1, "name": "car"}] and coco["annotations"][0]["image_id"] == 1
    corners = np.asarray(coco["annotations"][0]["segmentation"][0]).reshape(-1, 2)
    assert iou(filled(corners, GOLDEN_MASK.shape, shift=-0.5), GOLDEN_MASK) > 0.95
    assert labelme["imagePath"] == "street.jpg" and labelme["imageData"] is None
    assert labelme["shapes"][0]["label"] == "car" and labelme["shapes"][0]["shape_type"] == "polygon"
    assert set(cvat) == {"points", "mask", "bounds"}


def test_the_tolerance_controls_the_vertex_count(client):
    exact = segment(client, points=POINTS, tolerance=0).json()["polygon"]
    coarse = segment(client, points=POINTS, tolerance=4).json()["polygon"]
    assert len(exact) > len(coarse) >= 3


def test_a_box_instead_of_points(client):
    answer = segment(client, box=[336, 261, 591, 385])
    assert answer.status_code == 200
    assert iou(filled(answer.json()["polygon"], GOLDEN_MASK.shape), GOLDEN_MASK) > 0.8


def test_clicks_after_the_first_four_and_negative_clicks_correct_the_outline(client, segmenter):
    """The page sends every click so far: the first four positive ones are the extreme points, the rest corrections;
    the answer says which is which."""
    answer = segment(client, points=POINTS + [[620, 360]], negative=[[400, 300]])
    assert answer.status_code == 200
    data = answer.json()
    assert data["prompt"] == {"extreme_points": POINTS, "box": None, "positive": [[620, 360]],
                              "negative": [[400, 300]]}
    image = cv2.imread(str(EXAMPLE_JPG))
    wanted = segmenter.segment(image, POINTS, positive=[(620, 360)], negative=[(400, 300)], image_format="BGR")
    assert data["polygon"] == wanted.polygon.round(2).tolist()
    assert data["polygon"] != segment(client, points=POINTS).json()["polygon"]


def test_with_a_box_every_click_is_a_correction(client):
    data = segment(client, box=[336, 261, 591, 385], points=[[450, 330]], negative=[[345, 270]]).json()
    assert data["prompt"] == {"extreme_points": None, "box": [336, 261, 591, 385], "positive": [[450, 330]],
                              "negative": [[345, 270]]}


def test_the_cvat_contract_over_http(client):
    body = {"image": example_b64(), "pos_points": POINTS, "neg_points": [], "obj_bbox": None}
    answer = client.post("/api/cvat", json=body)
    assert answer.status_code == 200
    assert iou(cvat_mask(answer.json(), GOLDEN_MASK.shape), GOLDEN_MASK) > 0.95


def test_the_cvat_contract_over_http_takes_negative_points_as_corrections(client, segmenter):
    body = {"image": example_b64(), "pos_points": POINTS, "neg_points": [[400, 300]], "obj_bbox": None}
    answer = client.post("/api/cvat", json=body).json()
    plain = client.post("/api/cvat", json={**body, "neg_points": []}).json()
    image = cv2.imread(str(EXAMPLE_JPG))
    assert answer["points"] != plain["points"]
    assert answer["points"] == segmenter.segment(image, POINTS, negative=[(400, 300)], image_format="BGR").to_cvat()["points"]


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        ("/api/segment", b"{", 400, "not valid JSON"),
        ("/api/segment", b"[1, 2]", 400, "JSON object"),
        ("/api/segment", {"points": POINTS}, 400, "missing 'image'"),
        ("/api/segment", {"image": "@@@", "points": POINTS}, 400, "base64"),
        ("/api/segment", {"image": base64.b64encode(b"GIF89a\x20\x00\x20\x00 garbage").decode(), "points": POINTS},
         422, "decoded"),
        ("/api/segment", {"image": "IMAGE", "points": [[0, 0], [9000, 0], [5, 5], [6, 6]]}, 400, "outside"),
        ("/api/segment", {"image": "IMAGE", "points": POINTS[:2]}, 400, "4 extreme points or a box"),
        ("/api/segment", {"image": "IMAGE", "points": POINTS, "tolerance": "x"}, 400, "tolerance"),
        ("/api/segment", {"image": "IMAGE", "points": [[1, float("nan")]] * 4}, 400, "not valid JSON"),
        ("/api/segment", {"image": "IMAGE", "points": POINTS, "negative": [1, 2]}, 400, "negative must have shape"),
        ("/api/segment", {"image": "IMAGE", "points": POINTS, "negative": [[1, 900]]}, 400,
         "negative clicks lie outside the 640x640 image"),
        ("/api/segment", {"image": "IMAGE", "points": POINTS[:3], "negative": POINTS}, 400, "got 3 points"),
        ("/api/cvat", {"image": "IMAGE", "pos_points": [[1, 1]]}, 400, "at least 4"),
    ],
)
def test_bad_input_gets_a_4xx_with_a_one_line_reason(client, path, body, status, reason):
    if isinstance(body, dict):
        body = json.dumps({k: example_b64() if v == "IMAGE" else v for k, v in body.items()}).replace(
            "NaN", "nan")  # an invalid JSON token, as a careless client might send
    answer = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status
    error = answer.json()["error"]
    assert reason in error and "\n" not in error and "Traceback" not in error
    assert segment(client, points=POINTS).status_code == 200  # and the server keeps serving


def test_unknown_routes_and_methods_answer_json(client):
    assert client.get("/nope").json() == {"error": "Not Found"}
    assert client.get("/api/segment").status_code == 405
    assert client.post("/predict", json={}).status_code == 404  # Label Studio routes only with label_studio=True


def test_an_unexpected_failure_is_a_500_without_a_trace():
    class Broken:
        info = SimpleNamespace(version="broken")

        def segment(self, *args, **kwargs):
            raise RuntimeError("secret internals")

    with TestClient(create_app(Broken()), raise_server_exceptions=False) as c:
        answer = segment(c, points=POINTS)
    assert answer.status_code == 500 and answer.json() == {"error": "internal error"}


def test_the_network_runs_off_the_event_loop(segmenter):
    seen = []

    class Recording:
        info = segmenter.info

        def segment(self, *args, **kwargs):
            try:
                asyncio.get_running_loop()
                seen.append("event loop")
            except RuntimeError:
                seen.append("worker thread")
            return segmenter.segment(*args, **kwargs)

    with TestClient(create_app(Recording())) as c:
        assert segment(c, points=POINTS).status_code == 200
    assert seen == ["worker thread"]


def test_body_size_limit_from_content_length_and_from_a_stream(segmenter):
    with TestClient(create_app(segmenter, max_body_bytes=1000)) as c:
        big = json.dumps({"image": "A" * 2000, "points": POINTS})
        assert c.post("/api/segment", content=big).status_code == 413
        chunks = (big[i : i + 100].encode() for i in range(0, len(big), 100))  # chunked: no Content-Length
        answer = c.post("/api/segment", content=chunks)
        assert answer.status_code == 413 and "larger than 1000 bytes" in answer.json()["error"]


def test_token_auth_guards_the_api_but_not_the_page(segmenter):
    with TestClient(create_app(segmenter, token="s3cret")) as c:
        assert c.get("/").status_code == 200 and c.get("/static/page.js").status_code == 200
        assert segment(c, points=POINTS).status_code == 401
        assert c.get("/health").status_code == 401
        ok = c.post("/api/segment", json={"image": example_b64(), "points": POINTS},
                    headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert c.get("/health", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_basic_auth(segmenter):
    with TestClient(create_app(segmenter, basic_auth=("ls", "pw"), label_studio=True)) as c:
        assert c.get("/health").status_code == 401
        assert c.get("/health", auth=("ls", "pw")).status_code == 200
        assert c.get("/health", auth=("ls", "nope")).status_code == 401
        assert c.get("/", auth=("ls", "pw")).json()["status"] == "UP"  # label-studio-ml answers / like /health


def test_serve_binds_loopback_by_default_and_the_cli_dispatches():
    args = build_parser().parse_args([])
    assert args.host == "127.0.0.1" and args.port == 9090 and not args.label_studio
    with pytest.raises(SystemExit) as exc:
        cli.main(["serve", "--help"])
    assert exc.value.code == 0


@pytest.fixture(scope="module")
def server():
    """``polyseg serve`` in its own process, with a 1 MB body limit, as a shell starts it (this process set
    ``OPENCV_IO_MAX_IMAGE_PIXELS`` when it imported polyseg.serve; a server must not depend on that)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}
    with serve_process("--max-body-mb", "1", "--log-level", "warning", env=env) as port:
        yield port


def test_a_real_server_refuses_a_huge_body_before_reading_it(server):
    with socket.create_connection(("127.0.0.1", server), timeout=10) as s:
        s.sendall(b"POST /api/cvat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 500000000\r\n\r\n{")  # claims 500 MB, sends one byte
        reply = b""
        while b'"}' not in reply and (chunk := s.recv(4096)):
            reply += chunk
    reply = reply.decode()
    assert reply.startswith("HTTP/1.1 413") and '{"error":"request body larger than 1048576 bytes"}' in reply


def test_a_real_server_refuses_a_decompression_bomb(server):
    import cv2
    import httpx2 as httpx

    ok, png = cv2.imencode(".png", np.zeros((12000, 12000), np.uint8))  # 144 Mpx in about 150 kB
    assert ok
    body = {"image": base64.b64encode(png.tobytes()).decode(), "pos_points": POINTS, "neg_points": []}
    answer = httpx.post(f"http://127.0.0.1:{server}/api/cvat", json=body, timeout=30)
    assert answer.status_code == 413 and "12000 x 12000 = 144000000 pixels" in answer.json()["error"]


def test_a_real_server_keeps_serving_after_garbage(server):
    import httpx2 as httpx

    url = f"http://127.0.0.1:{server}"
    assert httpx.post(url + "/api/cvat", content=b"\x00\xff garbage").status_code == 400
    body = {"image": example_b64(), "pos_points": POINTS, "neg_points": [], "obj_bbox": None}
    assert httpx.post(url + "/api/cvat", json=body, timeout=30).status_code == 200

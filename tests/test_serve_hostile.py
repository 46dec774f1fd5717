"""``polyseg serve`` given careless or hostile requests (issue 16): decompression bombs, answers that would be
huge, a Label Studio that redirects its token elsewhere, numbers and nesting past what Python parses, slow
clients. Each gets a 4xx with a one-line reason (or the connection is closed), never a 500, a hang, or a leak."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import textwrap
import threading
import time
import zlib
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest
from starlette.testclient import TestClient

from polyseg import Segmenter
from polyseg.imageio import image_size
from polyseg.serve import requests as rq
from polyseg.serve.app import create_app
from polyseg.serve.label_studio import ImageLoader
from serve_support import POINTS, example_b64, serve_process


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit grayscale PNG of ``width x height`` black pixels: a few hundred kB that decode to
    ``3 * width * height`` bytes of BGR."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    deflate = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the row's bits
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def segmenter():
    with Segmenter.from_pretrained(num_threads=1) as seg:
        yield seg


@pytest.fixture(scope="module")
def client(segmenter):
    app = create_app(segmenter, label_studio=True, loader=ImageLoader())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


# --- decompression bombs and huge answers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "image"),
    [
        (".png", np.zeros((37, 53, 3), np.uint8)),
        (".jpg", np.zeros((37, 53, 3), np.uint8)),
        (".webp", np.zeros((37, 53, 3), np.uint8)),
        (".bmp", np.zeros((37, 53, 3), np.uint8)),
        (".bmp", np.zeros((37, 53), np.uint8)),
        (".gif", np.zeros((37, 53, 3), np.uint8)),
        (".tiff", np.zeros((37, 53, 3), np.uint8)),
        (".ppm", np.zeros((37, 53, 3), np.uint8)),
        (".pgm", np.zeros((37, 53), np.uint8)),
        (".pfm", np.zeros((37, 53, 3), np.float32)),
        (".ras", np.zeros((37, 53, 3), np.uint8)),
    ],
)
def test_the_size_is_read_from_the_header(ext, image):
    ok, data = cv2.imencode(ext, image)
    assert ok
    assert image_size(data.tobytes()) == (53, 37)
    assert image_size(data.tobytes()[:5]) is None, "a header cut short has no size"


def test_the_size_of_a_png_bomb_is_read_without_decoding_it():
    bomb = png_bomb(30000, 30000)
    assert len(bomb) < 200_000
    assert image_size(bomb) == (30000, 30000)


def test_a_png_bomb_is_refused_with_413_before_it_is_decoded(client):
    bomb = base64.b64encode(png_bomb(30000, 30000)).decode()
    message = "image is 30000 x 30000 = 900000000 pixels, more than the 134217728 the server decodes"
    answer = client.post("/api/cvat", json={"image": bomb, "pos_points": POINTS})
    assert answer.status_code == 413 and answer.json()["error"] == message
    answer = client.post("/api/segment", json={"image": bomb, "points": POINTS})
    assert answer.status_code == 413 and answer.json()["error"] == message
    task = {"data": {"image": "data:image/png;base64," + bomb}}
    context = {"result": [{"type": "rectanglelabels", "original_width": 30000, "original_height": 30000,
                           "value": {"x": 10, "y": 10, "width": 20, "height": 20, "rectanglelabels": ["a"]}}]}
    config = "<View><Image name='image' value='$image'/><PolygonLabels name='p' toName='image'/></View>"
    answer = client.post("/predict", json={"tasks": [task], "label_config": config, "params": {"context": context}})
    assert answer.status_code == 413 and "30000 x 30000" in answer.json()["error"]


def test_a_real_server_refuses_a_png_bomb_whatever_cv2_was_imported_with():
    """The server process as a shell starts it: no ``OPENCV_IO_MAX_IMAGE_PIXELS`` in its environment."""
    import httpx2 as httpx

    env = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}
    bomb = png_bomb(11600, 11600)  # just over 2^27 pixels
    with serve_process("--log-level", "warning", env=env) as port:
        answer = httpx.post(f"http://127.0.0.1:{port}/api/cvat", timeout=60,
                            json={"image": base64.b64encode(bomb).decode(), "pos_points": POINTS})
    assert answer.status_code == 413 and "11600 x 11600 = 134560000 pixels" in answer.json()["error"]


@pytest.mark.parametrize("route", ["/api/cvat", "/api/segment"])
def test_an_answer_is_bounded(client, monkeypatch, route):
    monkeypatch.setattr(rq, "MAX_ANSWER_PIXELS", 5000)  # the car's mask is about 250 x 125 pixels
    body = {"image": example_b64(), "pos_points": POINTS, "points": POINTS}
    answer = client.post(route, json=body)
    assert answer.status_code == 413
    assert answer.json()["error"].startswith("the object's mask is ") and "more than the 5000 an answer carries" in (
        answer.json()["error"])
    monkeypatch.setattr(rq, "MAX_ANSWER_PIXELS", 2**24)
    assert client.post(route, json=body).status_code == 200


def test_the_answer_bound_keeps_a_cvat_answer_near_the_request_limit():
    assert rq.MAX_ANSWER_PIXELS * len("0,") <= 32 * 1024 * 1024  # a 0/1 mask: two characters a pixel


# --- the Label Studio token stays with Label Studio ------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """Records each request's path and Authorization header; answers a redirect where the server has one for
    the path, else the bytes ``b"image bytes"``."""

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        location = self.server.redirects.get(self.path)
        self.send_response(302 if location else 200)
        if location:
            self.send_header("Location", location)
        body = b"" if location else b"image bytes"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def http_server(redirects: dict[str, str] | None = None):
    """A loopback HTTP server in a thread; yields it (``.url``, ``.seen``, ``.redirects``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen, server.redirects = [], dict(redirects or {})
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_the_token_does_not_follow_a_redirect_to_another_origin():
    with http_server() as elsewhere, http_server() as label_studio:
        label_studio.redirects["/data/upload/1/a.png"] = elsewhere.url + "/bucket/a.png"
        loader = ImageLoader(label_studio.url, "s3cret-token")
        assert loader.load("/data/upload/1/a.png") == b"image bytes"
    assert label_studio.seen == [("/data/upload/1/a.png", "Token s3cret-token")]
    assert elsewhere.seen == [("/bucket/a.png", None)], "the token went to another origin"


def test_the_token_follows_a_redirect_within_label_studio():
    with http_server({"/data/upload/1/a.png": "/data/upload/1/b.png"}) as label_studio:
        loader = ImageLoader(label_studio.url, "s3cret-token")
        assert loader.load(label_studio.url + "/data/upload/1/a.png") == b"image bytes"
    assert label_studio.seen == [("/data/upload/1/a.png", "Token s3cret-token"),
                                 ("/data/upload/1/b.png", "Token s3cret-token")]


def test_a_redirect_from_elsewhere_to_label_studio_gets_no_token():
    with http_server() as label_studio, http_server() as elsewhere:
        elsewhere.redirects["/a.png"] = label_studio.url + "/api/projects"
        ImageLoader(label_studio.url, "s3cret-token").load(elsewhere.url + "/a.png")
    assert elsewhere.seen == [("/a.png", None)] and label_studio.seen == [("/api/projects", None)]


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("http://ls.local:8080/data/upload/1/a.jpg", True),
        ("http://LS.local:8080/data/upload/1/a.jpg", True),
        ("https://ls.local:8080/data/upload/1/a.jpg", False),  # another scheme: another origin
        ("http://ls.local:8081/data/upload/1/a.jpg", False),
        ("http://ls.local/data/upload/1/a.jpg", False),
        ("http://user@ls.local:8080.evil.example/a.jpg", False),
    ],
)
def test_the_token_goes_to_label_studios_origin_only(url, sent):
    loader = ImageLoader("http://ls.local:8080/", "abc123")
    assert ("Authorization" in loader._headers(url)) is sent


# --- local task images --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "reason"),
    [("fifo.png", 404, "no such image file: fifo.png"), ("big.png", 413, "larger than 1000 bytes"),
     ("a\0.png", 400, "NUL")],
)
def test_local_task_images_are_regular_files_of_limited_size(tmp_path, monkeypatch, name, status, reason):
    from polyseg.serve import label_studio

    os.mkfifo(tmp_path / "fifo.png")
    (tmp_path / "big.png").write_bytes(bytes(2000))
    monkeypatch.setattr(label_studio, "MAX_IMAGE_BYTES", 1000)
    with pytest.raises(rq.BadRequest, match=reason) as error:
        ImageLoader(image_root=tmp_path).load(name)
    assert error.value.status == status


# --- numbers and nesting past what Python parses: a 4xx, never a 500 -------------------------------------------

HUGE = 10**400  # an integer JSON allows and no float holds
CONFIG = "<View><Image name='image' value='$image'/><PolygonLabels name='p' toName='image'/></View>"


def ls_body(region_value: dict, width=640, height=640) -> dict:
    region = {"type": "rectanglelabels", "original_width": width, "original_height": height,
              "value": {"x": 10, "y": 10, "width": 20, "height": 20, "rectanglelabels": ["a"], **region_value}}
    return {"tasks": [{"data": {"image": "data:image/jpeg;base64," + example_b64()}}], "label_config": CONFIG,
            "params": {"context": {"result": [region]}}}


@pytest.mark.parametrize(
    ("route", "body", "reason"),
    [
        ("/api/segment", {"points": [[HUGE, 1], *POINTS[1:]]}, "points must be finite numbers"),
        ("/api/segment", {"box": [1, 2, HUGE, 4]}, "box must be four finite numbers"),
        ("/api/segment", {"points": POINTS, "tolerance": HUGE}, "tolerance must be"),
        ("/api/segment", {"points": POINTS, "tolerance": -HUGE}, "tolerance must be"),
        ("/api/cvat", {"pos_points": [[HUGE, 1], *POINTS[1:]]}, "pos_points must be finite numbers"),
        ("/api/cvat", {"pos_points": [], "obj_bbox": [1, 2, HUGE, 4]}, "obj_bbox must be four finite numbers"),
        ("/predict", ls_body({"x": HUGE}), "needs numeric x, y"),
        ("/predict", ls_body({"width": -HUGE}), "needs numeric x, y"),
        ("/predict", ls_body({}, width=HUGE), "original_width"),
        ("/predict", ls_body({}, width=float("inf")), "original_width"),
    ],
)
def test_numbers_past_float_range_are_a_400(client, route, body, reason):
    if route != "/predict":
        body = {"image": example_b64(), **body}
    content = json.dumps(body).replace("Infinity", "1e999")  # 1e999: a JSON number Python reads as inf
    answer = client.post(route, content=content, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert reason in answer.json()["error"]


POST_ROUTES = ["/api/segment", "/api/cvat", "/setup", "/predict"]


@pytest.mark.parametrize("route", POST_ROUTES)
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"image": ' + b"7" * 5000 + b"}", "body is not valid JSON: Exceeds the limit (4300 digits)"),
        (b'{"image": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "body is nested too deeply"),
        (b'{"image": ' + b"[" * 1_000 + b"]" * 1_000 + b"}", ""),  # just under Python's limit: may parse
    ],
    ids=["5000-digits", "nested-100000", "nested-1000"],
)
def test_what_the_json_parser_cannot_take_is_a_400(client, route, body, reason):
    answer = client.post(route, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert reason in answer.json()["error"] and "\n" not in answer.json()["error"]


def test_a_nul_in_a_task_image_path_is_a_400(segmenter, tmp_path):
    app = create_app(segmenter, label_studio=True, loader=ImageLoader(image_root=tmp_path))
    with TestClient(app, raise_server_exceptions=False) as c:
        body = ls_body({})
        body["tasks"][0]["data"]["image"] = "a\0.png"
        answer = c.post("/predict", json=body)
    assert answer.status_code == 400 and "NUL" in answer.json()["error"]


# --- slow clients: read deadlines ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_server():
    """``polyseg serve`` with 2 s to send headers, 3 s to send a body and a 1 MB body limit."""
    with serve_process("--header-timeout", "2", "--read-timeout", "3", "--max-body-mb", "1", "--log-level",
                       "warning") as port:
        yield port


def reply(sock: socket.socket, within: float) -> bytes:
    """Everything the server sends until it closes the connection, waiting at most ``within`` s in all."""
    sock.settimeout(within)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {within:g} s (got {data[:80]!r})")
    return data


def test_slow_headers_are_cut_off_with_408(strict_server):
    socks = [socket.create_connection(("127.0.0.1", strict_server)) for _ in range(16)]
    start = time.monotonic()
    for s in socks:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    for _ in range(3):  # a byte every half second per connection: never done
        time.sleep(0.5)
        for s in socks:
            try:
                s.sendall(b"a")
            except OSError:
                pass
    answers = [reply(s, within=6) for s in socks]
    assert all(a.startswith(b"HTTP/1.1 408 ") and b"request headers not received within 2 s" in a for a in answers)
    assert time.monotonic() - start < 6
    for s in socks:
        s.close()


def test_a_connection_that_sends_nothing_is_closed(strict_server):
    with socket.create_connection(("127.0.0.1", strict_server)) as s:
        assert reply(s, within=6) == b""


def test_a_slow_body_is_cut_off_with_408(strict_server):
    with socket.create_connection(("127.0.0.1", strict_server)) as s:
        s.sendall(b"POST /api/cvat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        for _ in range(4):
            time.sleep(0.5)
            s.sendall(b" ")
        answer = reply(s, within=6)
    assert answer.startswith(b"HTTP/1.1 408 ") and b"request body not received within 3 s" in answer


def test_a_huge_declared_chunk_gets_413_at_once(strict_server):
    with socket.create_connection(("127.0.0.1", strict_server)) as s:
        s.sendall(b"POST /api/cvat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n{")
        answer = reply(s, within=1.5)  # well before the body deadline
    assert answer.startswith(b"HTTP/1.1 413 ") and b'{"error":"request body larger than 1048576 bytes"}' in answer


def test_requests_in_time_are_answered_on_a_kept_alive_connection(strict_server):
    with socket.create_connection(("127.0.0.1", strict_server)) as s:
        s.settimeout(10)
        for _ in range(2):
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while b'"status":"UP"' not in answer and (chunk := s.recv(4096)):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 ") and b'"status":"UP"' in answer
            time.sleep(1.5)  # idle, within the keep-alive and the header deadline


# --- smaller things -----------------------------------------------------------------------------------------------


def test_base64_wrapped_across_lines_is_accepted(client):
    wrapped = "\n".join(textwrap.wrap(example_b64(), 76)) + "\n"  # as the base64 command prints it
    assert client.post("/api/cvat", json={"image": wrapped, "pos_points": POINTS}).status_code == 200
    uri = "data:image/jpeg;base64,\r\n" + wrapped.replace("\n", "\r\n")
    assert client.post("/api/segment", json={"image": uri, "points": POINTS}).status_code == 200
    assert client.post("/api/cvat", json={"image": "@@" + wrapped, "pos_points": POINTS}).status_code == 400


@pytest.mark.parametrize(("width", "height"), [(0, 20), (20, 0), (-5, 20)])
def test_a_label_studio_rectangle_without_area_says_so(client, width, height):
    answer = client.post("/predict", json=ls_body({"width": width, "height": height}))
    assert answer.status_code == 400
    assert answer.json()["error"] == (f"a rectanglelabels region needs a positive width and height, got {width} x "
                                      f"{height} (percent of the image)")


def test_label_studio_regions_must_agree_on_the_image_size(client):
    body = ls_body({})
    first = body["params"]["context"]["result"][0]
    body["params"]["context"]["result"].insert(0, {**first, "original_width": 1280, "original_height": 960})
    answer = client.post("/predict", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"] == "the context's regions disagree on the image size: 1280 x 960 and 640 x 640"

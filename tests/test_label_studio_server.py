"""End to end against a real Label Studio server: Label Studio -> polyseg's ML backend -> Label Studio.

The test starts ``label-studio`` (its own venv, SQLite, a temporary data dir, a known user and legacy API token)
and ``polyseg serve --label-studio`` with basic auth, both on free loopback ports. Through Label Studio's REST API
it creates a project with the labeling config the README documents, uploads the example image as a task,
connects the backend (``POST /api/ml``, basic auth) and asks for interactive pre-annotations
(``POST /api/ml/{id}/interactive-annotating``, the route of ``label_studio/ml/urls.py``), as the labeling UI
does when an annotator uses the smart tools. The backend fetches the image from Label Studio with the API key.

Label Studio refuses ML backends on loopback addresses unless ``ML_BLOCK_LOCAL_IP=false`` and
``SSRF_PROTECTION_ENABLED=false`` (``label_studio/core/settings/base.py``): a local set-up needs both.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import cv2
import httpx2 as httpx
import numpy as np
import pytest

from polyseg import Segmenter
from provision import LABEL_STUDIO_VERSION, ProvisionError, label_studio
from serve_support import EXAMPLE_JPG, GOLDEN_MASK, POINTS, filled, iou, worktree_env

pytestmark = pytest.mark.skipif(os.environ.get("POLYSEG_SKIP_INTEGRATION") == "1",
                                reason="POLYSEG_SKIP_INTEGRATION=1")

TOKEN = "polyseg-test-token-0123456789"
BASIC = ("labelstudio", "backend-secret")
# The labeling config of the README: smart keypoints (four extreme points) or a smart box -> a polygon.
LABEL_CONFIG = """<View>
  <Image name="image" value="$image" zoom="true"/>
  <PolygonLabels name="polygon" toName="image"><Label value="Car"/><Label value="Person"/></PolygonLabels>
  <KeyPointLabels name="extreme" toName="image" smart="true">
    <Label value="Car" showInline="true"/><Label value="Person" showInline="true"/></KeyPointLabels>
  <RectangleLabels name="box" toName="image" smart="true"><Label value="Car"/><Label value="Person"/></RectangleLabels>
</View>"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, process: subprocess.Popen, timeout: float, log) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2, auth=BASIC).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"{url} did not come up within {timeout} s: {log.read_text()[-2000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def label_studio_url(tmp_path_factory):
    try:
        exe = label_studio()
    except ProvisionError as exc:
        pytest.fail(f"cannot provision Label Studio {LABEL_STUDIO_VERSION}: {exc}")
    data = tmp_path_factory.mktemp("label-studio")
    port = free_port()
    env = {**os.environ, "ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false",
           "LABEL_STUDIO_BASE_DATA_DIR": str(data), "XDG_CONFIG_HOME": str(data / "config")}
    log = data / "label-studio.log"
    cmd = [str(exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
           "--data-dir", str(data), "--username", "polyseg@example.com", "--password", "polyseg-test-pw",
           "--user-token", TOKEN, "--enable-legacy-api-token"]
    with open(log, "w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=data)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url + "/health", process, 300, log)
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def backend_url(label_studio_url, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("backend") / "backend.log"
    env = worktree_env({**os.environ, "LABEL_STUDIO_URL": label_studio_url, "LABEL_STUDIO_API_KEY": TOKEN})
    cmd = [sys.executable, "-m", "polyseg.cli", "serve", "--label-studio", "--port", str(port),
           "--basic-auth", ":".join(BASIC)]
    with open(log, "w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url + "/health", process, 60, log)
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def ls(label_studio_url):
    with httpx.Client(base_url=label_studio_url, headers={"Authorization": f"Token {TOKEN}"}, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def project(ls, backend_url):
    """A project with the documented config, the example image uploaded as its task, polyseg connected."""
    created = ls.post("/api/projects", json={"title": "polyseg e2e", "label_config": LABEL_CONFIG})
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    with open(EXAMPLE_JPG, "rb") as f:
        imported = ls.post(f"/api/projects/{pid}/import", files={"file": ("example.jpg", f, "image/jpeg")})
    assert imported.status_code == 201, imported.text
    (task,) = ls.get("/api/tasks", params={"project": pid}).json()["tasks"]
    assert task["data"]["image"].startswith("/data/upload/")  # served by Label Studio, behind its auth
    ml = ls.post("/api/ml", json={"url": backend_url, "project": pid, "is_interactive": True, "title": "polyseg",
                                  "auth_method": "BASIC_AUTH", "basic_auth_user": BASIC[0],
                                  "basic_auth_pass": BASIC[1]})
    assert ml.status_code == 201, ml.text
    assert ml.json()["readable_state"] == "Connected"
    return {"id": pid, "task": task["id"], "ml": ml.json()["id"]}


def keypoint(x: float, y: float, label: str, w: int = 640, h: int = 640, positive: bool = True) -> dict:
    """A smart keypoint as the labeling UI puts it in the context: percent of the image, corner coordinates."""
    return {"original_width": w, "original_height": h, "image_rotation": 0, "id": f"k{x:.0f}-{y:.0f}",
            "from_name": "extreme", "to_name": "image", "type": "keypointlabels", "origin": "manual",
            "is_positive": positive,
            "value": {"x": (x + 0.5) * 100 / w, "y": (y + 0.5) * 100 / h, "width": 0.5, "keypointlabels": [label]}}


def interactive(ls, project, regions) -> dict:
    answer = ls.post(f"/api/ml/{project['ml']}/interactive-annotating",
                     json={"task": project["task"], "context": {"result": regions}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "errors" not in body, body
    return body["data"]


def polygon_mask(region: dict) -> np.ndarray:
    w, h = region["original_width"], region["original_height"]
    corners = np.asarray(region["value"]["points"]) * (w, h) / 100  # percent -> corner coordinates
    return filled(corners, (h, w), shift=-0.5)


def test_four_keypoints_give_the_cars_polygon_with_the_chosen_label(ls, project):
    data = interactive(ls, project, [keypoint(x, y, "Car") for x, y in POINTS])
    (region,) = data["result"]
    assert region["type"] == "polygonlabels"
    assert region["from_name"] == "polygon" and region["to_name"] == "image"
    assert region["value"]["polygonlabels"] == ["Car"]
    assert (region["original_width"], region["original_height"]) == (640, 640)
    assert 0 < region["score"] <= 1 and data["score"] == region["score"]
    assert data["model_version"].startswith("polyseg-")
    assert iou(polygon_mask(region), GOLDEN_MASK) > 0.9


def test_fewer_than_four_keypoints_give_an_empty_result(ls, project):
    data = interactive(ls, project, [keypoint(x, y, "Car") for x, y in POINTS[:3]])
    assert data["result"] == []


def test_negative_keypoints_do_not_count_as_extreme_points(ls, project):
    regions = [keypoint(x, y, "Car") for x, y in POINTS[:3]] + [keypoint(10, 10, "Car", positive=False)]
    assert interactive(ls, project, regions)["result"] == []


def test_a_negative_keypoint_corrects_the_polygon(ls, project):
    """Alt-click with the smart keypoint tool: the UI sends every keypoint of the label so far, the Alt-clicked one
    with ``"is_positive": false``; the first four positive ones stay the extreme points."""
    four = [keypoint(x, y, "Car") for x, y in POINTS]
    (plain,) = interactive(ls, project, four)["result"]
    (corrected,) = interactive(ls, project, four + [keypoint(400, 300, "Car", positive=False)])["result"]
    assert corrected["value"]["polygonlabels"] == ["Car"]
    assert corrected["value"]["points"] != plain["value"]["points"]
    with Segmenter.from_pretrained() as seg:
        wanted = seg.segment(cv2.imread(str(EXAMPLE_JPG)), POINTS, negative=[(400, 300)], image_format="BGR").mask
    assert iou(polygon_mask(corrected), wanted) > 0.98


def test_a_fifth_positive_keypoint_is_a_correction(ls, project):
    five = [keypoint(x, y, "Car") for x, y in [*POINTS, (620, 360)]]
    (region,) = interactive(ls, project, five)["result"]
    with Segmenter.from_pretrained() as seg:
        wanted = seg.segment(cv2.imread(str(EXAMPLE_JPG)), POINTS, positive=[(620, 360)], image_format="BGR").mask
    assert iou(polygon_mask(region), wanted) > 0.98


def test_a_smart_box_gives_a_polygon_too(ls, project):
    xs, ys = [p[0] for p in POINTS], [p[1] for p in POINTS]
    box = {"original_width": 640, "original_height": 640, "image_rotation": 0, "id": "box1", "from_name": "box",
           "to_name": "image", "type": "rectanglelabels", "origin": "manual",
           "value": {"x": min(xs) / 6.4, "y": min(ys) / 6.4, "width": (max(xs) - min(xs) + 1) / 6.4,
                     "height": (max(ys) - min(ys) + 1) / 6.4, "rotation": 0, "rectanglelabels": ["Person"]}}
    (region,) = interactive(ls, project, [box])["result"]
    assert region["value"]["polygonlabels"] == ["Person"]
    assert iou(polygon_mask(region), GOLDEN_MASK) > 0.8


def test_the_backend_refuses_label_studio_without_its_credentials(backend_url):
    assert httpx.post(backend_url + "/predict", json={"tasks": []}).status_code == 401
    assert httpx.post(backend_url + "/predict", json={"tasks": []}, auth=BASIC).status_code == 200

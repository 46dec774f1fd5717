"""The CVAT nuclio function in integrations/cvat/nuclio, called by nuclio-sdk's own test platform.

``nuclio_sdk.test.Platform.call_handler`` runs ``init_context`` of the handler's module once, then the handler
with a real ``nuclio_sdk.Context`` and ``nuclio_sdk.Event``, as the nuclio python runtime does.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys

import cv2
import nuclio_sdk
import nuclio_sdk.test
import pytest
import yaml

from polyseg import Segmenter
from serve_support import EXAMPLE_JPG, GOLDEN_MASK, POINTS, ROOT, cvat_mask, encode_b64, example_b64, filled, iou

FUNCTION = ROOT / "integrations" / "cvat" / "nuclio"


@pytest.fixture(scope="module")
def main():
    spec = importlib.util.spec_from_file_location("polyseg_cvat_main", FUNCTION / "main.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # the platform finds init_context through sys.modules
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture(scope="module")
def platform():
    return nuclio_sdk.test.Platform()


def call(platform, main, body):
    response = platform.call_handler(main.handler, nuclio_sdk.Event(body=body, content_type="application/json"))
    assert response.content_type == "application/json"
    return response.status_code, json.loads(response.body)


def request(points=POINTS, image=None, obj_bbox=None, neg_points=()):
    """The body CVAT's lambda manager sends to an interactor (cvat/apps/lambda_manager/views.py)."""
    return {"image": image or example_b64(), "pos_points": [list(p) for p in points],
            "neg_points": [list(p) for p in neg_points], "obj_bbox": obj_bbox}


def test_four_extreme_points_give_mask_bounds_and_polygon(platform, main):
    status, answer = call(platform, main, request())
    assert status == 200
    assert set(answer) == {"mask", "bounds", "points"}
    assert {v for row in answer["mask"] for v in row} == {0, 255}  # as CVAT's own interactors answer
    mask = cvat_mask(answer, GOLDEN_MASK.shape)
    assert iou(mask, GOLDEN_MASK) > 0.95
    assert iou(filled(answer["points"], mask.shape), mask) > 0.95
    x1, y1, x2, y2 = answer["bounds"]
    assert mask[:, x1].any() and mask[:, x2].any() and mask[y1].any() and mask[y2].any()  # tight, inclusive


@pytest.fixture(scope="module")
def reference():
    """A Segmenter in this process, to say what the function should answer."""
    with Segmenter.from_pretrained() as seg:
        yield seg


def expected(reference, **prompt) -> dict:
    """The interactor answer for the example frame and a prompt, computed here."""
    return reference.segment(cv2.imread(str(EXAMPLE_JPG)), image_format="BGR", **prompt).to_cvat()


def same_answer(a: dict, b: dict) -> bool:
    return a["bounds"] == b["bounds"] and a["points"] == b["points"]


def test_a_negative_point_is_a_correction_that_changes_the_answer(platform, main, reference):
    """A right click in CVAT: the four positive points stay the extreme points, the negative one corrects."""
    negative = (400, 300)  # on the car
    _, four = call(platform, main, request())
    status, corrected = call(platform, main, request(neg_points=[negative]))
    assert status == 200
    assert not same_answer(corrected, four)
    assert same_answer(corrected, expected(reference, extreme_points=POINTS, negative=[negative]))
    _, as_positive = call(platform, main, request(points=list(POINTS) + [negative]))
    assert not same_answer(corrected, as_positive)  # the sign of a click reaches the model


def test_a_fifth_positive_point_is_a_correction_not_an_extreme_point(platform, main, reference):
    fifth = (620, 360)  # right of the car's right-most point: the outermost four would now include it
    _, four = call(platform, main, request())
    status, five = call(platform, main, request(points=list(POINTS) + [fifth]))
    assert status == 200
    assert not same_answer(five, four)
    assert same_answer(five, expected(reference, extreme_points=POINTS, positive=[fifth]))


def test_with_obj_bbox_every_point_is_a_correction(platform, main, reference):
    edges = [336, 261, 592, 386]  # CVAT's rectangle: columns 336 .. 591, rows 261 .. 385
    clicks = [(450, 330), (480, 300), (520, 320), (560, 340)]  # four positive points: still corrections
    status, answer = call(platform, main, request(points=clicks, neg_points=[(345, 270)], obj_bbox=edges))
    assert status == 200
    assert same_answer(answer, expected(reference, box=(336, 261, 591, 385), positive=clicks, negative=[(345, 270)]))


@pytest.mark.parametrize("obj_bbox", [[[336, 261], [591, 385]], [336, 261, 591, 385], [[591, 385], [336, 261]]])
def test_a_box_alone_works_nested_or_flat(platform, main, obj_bbox):
    status, answer = call(platform, main, request(points=[], obj_bbox=obj_bbox))
    assert status == 200
    assert iou(cvat_mask(answer, GOLDEN_MASK.shape), GOLDEN_MASK) > 0.8


def test_grayscale_and_rgba_png_frames(platform, main):
    bgr = cv2.imread(str(EXAMPLE_JPG))
    for image in (cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)):
        status, answer = call(platform, main, request(image=encode_b64(image, ".png")))
        assert status == 200
        assert iou(cvat_mask(answer, GOLDEN_MASK.shape), GOLDEN_MASK) > 0.85


def test_a_json_body_as_bytes_is_parsed_too(platform, main):
    response = platform.call_handler(main.handler, nuclio_sdk.Event(body=json.dumps(request()).encode()))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "not valid JSON"),
        ({"pos_points": POINTS}, 400, "missing 'image'"),
        ({"image": "***", "pos_points": POINTS}, 400, "not valid base64"),
        ({"image": base64.b64encode(b"not an image").decode(), "pos_points": POINTS}, 422, "could not be decoded"),
        (request(points=POINTS[:3]), 400, "at least 4 positive points"),
        (request(points=[(10, 10), (5000, 20), (30, 40), (50, 60)]), 400, "outside"),
        (request(points=[[1, 2, 3]] * 4), 400, "pos_points"),
        (request(points=[], obj_bbox=[1, 2, 3]), 400, "obj_bbox"),
        (request(neg_points=[(5000, 20)]), 400, "negative clicks lie outside the 640x640 image"),
        (request(neg_points=[[1, 2, 3]]), 400, "neg_points"),
        (request(neg_points=POINTS * 250), 400, "at most 1000 clicks per object"),
    ],
)
def test_bad_requests_get_a_4xx_with_one_line_and_the_function_keeps_working(platform, main, body, status, reason):
    got, answer = call(platform, main, body)
    assert got == status
    assert reason in answer["error"] and "\n" not in answer["error"]
    assert call(platform, main, request())[0] == 200


def test_function_yaml_declares_a_version_2_interactor():
    config = yaml.safe_load((FUNCTION / "function.yaml").read_text())
    annotations = config["metadata"]["annotations"]
    assert annotations["type"] == "interactor"
    assert int(annotations["version"]) == 2
    assert int(annotations["min_pos_points"]) == 4
    assert int(annotations["min_neg_points"]) == 0  # CVAT adds a point on a right click only when this is >= 0
    assert "right click" in annotations["help_message"].lower()
    assert "startswith_box" not in annotations  # bool("false") is True in CVAT's parser: omit, never "false"
    assert config["spec"]["handler"] == "main:handler"
    trigger = config["spec"]["triggers"]["myHttpTrigger"]
    assert trigger["kind"] == "http" and trigger["attributes"]["maxRequestBodySize"] == 32 * 1024 * 1024
    assert any("pip install" in d["value"] and "/opt/nuclio/polyseg-*.whl" in d["value"]
               for d in config["spec"]["build"]["directives"]["postCopy"])


@pytest.mark.slow
def test_the_wheel_the_function_installs_carries_the_server_and_the_page(tmp_path):
    import fnmatch
    import subprocess
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True)
    (wheel,) = tmp_path.glob("*.whl")
    assert fnmatch.fnmatch(wheel.name, "polyseg-*.whl")  # what function.yaml's RUN installs
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"polyseg/serve/cvat.py", "polyseg/serve/static/index.html", "polyseg/serve/static/page.js"} <= names

"""The Label Studio ML backend protocol in process: /setup, /predict with the context the labeling UI sends,
image sources (data: URIs, local files under the image root, Label Studio URLs), and what is refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from starlette.testclient import TestClient

from polyseg import Segmenter
from polyseg.serve.app import create_app
from polyseg.serve.label_studio import ImageLoader, LabelConfig, read_prompt
from polyseg.serve.requests import BadRequest
from serve_support import EXAMPLE_JPG, GOLDEN_MASK, POINTS, example_b64, filled, iou

CONFIG = """<View><Image name="img" value="$photo"/>
  <PolygonLabels name="outline" toName="img"><Label value="Car"/></PolygonLabels>
  <KeyPointLabels name="kp" toName="img" smart="true"><Label value="Car"/></KeyPointLabels></View>"""


def keypoints(points, label="Car", w=640, h=640, positive=True):
    """Smart keypoints as the labeling UI sends them; ``positive=False``: Alt-clicked ones."""
    return [{"type": "keypointlabels", "original_width": w, "original_height": h, "is_positive": positive,
             "value": {"x": (x + 0.5) * 100 / w, "y": (y + 0.5) * 100 / h, "keypointlabels": [label]}}
            for x, y in points]


def rectangle(box, label="Car", w=640, h=640):
    """A smart rectangle over the pixels ``box`` = (x0, y0, x1, y1) (inclusive), in percent of its edges."""
    x0, y0, x1, y1 = box
    return {"type": "rectanglelabels", "original_width": w, "original_height": h,
            "value": {"x": x0 * 100 / w, "y": y0 * 100 / h, "width": (x1 - x0 + 1) * 100 / w,
                      "height": (y1 - y0 + 1) * 100 / h, "rectanglelabels": [label]}}


@pytest.fixture(scope="module")
def segmenter():
    with Segmenter.from_pretrained() as seg:
        yield seg


@pytest.fixture(scope="module")
def client(segmenter):
    app = create_app(segmenter, label_studio=True, loader=ImageLoader(image_root=EXAMPLE_JPG.parent))
    with TestClient(app) as c:
        yield c


def predict(client, image, regions, config=CONFIG):
    body = {"tasks": [{"id": 7, "data": {"photo": image}}], "label_config": config, "project": "3.1700000000",
            "params": {"login": None, "password": None, "context": {"result": regions}}}
    return client.post("/predict", json=body)


def test_setup_names_the_model_version(client):
    answer = client.post("/setup", json={"project": "3.1700000000", "schema": CONFIG, "extra_params": None})
    assert answer.status_code == 200 and answer.json()["model_version"].startswith("polyseg-")


@pytest.mark.parametrize("image", ["data:image/jpeg;base64," + example_b64(), "example.jpg"])
def test_four_keypoints_on_a_data_uri_or_a_local_file(client, image):
    answer = predict(client, image, keypoints(POINTS))
    assert answer.status_code == 200
    (prediction,) = answer.json()["results"]
    (region,) = prediction["result"]
    assert region["from_name"] == "outline" and region["to_name"] == "img"  # names from the config
    assert region["value"]["polygonlabels"] == ["Car"] and region["value"]["closed"] is True
    corners = np.asarray(region["value"]["points"]) * 6.4
    assert iou(filled(corners, GOLDEN_MASK.shape, shift=-0.5), GOLDEN_MASK) > 0.95


def test_percent_refer_to_the_original_size_even_if_the_served_image_is_smaller(client):
    # the context says 1280x1280 (the original); the image served is the 640x640 example
    regions = keypoints([(2 * x + 0.5, 2 * y + 0.5) for x, y in POINTS], w=1280, h=1280)
    (region,) = predict(client, "example.jpg", regions).json()["results"][0]["result"]
    assert region["original_width"] == 640
    corners = np.asarray(region["value"]["points"]) * 6.4
    assert iou(filled(corners, GOLDEN_MASK.shape, shift=-0.5), GOLDEN_MASK) > 0.95


def polygon_mask(region: dict) -> np.ndarray:
    corners = np.asarray(region["value"]["points"]) * 6.4  # percent of 640 x 640 -> corner coordinates
    return filled(corners, GOLDEN_MASK.shape, shift=-0.5)


def test_a_negative_keypoint_corrects_the_polygon(client, segmenter):
    """Alt-click with the smart keypoint tool: the four positive keypoints stay the extreme points."""
    negative = (400, 300)  # on the car
    (plain,) = predict(client, "example.jpg", keypoints(POINTS)).json()["results"][0]["result"]
    answer = predict(client, "example.jpg", keypoints(POINTS) + keypoints([negative], positive=False))
    assert answer.status_code == 200
    (corrected,) = answer.json()["results"][0]["result"]
    assert corrected["value"]["points"] != plain["value"]["points"]
    image = cv2.imread(str(EXAMPLE_JPG))
    wanted = segmenter.segment(image, POINTS, negative=[negative], image_format="BGR").mask
    assert iou(polygon_mask(corrected), wanted) > 0.98


def test_read_prompt_takes_the_first_four_positive_keypoints_as_extreme_points_and_the_rest_as_corrections():
    regions = keypoints([POINTS[0], (450, 330)], positive=False) + keypoints(POINTS + [(620, 360)])
    prompt = read_prompt({"result": regions}).prompt
    np.testing.assert_allclose(prompt.extreme_points, POINTS)
    np.testing.assert_allclose(prompt.positive, [(620, 360)])
    np.testing.assert_allclose(prompt.negative, [POINTS[0], (450, 330)])


def test_read_prompt_takes_a_smart_rectangle_with_keypoints_as_a_box_with_corrections():
    regions = keypoints([(450, 330)]) + [rectangle((336, 261, 591, 385))] + keypoints([(345, 270)], positive=False)
    prompt = read_prompt({"result": regions}).prompt
    assert prompt.extreme_points is None
    np.testing.assert_allclose(prompt.box, [336, 261, 591, 385])
    np.testing.assert_allclose(prompt.positive, [(450, 330)])
    np.testing.assert_allclose(prompt.negative, [(345, 270)])


def test_no_context_or_too_few_points_give_one_empty_prediction_per_task(client):
    body = {"tasks": [{"id": 1, "data": {}}, {"id": 2, "data": {}}], "label_config": CONFIG}
    assert [r["result"] for r in client.post("/predict", json=body).json()["results"]] == [[], []]
    assert predict(client, "example.jpg", keypoints(POINTS[:3])).json()["results"][0]["result"] == []
    three_and_a_negative = keypoints(POINTS[:3]) + keypoints(POINTS[3:], positive=False)
    assert predict(client, "example.jpg", three_and_a_negative).json()["results"][0]["result"] == []


@pytest.mark.parametrize(
    ("image", "config", "status", "reason"),
    [
        ("../../../etc/passwd", CONFIG, 403, "outside the image root"),
        ("missing.jpg", CONFIG, 404, "no such image"),
        ("/data/upload/1/x.jpg", CONFIG, 400, "LABEL_STUDIO_URL"),
        ("http://127.0.0.1:9/x.jpg", CONFIG, 424, "fetching the task image"),
        ("example.jpg", "<View><Image name='i' value='$photo'/></View>", 400, "PolygonLabels"),
        ("example.jpg", "<View", 400, "not valid XML"),
    ],
)
def test_what_is_refused(client, image, config, status, reason):
    answer = predict(client, image, keypoints(POINTS), config=config)
    assert answer.status_code == status and reason in answer.json()["error"]


@pytest.mark.parametrize(
    ("regions", "reason"),
    [
        (keypoints(POINTS) + keypoints([(400, 300)], positive="no"), "is_positive must be true or false, got str"),
        (keypoints(POINTS) + keypoints([(900, 300)], positive=False), "negative clicks lie outside the 640x640 image"),
    ],
)
def test_bad_keypoints_are_refused(client, regions, reason):
    answer = predict(client, "example.jpg", regions)
    assert answer.status_code == 400 and reason in answer.json()["error"] and "\n" not in answer.json()["error"]


def test_label_studio_urls_get_the_api_key_and_others_do_not():
    loader = ImageLoader("http://ls.local:8080/", "abc123")
    assert loader._headers("http://ls.local:8080/data/upload/1/a.jpg")["Authorization"] == "Token abc123"
    assert "Authorization" not in loader._headers("http://elsewhere.example/a.jpg")
    jwt = ImageLoader("http://ls.local:8080", "aaa.bbb.ccc")
    assert jwt._headers("http://ls.local:8080/data/upload/1/a.jpg")["Authorization"] == "Bearer aaa.bbb.ccc"


def test_read_prompt_takes_the_last_box_and_its_label():
    box = {"type": "rectanglelabels", "original_width": 200, "original_height": 100,
           "value": {"x": 10, "y": 20, "width": 50, "height": 40, "rectanglelabels": ["Bus"]}}
    context = read_prompt({"result": [box]})
    assert context.label == "Bus" and context.prompt.extreme_points is None
    np.testing.assert_allclose(context.prompt.box, [20, 20, 119, 59])  # corners -> inclusive pixel centres
    assert read_prompt(None) is None and read_prompt({"result": []}) is None
    with pytest.raises(BadRequest, match="original_width"):
        read_prompt({"result": [{"type": "keypointlabels", "value": {"x": 1, "y": 2}}]})


def test_label_config_reads_the_first_image_and_polygon_tags():
    config = LabelConfig.parse(CONFIG)
    assert (config.image_key, config.polygon_from, config.polygon_to) == ("photo", "outline", "img")

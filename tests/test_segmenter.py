"""End to end: the shipped weights through the public API, the CLI, threads, and an installed wheel.

Golden results are compared by IoU with a tolerance, in float32 inference (``EXECUTION_MODE_HINT=ACCURACY``) so
they agree across CPUs. After shipping new weights, run ``python tests/regenerate_golden.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from polyseg import CropWindow, Segmentation, Segmenter, cli
from polyseg.prompt import Prompt
from regenerate_golden import ACCURACY, GOLDEN, example

ROOT = Path(__file__).resolve().parents[1]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def filled(polygon: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(polygon).astype(np.int32)], 1)
    return m.astype(bool)


@pytest.fixture(scope="module")
def segmenter():
    with Segmenter.from_pretrained(config=ACCURACY) as seg:
        yield seg


@pytest.fixture(scope="module")
def car():
    return example()


def test_golden_example(segmenter, car):
    image, meta = car
    golden_meta = json.loads((GOLDEN / "example.json").read_text())
    assert golden_meta["version"] == segmenter.info.version, "weights changed: run tests/regenerate_golden.py"
    golden = cv2.imread(str(GOLDEN / "example_mask.png"), cv2.IMREAD_GRAYSCALE) > 127
    result = segmenter.segment(image, meta["extreme_points"])
    assert iou(result.mask, golden) > 0.98


def test_mask_reaches_each_extreme_point(segmenter, car):
    image, meta = car
    mask = segmenter.mask(image, meta["extreme_points"])
    distance_to_mask = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    for x, y in meta["extreme_points"]:
        assert distance_to_mask[y, x] <= 4, f"extreme point {(x, y)} is {distance_to_mask[y, x]:.1f} px off the mask"
    ys, xs = np.nonzero(mask)
    pts = np.asarray(meta["extreme_points"])
    assert xs.min() >= pts[:, 0].min() - 6 and xs.max() <= pts[:, 0].max() + 6
    assert ys.min() >= pts[:, 1].min() - 6 and ys.max() <= pts[:, 1].max() + 6


def test_filling_the_polygon_reproduces_the_mask(segmenter, car):
    image, meta = car
    exact = segmenter.segment(image, meta["extreme_points"], tolerance=0)
    assert iou(filled(exact.polygon, image.shape[:2]), exact.mask) > 0.99
    simplified = segmenter.segment(image, meta["extreme_points"])
    assert len(simplified.polygon) < len(exact.polygon) / 3
    assert iou(filled(simplified.polygon, image.shape[:2]), exact.mask) > 0.95


def test_result_fields_agree(segmenter, car):
    image, meta = car
    result = segmenter.segment(image, meta["extreme_points"])
    assert isinstance(result, Segmentation)
    assert result.mask.shape == image.shape[:2] and result.mask.dtype == bool
    assert result.area == result.mask.sum()
    x, y, w, h = result.bbox
    ys, xs = np.nonzero(result.mask)
    assert (x, y, w, h) == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    assert 0.5 < result.score <= 1.0
    assert result.polygon.dtype == np.float64 and result.polygon.shape[1] == 2


def test_box_prompt_finds_the_same_object(segmenter, car):
    image, meta = car
    pts = np.asarray(meta["extreme_points"])
    by_points = segmenter.mask(image, pts)
    by_box = segmenter.mask(image, box=(*pts.min(0), *pts.max(0)))
    assert iou(by_points, by_box) > 0.8


def test_points_in_any_order_give_the_same_result(segmenter, car):
    image, meta = car
    pts = np.asarray(meta["extreme_points"])
    np.testing.assert_array_equal(segmenter.mask(image, pts), segmenter.mask(image, pts[::-1]))


def test_window_past_the_border_is_padded(segmenter, car):
    image, _ = car
    # An object cut by the right border: the window reaches outside the image.
    pts = [(560, 300), (600, 262), (639, 310), (610, 360)]
    result = segmenter.segment(image, pts)
    assert result.polygon[:, 0].max() <= image.shape[1] - 1
    assert result.mask[:, 630:].any()


def test_the_public_steps_give_what_segment_gives(segmenter, car):
    """prepare_image -> prepare -> network -> finish is segment(), one step at a time."""
    image, meta = car
    prompt = Prompt(extreme_points=meta["extreme_points"])
    rgb = segmenter.prepare_image(image)
    prepared = segmenter.prepare(rgb, prompt)
    info = segmenter.info
    assert prepared.input.shape == (4, info.input_size, info.input_size) and prepared.input.dtype == np.float32
    assert prepared.image_size == image.shape[:2]
    assert prepared.window == CropWindow.from_box(prompt.bounds, size=info.input_size, margin=info.margin,
                                                  min_margin=info.min_margin)
    probabilities = segmenter.network(prepared.input)
    stepwise = segmenter.finish(prepared, probabilities)
    whole = segmenter.segment(image, prompt=prompt)
    assert np.array_equal(stepwise.mask, whole.mask) and stepwise.score == whole.score
    assert np.array_equal(whole.polygon, segmenter.segment(image, meta["extreme_points"]).polygon)


def test_a_segmentation_keeps_what_a_correction_needs(segmenter, car):
    """Its prompt (checked), its window and the network's probabilities at network resolution."""
    image, meta = car
    result = segmenter.segment(image, meta["extreme_points"])
    size = segmenter.info.input_size
    assert np.array_equal(result.prompt.extreme_points, np.asarray(meta["extreme_points"], float))
    assert result.window.size == size
    assert result.probabilities.shape == (size, size) and result.probabilities.dtype == np.float32
    x, y = result.offset
    rows, cols, wrows, wcols = result.window.clip(*image.shape[:2])
    upsampled = result.window.uncrop(result.probabilities)[wrows, wcols] > segmenter.info.threshold
    assert iou(upsampled, result.mask_crop) > 0.99  # the mask comes from these probabilities
    assert (cols.start, rows.start) == (x, y)


def test_prepare_refuses_clicks_this_model_cannot_take(segmenter, car):
    image, meta = car
    prompt = Prompt(extreme_points=meta["extreme_points"], negative=[(10, 10)])
    with pytest.raises(ValueError, match=r"takes extreme points or a box, without clicks; got 0 positive and 1 neg"):
        segmenter.prepare(segmenter.prepare_image(image), prompt)
    clicks = r"^prompts\[1\]: this model \(kind 'extreme_points'\) takes extreme points or a box, without clicks"
    with pytest.raises(ValueError, match=clicks):
        segmenter.segment_many(image, [meta["extreme_points"], prompt])


def test_segment_many_matches_segment(segmenter, car):
    image, meta = car
    pts = np.asarray(meta["extreme_points"], float)
    prompts = [pts, (*pts.min(0), *pts.max(0)), pts + 2, pts - 3, [(100, 450), (200, 400), (300, 460), (190, 520)]]
    many = segmenter.segment_many(image, prompts)
    assert len(many) == len(prompts)
    for prompt, result in zip(prompts, many):
        one = segmenter.segment(image, box=prompt) if np.shape(prompt) == (4,) else segmenter.segment(image, prompt)
        assert iou(one.mask, result.mask) > 0.99


def test_segment_many_does_not_depend_on_the_batch(segmenter, car):
    """segment_many runs its inputs in batches of up to BATCH: an object's result must be the same whatever batch,
    and position in it, it lands in (so the local and the Ray engine give identical outputs)."""
    from polyseg.network import BATCH

    image, meta = car
    pts = np.asarray(meta["extreme_points"], float)
    prompts = [pts + d for d in range(-3, 4)]  # 7 objects: one full batch and a partial one
    assert len(prompts) > BATCH
    together = segmenter.segment_many(image, prompts)
    shuffled = segmenter.segment_many(image, prompts[::-1])[::-1]
    alone = [segmenter.segment_many(image, [p])[0] for p in prompts]
    for a, b, c in zip(together, shuffled, alone):
        assert np.array_equal(a.mask_crop, b.mask_crop) and np.array_equal(a.mask_crop, c.mask_crop)
        assert a.score == b.score == c.score


def test_segment_many_of_nothing(segmenter, car):
    assert segmenter.segment_many(car[0], []) == []


def test_threads_agree_with_serial(segmenter, car):
    image, meta = car
    base = np.asarray(meta["extreme_points"], float)
    prompts = [base + d for d in range(-4, 5)] * 3
    serial = [segmenter.mask(image, p) for p in prompts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda p: segmenter.mask(image, p), prompts))
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(a, b)


def test_close_and_context_manager(car):
    with Segmenter.from_pretrained() as seg:
        assert seg.polygon(car[0], car[1]["extreme_points"]).shape[0] >= 3
    with pytest.raises(RuntimeError, match="closed"):
        seg.polygon(car[0], car[1]["extreme_points"])


# --- command line ----------------------------------------------------------------------------------------------


def test_cli_example_writes_an_overlay(tmp_path, capsys):
    overlay = tmp_path / "overlay.png"
    assert cli.main(["--example", "--overlay", str(overlay)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["polygon"]) >= 3 and out["area"] > 1000
    picture = cv2.imread(str(overlay))
    assert picture is not None and picture.shape == (640, 640, 3)


@pytest.mark.parametrize(
    ("fmt", "key"), [("coco", "segmentation"), ("cvat", "bounds"), ("label-studio", "value"), ("polygon", "polygon")]
)
def test_cli_formats(tmp_path, capsys, fmt, key):
    image_path = tmp_path / "car.png"
    image, meta = example()
    cv2.imwrite(str(image_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    points = [f"{x},{y}" for x, y in meta["extreme_points"]]
    assert cli.main([str(image_path), "--points", *points, "--format", fmt]) == 0
    assert key in json.loads(capsys.readouterr().out)


def test_cli_labelme_and_box(tmp_path, capsys):
    image_path = tmp_path / "car.png"
    image, _ = example()
    cv2.imwrite(str(image_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert cli.main([str(image_path), "--box", "336,261,591,385", "--format", "labelme", "--label", "car"]) == 0
    shapes = json.loads(capsys.readouterr().out)
    assert shapes[0]["label"] == "car" and shapes[0]["shape_type"] == "polygon"


def test_cli_reports_bad_points_without_a_traceback(tmp_path, capsys):
    image_path = tmp_path / "car.png"
    cv2.imwrite(str(image_path), np.zeros((50, 50, 3), np.uint8))
    assert cli.main([str(image_path), "--points", "1,1", "1,1", "1,1", "1,1"]) == 2
    assert "all the same point" in capsys.readouterr().err


def test_cli_rejects_a_malformed_point(capsys):
    with pytest.raises(SystemExit):
        cli.main(["x.png", "--points", "1,2", "3", "4,5", "6,7"])
    assert "a point (x,y)" in capsys.readouterr().err


# --- the installed wheel ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_installed_wheel_finds_its_weights(tmp_path):
    """Build the wheel, install it into an empty folder, and run it from elsewhere: the IR and the example
    image must come from inside the installed package."""
    dist, site = tmp_path / "dist", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", dist, ROOT], check=True)
    wheel = next(dist.glob("polyseg-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("polyseg/weights/polyseg_unet.xml", "polyseg/weights/polyseg_unet.bin", "polyseg/data/example.jpg",
                   "polyseg/weights/polyseg_refine.xml", "polyseg/weights/polyseg_refine.bin"):
        assert needed in names
    subprocess.run([*pip, "install", "--no-deps", "--target", site, wheel], check=True)
    code = (
        "import polyseg, json, sys; from polyseg import network, cli;"
        "assert polyseg.__file__.startswith(sys.argv[1]), polyseg.__file__;"
        "assert str(network.bundled_model_path()).startswith(sys.argv[1]);"
        "assert str(network.bundled_model_path(network.BUNDLED_REFINER)).startswith(sys.argv[1]);"
        "seg = polyseg.Segmenter.from_pretrained(); assert seg.refiner_info.kind == 'correction';"
        "sys.exit(cli.main(['--example', '--overlay', 'o.png']))"
    )
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", code, str(site)], check=False, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert len(json.loads(run.stdout)["polygon"]) >= 3
    assert (tmp_path / "o.png").exists()


# --- post-processing, with a stand-in network whose output is known ----------------------------------------------


class FixedNetwork:
    """Stands in for :class:`polyseg.network.Network`: always returns the same probability map."""

    def __init__(self, prob: np.ndarray) -> None:
        from polyseg import ModelInfo

        self.info = ModelInfo(version="fixed")
        self.prob = prob.astype(np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        assert x.shape == (4, 128, 128) and x.dtype == np.float32
        return self.prob

    def run_many(self, inputs, count: int):
        return ((i, self(x)) for i, x in enumerate(inputs))


def test_spurious_parts_are_dropped_and_pin_holes_filled():
    prob = np.zeros((128, 128))
    prob[20:100, 20:100] = 0.9  # the object
    prob[60, 60] = 0.1  # a one-pixel hole in it
    prob[40:60, 40:44] = 0.2  # a real hole, 80 px
    prob[5:7, 120:122] = 0.9  # a 4-px speck: under 5 % of the object
    seg = Segmenter(FixedNetwork(prob))
    # With the 10 % margin, this box's window is exactly the 128x128 image: input and image pixels coincide.
    box = (32 / 3, 32 / 3, 116 + 1 / 3, 116 + 1 / 3)
    assert CropWindow.from_box(box) == CropWindow(0, 0, 128, 128)
    result = seg.segment(np.zeros((128, 128, 3), np.uint8), box=box)
    assert len(result.parts) == 1
    assert len(result.parts[0].holes) == 1
    assert not result.mask[5:7, 120:122].any()
    assert result.mask[60, 60] and not result.mask[50, 42]


def test_channel_order_comes_from_the_weights(tmp_path, car):
    """An IR whose rt_info says BGR gets the image in BGR: the same weights then see swapped colours."""
    image, meta = car
    xml = (ROOT / "weights" / "polyseg_unet.xml").read_text()
    assert '<channel_order value="RGB" />' in xml
    (tmp_path / "bgr.xml").write_text(xml.replace('<channel_order value="RGB" />', '<channel_order value="BGR" />'))
    (tmp_path / "bgr.bin").write_bytes((ROOT / "weights" / "polyseg_unet.bin").read_bytes())
    with Segmenter.from_pretrained(tmp_path / "bgr.xml", config=ACCURACY) as bgr_model:
        assert bgr_model.info.channel_order == "BGR"
        by_bgr_model = bgr_model.mask(image, meta["extreme_points"])
    with Segmenter.from_pretrained(config=ACCURACY) as rgb_model:
        swapped = rgb_model.mask(np.ascontiguousarray(image[:, :, ::-1]), meta["extreme_points"])
    np.testing.assert_array_equal(by_bgr_model, swapped)


def test_an_unknown_channel_order_is_refused(tmp_path):
    xml = (ROOT / "weights" / "polyseg_unet.xml").read_text()
    (tmp_path / "m.xml").write_text(xml.replace('<channel_order value="RGB" />', '<channel_order value="HSV" />'))
    (tmp_path / "m.bin").write_bytes((ROOT / "weights" / "polyseg_unet.bin").read_bytes())
    with pytest.raises(ValueError, match="channel_order must be 'RGB' or 'BGR', got 'HSV'"):
        Segmenter.from_pretrained(tmp_path / "m.xml")

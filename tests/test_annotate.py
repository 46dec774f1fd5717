"""``polyseg annotate``: box-labelled data sets in, polygons out, with the shipped weights (local engine)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from annotate_data import HEIGHT, WIDTH, bbox, crash_after, write_coco, write_labelme, write_yolo
from polyseg import Segmentation, Segmenter, cli
from polyseg.annotate import AnnotateError, annotate
from polyseg.annotate.formats import Task, pixel_box
from polyseg.annotate.journal import Journal
from polyseg.annotate.progress import Progress

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def digest(path: Path) -> str:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def coco_mask(segmentation, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A COCO segmentation (polygons, corner coordinates, or RLE) as pycocotools rasterises it."""
    rles = mask_utils.frPyObjects(segmentation, height, width)
    return mask_utils.decode(mask_utils.merge(rles) if isinstance(rles, list) else rles).astype(bool)


def fill(points, shape=(HEIGHT, WIDTH)) -> np.ndarray:
    """Pixels of a polygon with pixel-centre vertices (how labelme and polyseg mean them)."""
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(points, float)).astype(np.int32)], 1)
    return m.astype(bool)


# --- conventions ------------------------------------------------------------------------------------------------


def test_a_coco_box_names_its_first_and_last_pixel():
    box, why = pixel_box((20, 15, 20 + 40, 15 + 30), WIDTH, HEIGHT, normalised=False)  # bbox [20, 15, 40, 30]
    assert why == "" and box.tolist() == [20, 15, 59, 44]


def test_a_yolo_box_is_its_normalised_centre_and_size():
    cx, cy, w, h = (20 + 20) / WIDTH, (15 + 15) / HEIGHT, 40 / WIDTH, 30 / HEIGHT
    box, _ = pixel_box((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), WIDTH, HEIGHT, normalised=True)
    assert np.allclose(box, [20, 15, 59, 44])


def test_fractional_boxes_map_linearly_and_the_image_border_is_clipped():
    box, _ = pixel_box((10.25, 5.5, 30.75, 25.0), WIDTH, HEIGHT, normalised=False)
    assert np.allclose(box, [10.25, 5.5, 29.75, 24.0])
    box, _ = pixel_box((-0.5, 0, WIDTH + 0.5, HEIGHT), WIDTH, HEIGHT, normalised=False)
    assert box.tolist() == [0, 0, WIDTH - 1, HEIGHT - 1]


@pytest.mark.parametrize(
    ("edges", "reason"),
    [
        ((5, 5, 5 + 2, 40), "box_too_small"),  # 2 px wide: first and last pixel centres 1 px apart
        ((5, 5, 40, 5 + 2), "box_too_small"),
        ((-10, 5, 40, 40), "box_outside_image"),
        ((5, 5, WIDTH + 3, 40), "box_outside_image"),
        ((200, 5, 240, 40), "box_outside_image"),
        ((5, 5, 4, 40), "bad_box"),
        ((5, float("nan"), 40, 40), "bad_box"),
    ],
)
def test_unusable_boxes_say_why(edges, reason):
    assert pixel_box(edges, WIDTH, HEIGHT, normalised=False) == (None, reason)


# --- COCO --------------------------------------------------------------------------------------------------------


@pytest.fixture
def coco(tmp_path):
    return write_coco(tmp_path)


def test_coco_boxes_become_polygons_and_everything_else_is_kept(coco, tmp_path):
    path, images, scenes = coco
    before = digest(path)
    summary = annotate(path, images, tmp_path / "out.json", progress=False)
    assert digest(path) == before, "the input must never be modified"
    src, out = json.loads(path.read_text()), json.loads((tmp_path / "out.json").read_text())
    assert summary.objects == 5 and summary.failures == 0 and summary.images == 2
    assert {k: v for k, v in out.items() if k != "annotations"} == {k: v for k, v in src.items() if k != "annotations"}
    assert [a["id"] for a in out["annotations"]] == [a["id"] for a in src["annotations"]]
    truth = [m for s in scenes for m in s.masks]
    for ann, original, mask in zip(out["annotations"], src["annotations"], truth):
        changed = ("segmentation", "area", "polyseg_score")
        assert {k: v for k, v in ann.items() if k not in changed} == {k: v for k, v in original.items() if k != "area"}
        predicted = coco_mask(ann["segmentation"])
        assert iou(predicted, mask) > 0.75, ann["id"]
        assert 0 < ann["polyseg_score"] <= 1 and ann["area"] > 0
    assert out["annotations"][5] == src["annotations"][5], "iscrowd annotations are skipped"
    assert out["annotations"][6] == src["annotations"][6], "existing segmentations are kept without overwrite"


def test_coco_output_reads_in_pycocotools_and_lies_in_its_box(coco, tmp_path):
    path, images, scenes = coco
    annotate(path, images, tmp_path / "out.json", progress=False)
    api = COCO(str(tmp_path / "out.json"))
    truth = [m for s in scenes for m in s.masks]
    for ann_id, mask in zip(range(11, 16), truth):
        ann = api.loadAnns(ann_id)[0]
        assert iou(api.annToMask(ann).astype(bool), mask) > 0.75
        x, y, w, h = ann["bbox"]  # corner coordinates; the network may spill a pixel past the box
        for polygon in ann["segmentation"]:
            xy = np.asarray(polygon).reshape(-1, 2)
            assert (xy >= (x - 1.5, y - 1.5)).all() and (xy <= (x + w + 1.5, y + h + 1.5)).all()


def test_a_coco_bbox_prompts_the_segmenter_with_its_first_and_last_pixels(coco, tmp_path):
    """The whole chain pinned: bbox [x, y, w, h] gives what ``segment(box=(x, y, x + w - 1, y + h - 1))`` gives."""
    path, images, scenes = coco
    annotate(path, images, tmp_path / "out.json", progress=False)
    out = json.loads((tmp_path / "out.json").read_text())["annotations"]
    image = cv2.cvtColor(scenes[0].image, cv2.COLOR_BGR2RGB)
    with Segmenter.from_pretrained() as seg:
        for ann, mask in zip(out, scenes[0].masks):
            x, y, w, h = bbox(mask)
            assert ann["bbox"] == [x, y, w, h]
            expected = seg.segment(image, box=(x, y, x + w - 1, y + h - 1)).to_coco()
            assert ann["segmentation"] == expected["segmentation"] and ann["area"] == expected["area"]


def test_coco_rle_decodes_to_the_mask_and_its_area(coco, tmp_path):
    path, images, _ = coco
    annotate(path, images, tmp_path / "rle.json", rle=True, progress=False)
    annotate(path, images, tmp_path / "poly.json", progress=False)
    rle = json.loads((tmp_path / "rle.json").read_text())["annotations"]
    poly = json.loads((tmp_path / "poly.json").read_text())["annotations"]
    for a, b in zip(rle[:5], poly[:5]):
        assert a["segmentation"]["size"] == [HEIGHT, WIDTH]
        decoded = coco_mask(a["segmentation"])
        assert decoded.sum() == a["area"] == b["area"]
        assert iou(decoded, coco_mask(b["segmentation"])) > 0.9


def test_overwrite_also_redoes_existing_segmentations(coco, tmp_path):
    path, images, _ = coco
    annotate(path, images, tmp_path / "out.json", overwrite=True, progress=False)
    out = json.loads((tmp_path / "out.json").read_text())["annotations"]
    assert "polyseg_score" in out[6] and "polyseg_score" not in out[5]


# --- YOLO and labelme -----------------------------------------------------------------------------------------


def test_yolo_boxes_become_yolo_seg_lines(tmp_path):
    labels, images, scenes = write_yolo(tmp_path)
    before = digest(labels)
    summary = annotate(labels, images, tmp_path / "seg", progress=False)
    assert digest(labels) == before
    assert summary.objects == 5 and summary.failures == 0
    assert (tmp_path / "seg" / "empty.txt").read_text() == ""
    for s in scenes:
        src = (labels / s.name.replace(".png", ".txt")).read_text().splitlines()
        out = (tmp_path / "seg" / s.name.replace(".png", ".txt")).read_text().splitlines()
        assert len(out) == len(src)
        for k, (line, mask) in enumerate(zip(out, s.masks)):
            values = line.split()
            assert values[0] == str(k)
            xy = np.asarray(values[1:], float).reshape(-1, 2)
            assert ((xy >= 0) & (xy <= 1)).all() and len(xy) >= 3
            corners = (xy * (WIDTH, HEIGHT)).ravel().tolist()  # YOLO-seg: normalised corner coordinates
            assert iou(coco_mask([corners]), mask) > 0.75
        assert out[len(s.masks) :] == src[len(s.masks) :], "lines that are already polygons stay"


def test_labelme_rectangles_become_polygons_in_place(tmp_path):
    folder, scenes = write_labelme(tmp_path)
    before = digest(folder)
    summary = annotate(folder, None, tmp_path / "out", progress=False)
    assert digest(folder) == before
    assert summary.objects == 5
    for s in scenes:
        src = json.loads((folder / s.name.replace(".png", ".json")).read_text())
        out = json.loads((tmp_path / "out" / s.name.replace(".png", ".json")).read_text())
        assert {k: v for k, v in out.items() if k != "shapes"} == {k: v for k, v in src.items() if k != "shapes"}
        kept = [sh for sh in src["shapes"] if sh["shape_type"] != "rectangle"]
        assert [sh for sh in out["shapes"] if sh["label"] in ("dot", "poly")] == kept
        assert out["shapes"][1] == src["shapes"][1], "order kept: the point stays second"
        polygons = [sh for sh in out["shapes"] if sh["label"].startswith("obj")]
        assert all(p["shape_type"] == "polygon" and p["flags"] == {"checked": True} for p in polygons)
        for k, mask in enumerate(s.masks):
            parts = [p for p in polygons if p["label"] == f"obj{k}"]
            assert iou(np.any([fill(p["points"]) for p in parts], axis=0), mask) > 0.75


def test_labelme_images_can_come_from_an_images_folder(tmp_path):
    folder, _ = write_labelme(tmp_path)
    images = tmp_path / "elsewhere"
    images.mkdir()
    for png in folder.glob("*.png"):
        png.rename(images / png.name)
    assert annotate(folder, images, tmp_path / "out", progress=False).objects == 5


# --- failures: kept unchanged, reported, the run goes on --------------------------------------------------------


def test_every_failure_is_kept_unchanged_and_reported(coco, tmp_path):
    path, images, _ = coco
    doc = json.loads(path.read_text())
    anns = doc["annotations"]
    doc["images"] += [{"id": 200, "file_name": "gone.png"}, {"id": 201, "file_name": "corrupt.png"}]
    (images / "corrupt.png").write_bytes(b"not an image at all")
    anns[0]["bbox"] = [5.0, 5.0, 2.0, 40.0]  # too small
    anns[1]["bbox"] = [150.0, 100.0, 40.0, 40.0]  # outside
    anns[2]["bbox"] = [5.0, "a", 40.0, 40.0]  # bad
    anns += [
        {"id": 50, "image_id": 200, "bbox": [1, 1, 20, 20], "category_id": 1},
        {"id": 51, "image_id": 201, "bbox": [1, 1, 20, 20], "category_id": 1},
        {"id": 52, "image_id": 999, "bbox": [1, 1, 20, 20], "category_id": 1},
    ]
    path.write_text(json.dumps(doc))
    summary = annotate(path, images, tmp_path / "out.json", progress=False)
    out = json.loads((tmp_path / "out.json").read_text())["annotations"]
    report = json.loads((tmp_path / "out.json.report.json").read_text())
    assert summary.objects == 2 and summary.failures == 6
    assert report["by_reason"] == {
        "bad_box": 1, "box_outside_image": 1, "box_too_small": 1, "image_missing": 1, "image_unreadable": 1,
        "unknown_image": 1,
    }
    failed = {(f["reason"], f["image"], f["annotation"]) for f in report["failed"]}
    assert failed == {
        ("box_too_small", "100", 11), ("box_outside_image", "100", 12), ("bad_box", "100", 13),
        ("image_missing", "200", 50), ("image_unreadable", "201", 51), ("unknown_image", "999", 52),
    }
    for i in (0, 1, 2, 7, 8, 9):
        assert out[i] == doc["annotations"][i]
    assert not (tmp_path / "out.json.journal.jsonl").exists(), "the journal goes once the output is written"


def test_an_empty_prediction_is_a_failure_too(coco, tmp_path, monkeypatch):
    path, images, _ = coco

    def nothing(self, prepared, probabilities, tolerance=1.4):
        return Segmentation((), np.zeros((0, 0), bool), (0, 0), prepared.image_size, 0.0)

    monkeypatch.setattr(Segmenter, "finish", nothing)
    summary = annotate(path, images, tmp_path / "out.json", progress=False)
    report = json.loads((tmp_path / "out.json.report.json").read_text())
    assert summary.objects == 0 and report["by_reason"] == {"no_object": 5}
    assert json.loads((tmp_path / "out.json").read_text()) == json.loads(path.read_text())


# --- never lose work ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["coco", "yolo", "labelme"])
def test_resume_after_a_crash_gives_the_output_of_one_uninterrupted_run(fmt, tmp_path, monkeypatch):
    if fmt == "coco":
        path, images, _ = write_coco(tmp_path)
    elif fmt == "yolo":
        path, images, _ = write_yolo(tmp_path)
    else:
        (path, _), images = write_labelme(tmp_path), None
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    annotate(path, images, whole, format=fmt, progress=False)
    with monkeypatch.context() as m:
        crash_after(1, m)
        with pytest.raises(KeyboardInterrupt):
            annotate(path, images, broken, format=fmt, progress=False)
    journal = Path(str(broken) + ".journal.jsonl")
    assert len(journal.read_text().splitlines()) == 2  # the header (options) and the finished image
    with pytest.raises(AnnotateError, match="--resume"):
        annotate(path, images, broken, format=fmt, progress=False)
    with open(journal, "a") as f:
        f.write('{"task": "cut short by a kill')  # a machine killed while writing
    summary = annotate(path, images, broken, format=fmt, resume=True, progress=False)
    assert summary.images_run == summary.images - 1, "the finished image is not redone"
    assert digest(broken) == digest(whole)
    report = json.loads(Path(str(broken) + ".report.json").read_text())
    assert report["objects"] == 5 and report["failures"] == 0
    assert not journal.exists()


def test_the_journal_keeps_whole_lines_only(tmp_path):
    path = tmp_path / "j.jsonl"
    j = Journal(path, resume=False)
    j.append({"task": "a", "objects": {}, "failures": {}})
    j.append({"task": "b", "objects": {}, "failures": {}})
    j.close()
    path.write_bytes(path.read_bytes()[:-1])  # the last newline never reached the disk
    j = Journal(path, resume=True)
    assert list(j.done) == ["a"]
    j.append({"task": "c", "objects": {}, "failures": {}})
    j.close()
    header, *lines = path.read_text().splitlines()
    assert json.loads(header)["polyseg_journal"] == 2
    assert [json.loads(line)["task"] for line in lines] == ["a", "c"]


def test_tasks_travel_as_json():
    task = Task("img.png", "/data/img.png", ((3, (1.0, 2.0, 30.0, 40.0)),), normalised=True)
    assert Task.from_json(task.to_json()) == task


def test_the_local_engine_streams_reading_only_a_few_images_ahead(tmp_path):
    from polyseg.annotate.engine import segment_tasks

    image = np.full((48, 64, 3), 60, np.uint8)
    image[10:30, 20:50] = 200  # the object in every box
    cv2.imwrite(str(tmp_path / "a.png"), image)
    pulled = []

    def tasks():
        for i in range(200):
            pulled.append(i)
            yield Task(str(i), str(tmp_path / "a.png"), ((0, (20, 10, 50, 30)), (1, (18, 8, 52, 32))))

    results = segment_tasks(tasks(), Segmenter.from_pretrained(), "coco", workers=2)
    first = next(results)
    ahead = len(pulled)  # tasks read before the first result came out
    rest = list(results)

    assert ahead < 50, f"images are streamed, not all read first ({ahead} read)"
    assert [r["task"] for r in [first, *rest]] == [str(i) for i in range(200)]  # in input order
    assert all(r["objects"] == first["objects"] and not r["failures"] for r in rest)
    assert list(first["objects"]) == ["0", "1"]


# --- command line, progress ------------------------------------------------------------------------------------


def test_cli_annotate_prints_a_one_line_summary(coco, tmp_path, capsys):
    path, images, _ = coco
    code = cli.main(["annotate", str(path), "--images", str(images), "--out", str(tmp_path / "o.json"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 0 and len(err) == 1
    assert "2 images, 5 objects, 0 failures" in err[0] and "objects/s" in err[0] and "images/s" in err[0]


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda p, i, t: [str(t / "nope.json"), "--images", str(i)], "input not found"),
        (lambda p, i, t: [str(p), "--images", str(t / "nope")], "images folder not found"),
        (lambda p, i, t: [str(t / "bad.json"), "--images", str(i)], "not valid JSON"),
        (lambda p, i, t: [str(p), "--images", str(i), "--format", "yolo"], "YOLO labels folder not found"),
        (lambda p, i, t: [str(p)], "--images is required"),
        (lambda p, i, t: [str(p), "--images", str(i), "--workers", "0"], "workers must be at least 1"),
        (lambda p, i, t: [str(p), "--images", str(i), "--tolerance", "-1"], "tolerance"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(coco, tmp_path, capsys, make_args, message):
    path, images, _ = coco
    (tmp_path / "bad.json").write_text("{not json")
    code = cli.main(["annotate", *make_args(path, images, tmp_path), "--out", str(tmp_path / "o.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("polyseg: error: ") and message in err[0]


def test_cli_unknown_format_exits_2_with_one_line(coco, tmp_path, capsys):
    path, images, _ = coco
    with pytest.raises(SystemExit) as exit:
        cli.main(["annotate", str(path), "--images", str(images), "--out", str(tmp_path / "o.json"), "--format", "voc"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit.value.code == 2 and len(err) == 1
    assert err[0].startswith("polyseg: error: argument --format: invalid choice: 'voc'")


def test_cli_refuses_to_write_over_its_input(coco, capsys):
    path, images, _ = coco
    assert cli.main(["annotate", str(path), "--images", str(images), "--out", str(path)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err


def test_the_single_image_command_still_works(tmp_path, capsys):
    assert cli.main(["--example", "--overlay", str(tmp_path / "overlay.png")]) == 0
    assert len(json.loads(capsys.readouterr().out)["polygon"]) >= 3


def test_a_missing_image_gives_our_one_line_only(tmp_path, capfd):
    code = cli.main([str(tmp_path / "missing.jpg"), "--box", "1,2,30,40"])
    err = capfd.readouterr().err.strip().splitlines()  # capfd: OpenCV's own warnings go to fd 2
    assert code == 2 and err == [f"polyseg: error: cannot read image {tmp_path / 'missing.jpg'}: missing, or not an image OpenCV can decode"]


def test_progress_without_tqdm_prints_plain_lines(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    bar = Progress(4, every=0)
    for _ in range(4):
        bar.update(7)
    bar.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("polyseg: 4/4 images") and "obj/s" in lines[-1]
    assert bar.objects == 28

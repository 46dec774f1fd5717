"""Tests for the readers added for weights 2.0: YOLOv8-seg polygons in depth order (the Roboflow export of
Cityscapes), PennFudan's instance-id masks, COCO files de-duplicated by image id, and the guards that keep
reserved evaluation data out.

Fixtures are written by each test under ``tmp_path``. Layered polygons are pixel-centre coordinates: a vertex at
integer ``x`` covers pixel ``x`` (as cityscapesScripts draws them), and a later polygon hides an earlier one.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets import (
    cityscapes_city,
    cityscapes_yolo_sources,
    paint_layers,
    read_coco,
    read_layered,
    read_mask_folders,
    read_semantic,
    user_sources,
    yolo_class_names,
)

NAMES = ["bicycle", "building", "car", "cargroup", "person", "traffic sign"]  # index = class id in the labels


def write_image(path: Path, width: int, height: int, value: int = 90) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((height, width, 3), value, np.uint8))


def yolo_line(cls: int, vertices: list[tuple[float, float]], width: int, height: int) -> str:
    """One label line with pixel-centre vertices normalised by the frame size."""
    return " ".join([str(cls)] + [f"{x / width:.8f} {y / height:.8f}" for x, y in vertices])


def rect(x0: int, y0: int, x1: int, y1: int) -> list[tuple[float, float]]:
    """A rectangle's corner vertices; as pixel-centre polygon it covers columns x0..x1 and rows y0..y1."""
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def write_export(root: Path, frames: dict[str, list[str]], folder: str = "train", size=(64, 32)) -> Path:
    """A Roboflow-style YOLOv8-seg export: ``root/data.yaml``, ``root/FOLDER/{images,labels}``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text("names:\n" + "".join(f"- {n}\n" for n in NAMES) + f"nc: {len(NAMES)}\n")
    for name, lines in frames.items():
        write_image(root / folder / "images" / f"{name}.jpg", *size)
        (root / folder / "labels").mkdir(parents=True, exist_ok=True)
        (root / folder / "labels" / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_paint_layers_fills_pixel_centres_on_the_outline_and_later_polygons_win():
    canvas = paint_layers([np.array(rect(2, 3, 5, 7), float), np.array(rect(4, 0, 9, 4), float)], 12, 10)

    first = canvas == 1
    ys, xs = np.nonzero(canvas > 0)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (2, 9, 0, 7)
    assert first.sum() == 4 * 5 - 2 * 2  # the 4x5 rectangle minus the 2x2 corner the second one covers
    assert not first[3:5, 4:6].any() and first[5:8, 2:6].all()


def test_class_names_come_from_data_yaml_as_a_list_or_an_index_map(tmp_path):
    (tmp_path / "a.yaml").write_text("names:\n- car\n- person\nnc: 2\n")
    (tmp_path / "b.yaml").write_text("names:\n  1: person\n  0: car\n")

    assert yolo_class_names(tmp_path / "a.yaml") == ["car", "person"]
    assert yolo_class_names(tmp_path / "b.yaml") == ["car", "person"]


def test_an_occluded_object_loses_the_pixels_of_polygons_after_it(tmp_path):
    w, h = 64, 32
    root = write_export(
        tmp_path,
        {
            "bremen_000001_000019_leftImg8bit_png.rf.abc": [
                yolo_line(2, rect(10, 5, 29, 20), w, h),  # car, 20 x 16 px
                yolo_line(4, rect(20, 10, 25, 25), w, h),  # person in front of it
                yolo_line(3, rect(10, 5, 14, 9), w, h),  # a crowd (cargroup) hides the car's corner: occluder only
            ]
        },
    )
    frames = list(read_layered(root / "train/images", root / "train/labels", NAMES, size=None, min_area=1))

    assert len(frames) == 1
    frame = frames[0]
    assert frame.group == "bremen" and frame.image.shape == (h, w, 3)
    (car_cls, car), (person_cls, person) = frame.instances
    assert (car_cls, person_cls) == ("car", "person")  # the crowd is no instance
    expected_car = np.zeros((h, w), bool)
    expected_car[5:21, 10:30] = True
    expected_car[10:21, 20:26] = False  # behind the person
    expected_car[5:10, 10:15] = False  # behind the crowd
    np.testing.assert_array_equal(car, expected_car)
    assert person.sum() == 6 * 16 and person[10:26, 20:26].all()


def test_frames_are_rebuilt_at_cityscapes_size_with_exact_masks(tmp_path):
    # Stored stretched to 64x32; vertices are whole pixels of the 2048x1024 original.
    root = write_export(tmp_path, {"ulm_000001_000019_leftImg8bit": [yolo_line(5, rect(1000, 500, 1003, 509), 2048, 1024)]})

    frame = next(read_layered(root / "train/images", root / "train/labels", NAMES, min_area=1))

    assert frame.image.shape == (1024, 2048, 3)
    (cls, mask), = frame.instances
    assert cls == "traffic sign"
    ys, xs = np.nonzero(mask)
    assert (xs.min(), xs.max(), ys.min(), ys.max(), mask.sum()) == (1000, 1003, 500, 509, 40)
    assert list(read_layered(root / "train/images", root / "train/labels", NAMES, min_area=41)) == []


def test_the_first_trials_drawing_rounds_vertices_at_640_and_enlarges_the_mask(tmp_path):
    # A traffic sign 4 x 10 px at 2048x1024: at 640x640 its vertices fall between pixels and are rounded, and each
    # pixel painted there becomes a 3.2 x 1.6 px block. Exact drawing (default) and trial drawing must differ.
    root = write_export(tmp_path, {"ulm_000001_000019_leftImg8bit": [yolo_line(5, rect(1000, 500, 1003, 509), 2048, 1024)]})
    read = lambda **kw: next(read_layered(root / "train/images", root / "train/labels", NAMES, min_area=1, **kw))

    (_, exact), = read().instances
    (_, trial), = read(labels_at=(640, 640)).instances

    x0, x1, y0, y1 = round(1000 / 3.2), round(1003 / 3.2), round(500 / 1.6), round(509 / 1.6)  # 312, 313, 312, 318
    small = np.zeros((640, 640), np.uint8)
    small[y0 : y1 + 1, x0 : x1 + 1] = 1
    expected = cv2.resize(small, (2048, 1024), interpolation=cv2.INTER_NEAREST).astype(bool)
    np.testing.assert_array_equal(trial, expected)
    assert exact.sum() == 40 and trial.sum() != 40
    assert trial.shape == exact.shape == (1024, 2048)


def test_reserved_cities_are_skipped_before_their_files_are_opened(tmp_path):
    w, h = 64, 32
    root = write_export(
        tmp_path,
        {
            "aachen_000001_000019_leftImg8bit": [yolo_line(2, rect(10, 5, 29, 20), w, h)],
            "bochum_000001_000019_leftImg8bit": [yolo_line(2, rect(10, 5, 29, 20), w, h)],
            "jena_000001_000019_leftImg8bit": [yolo_line(2, rect(10, 5, 29, 20), w, h)],
        },
    )
    for city in ("aachen", "bochum"):  # unreadable, so a read would fail
        (root / "train/images" / f"{city}_000001_000019_leftImg8bit.jpg").write_bytes(b"not an image")

    frames = list(read_layered(root / "train/images", root / "train/labels", NAMES, size=None, min_area=1))

    assert [cityscapes_city(f.name) for f in frames] == ["jena"]


def test_export_folders_are_pooled_and_split_by_city(tmp_path):
    w, h = 64, 32
    line = [yolo_line(2, rect(10, 5, 29, 20), w, h)]
    write_export(tmp_path, {"ulm_000001_000019_leftImg8bit": line, "jena_000001_000019_leftImg8bit": line}, "train")
    write_export(tmp_path, {"tubingen_000002_000019_leftImg8bit": line, "erfurt_000002_000019_leftImg8bit": line}, "valid")
    write_export(tmp_path, {"bochum_000003_000019_leftImg8bit": line}, "test")

    sources = cityscapes_yolo_sources(tmp_path)

    assert sorted(f.group for f in sources["train"]()) == ["erfurt", "jena"]
    assert sorted(f.group for f in sources["val"]()) == ["tubingen", "ulm"]
    assert set(user_sources(cityscapes_yolo=tmp_path)) == {"cityscapes_rf"}


def test_pennfudan_instance_ids_keep_touching_people_apart(tmp_path):
    write_image(tmp_path / "PNGImages" / "FudanPed00001.png", 40, 30)
    ids = np.zeros((30, 40), np.uint8)
    ids[5:25, 5:15] = 1
    ids[5:25, 15:25] = 2  # touches person 1
    (tmp_path / "PedMasks").mkdir()
    assert cv2.imwrite(str(tmp_path / "PedMasks" / "FudanPed00001_mask.png"), ids)

    frame = next(read_mask_folders(tmp_path / "PNGImages", tmp_path / "PedMasks", class_name="person",
                                   mask_suffix="_mask", instance_ids=True, min_area=10))
    binary = list(read_mask_folders(tmp_path / "PNGImages", tmp_path / "PedMasks", mask_suffix="_mask", min_area=10))

    assert [m.sum() for _, m in frame.instances] == [200, 200]
    assert binary == []  # ids 1 and 2 are not > 127: read as a binary mask, the frame has no object
    assert {c for c, _ in frame.instances} == {"person"}


def write_coco(path: Path, image_ids: list[int]) -> Path:
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "height": 20, "width": 30} for i in image_ids]
    anns = [{"id": 10 + i, "image_id": i, "category_id": 1, "iscrowd": 0, "bbox": [2, 2, 20, 10],
             "segmentation": [[2, 2, 22, 2, 22, 12, 2, 12]]} for i in image_ids]
    for i in image_ids:
        write_image(path.parent / "train2017" / f"{i:012d}.jpg", 30, 20)
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "cat"}]}))
    return path


def test_coco_files_share_images_once_by_id(tmp_path):
    a = write_coco(tmp_path / "a.json", [1, 2])
    b = write_coco(tmp_path / "b.json", [2, 3])

    frames = list(user_sources(coco=[(a, tmp_path / "train2017"), (b, tmp_path / "train2017")])["coco"]["train"]())

    assert [f.name for f in frames] == ["000000000001.jpg", "000000000002.jpg", "000000000003.jpg"]


def test_coco_val2017_and_camvid_test_are_refused(tmp_path):
    ann = write_coco(tmp_path / "instances_val2017.json", [1])
    with pytest.raises(ValueError, match="val2017 data is reserved for evaluation"):
        list(read_coco(ann, tmp_path / "train2017"))
    train_ann = write_coco(tmp_path / "instances_train2017.json", [1])
    with pytest.raises(ValueError, match="val2017 data is reserved for evaluation"):
        list(read_coco(train_ann, tmp_path / "val2017"))
    (tmp_path / "camvid" / "test" / "images").mkdir(parents=True)
    with pytest.raises(ValueError, match="test split is reserved for evaluation"):
        list(read_semantic(tmp_path / "camvid" / "test"))

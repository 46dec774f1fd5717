"""Tests for the annotation readers in ``training/datasets.py``.

Each reader is run on a tiny fixture in its own on-disk format, written by the test under ``tmp_path``: small
images (40 x 60) and hand-placed rectangles or discs, so the expected instance masks are known exactly.

Conventions checked throughout
------------------------------
- Images are written with OpenCV (BGR on disk) and must come back RGB.
- Corner-coordinate polygons (COCO, VIA, YOLO) cover pixel ``i`` when ``i`` lies in ``[x0, x1)``.
- Cityscapes polygons are pixel-centre coordinates: a vertex at ``x`` covers pixel ``x`` itself.

The last test reads one frame of the real data in ``../shared/data`` (beside the repository) and is skipped where it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import datasets
from datasets import (
    Frame,
    components,
    polygons_to_mask,
    read_cityscapes,
    read_coco,
    read_mask_folders,
    read_semantic,
    read_via,
    read_yolo,
    roboflow_group,
    shared_sources,
)

H, W = 40, 60
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data beside the repo

# --- fixture helpers -------------------------------------------------------------------------------------------


def rgb_image(height: int = H, width: int = W) -> np.ndarray:
    """A test image whose three channels differ: R = 200, G = 2 * column, B = 30."""
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = 200
    image[..., 1] = (2 * np.arange(width, dtype=np.uint8))[None, :]
    image[..., 2] = 30
    return image


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB array as an image file (OpenCV stores it BGR), creating the folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def write_gray(path: Path, array: np.ndarray) -> Path:
    """Write a single-channel (uint8 or uint16) array as a PNG, creating the folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)
    return path


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def box_mask(y0: int, y1: int, x0: int, x1: int, height: int = H, width: int = W) -> np.ndarray:
    """Bool mask with rows ``y0..y1-1`` and columns ``x0..x1-1`` set."""
    mask = np.zeros((height, width), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def disc_mask(cx: int, cy: int, r: int, height: int = H, width: int = W) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    cv2.circle(mask, (cx, cy), r, 1, thickness=-1)
    return mask.astype(bool)


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE: run lengths of the column-major flattened mask, starting with a run of zeros."""
    flat = mask.flatten(order="F").astype(np.int8)
    edges = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    runs = np.diff(edges).tolist()
    if flat[0]:
        runs = [0] + runs
    return {"counts": runs, "size": [int(mask.shape[0]), int(mask.shape[1])]}


def compressed_rle(mask: np.ndarray) -> dict:
    """COCO compressed RLE as stored in JSON files (counts as str)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"counts": rle["counts"].decode("ascii"), "size": [int(s) for s in rle["size"]]}


def rect_polygon(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    """Rectangle as a flat COCO polygon ``[x0, y0, x1, y0, x1, y1, x0, y1]``."""
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def assert_covers_box(mask: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> None:
    """``mask`` is exactly the box rows ``y0..y1-1``, columns ``x0..x1-1``."""
    expected = np.zeros_like(mask, dtype=bool)
    expected[y0:y1, x0:x1] = True
    np.testing.assert_array_equal(mask, expected)


def instance_names(frame: Frame) -> list[str]:
    return [name for name, _ in frame.instances]


def assert_rgb_image(frame: Frame, expected: np.ndarray) -> None:
    """The reader returned the written image, converted back to RGB."""
    assert frame.image.dtype == np.uint8
    assert frame.image.shape == expected.shape
    assert tuple(frame.image[5, 10]) == (200, 20, 30)  # R, G, B: not swapped to BGR
    np.testing.assert_array_equal(frame.image, expected)


# --- polygons_to_mask, components, roboflow_group ---------------------------------------------------------------


def test_polygons_to_mask_fills_exactly_the_pixels_inside_a_corner_rectangle():
    mask = polygons_to_mask([np.reshape(rect_polygon(10, 5, 30, 20), (-1, 2))], H, W)

    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, box_mask(5, 20, 10, 30))  # x 10..29, y 5..19


def test_polygons_to_mask_unites_polygons_and_ignores_degenerate_ones():
    first = np.array([[0, 0], [10, 0], [10, 10], [0, 10]])
    second = np.array([[40, 30], [60, 30], [60, 40], [40, 40]])
    two_points = np.array([[20, 20], [30, 30]])

    mask = polygons_to_mask([first, second, two_points], H, W)

    assert mask.dtype == bool and mask.shape == (H, W)
    np.testing.assert_array_equal(mask, polygons_to_mask([first], H, W) | polygons_to_mask([second], H, W))
    assert_covers_box(mask[:20, :20], 0, 10, 0, 10)
    np.testing.assert_array_equal(mask[20:, 30:], box_mask(10, 20, 10, 30, 20, 30))  # clipped at the corner
    assert not mask[20:, :30].any() and not mask[:20, 20:].any()
    assert not polygons_to_mask([two_points], H, W).any()


def test_components_splits_8_connected_blobs_and_drops_small_ones():
    mask = box_mask(0, 10, 0, 10) | box_mask(20, 30, 40, 55) | box_mask(35, 37, 0, 3)  # 100, 150 and 6 pixels
    mask[10, 10] = True  # touches the first blob diagonally only: still the same component

    parts = components(mask, min_area=50)

    assert len(parts) == 2
    assert [int(p.sum()) for p in parts] == [101, 150]
    assert parts[0][10, 10] and parts[0][0, 0]
    np.testing.assert_array_equal(parts[1], box_mask(20, 30, 40, 55))
    assert len(components(mask, min_area=1)) == 3
    assert components(np.zeros((H, W), bool), min_area=1) == []


@pytest.mark.parametrize(
    "file_name, group",
    [
        ("frame_0012_jpg.rf.3f9c2a.jpg", "frame_0012"),
        ("frame_0012_png.rf.77aa.jpg", "frame_0012_png"),
        ("photo.rf.77aa.jpg", "photo"),
        ("plain.jpg", "plain.jpg"),
    ],
)
def test_roboflow_group_strips_the_augmentation_suffix(file_name, group):
    assert roboflow_group(file_name) == group


# --- semantic label folders (CamVid) ----------------------------------------------------------------------------


def write_camvid(root: Path) -> dict[str, np.ndarray]:
    """Two CamVid frames; the first holds two cars, a sign, a too-small pedestrian and some road."""
    labels = np.zeros((H, W), np.uint8)
    labels[30:40, :] = 3  # road: not an object class
    labels[2:14, 2:18] = 8  # car, 192 px
    labels[20:30, 30:50] = 8  # a second, separate car, 200 px
    labels[2:15, 40:56] = 6  # sign, 208 px
    labels[22:27, 5:10] = 9  # pedestrian, 25 px: below min_area
    write_rgb(root / "images" / "0001TP_006690.png", rgb_image())
    write_gray(root / "labels" / "0001TP_006690.png", labels)
    write_rgb(root / "images" / "Seq05VD_f00000.png", rgb_image())
    write_gray(root / "labels" / "Seq05VD_f00000.png", np.full((H, W), 3, np.uint8))
    return {"labels": labels}


def test_read_semantic_makes_one_instance_per_connected_blob(tmp_path):
    write_camvid(tmp_path)

    frames = list(read_semantic(tmp_path))

    assert [f.name for f in frames] == ["0001TP_006690", "Seq05VD_f00000"]
    assert [f.group for f in frames] == ["0001TP", "Seq05VD"]
    first = frames[0]
    assert_rgb_image(first, rgb_image())
    assert sorted(instance_names(first)) == ["car", "car", "sign"]  # the 25-px pedestrian is dropped
    cars = [m for name, m in first.instances if name == "car"]
    np.testing.assert_array_equal(cars[0], box_mask(2, 14, 2, 18))
    np.testing.assert_array_equal(cars[1], box_mask(20, 30, 30, 50))
    sign = next(m for name, m in first.instances if name == "sign")
    np.testing.assert_array_equal(sign, box_mask(2, 15, 40, 56))
    assert frames[1].instances == []  # frames without objects are still yielded


def test_read_semantic_honours_classes_and_min_area(tmp_path):
    write_camvid(tmp_path)

    first = next(read_semantic(tmp_path, classes={9: "pedestrian", 3: "road"}, min_area=20))

    assert instance_names(first) == ["pedestrian", "road"]
    np.testing.assert_array_equal(first.instances[0][1], box_mask(22, 27, 5, 10))


# --- COCO -------------------------------------------------------------------------------------------------------


def write_coco(folder: Path) -> dict[str, np.ndarray]:
    """One image with a polygon car, an uncompressed-RLE person, a compressed-RLE car, a crowd and some road;
    a second image holds only a crowd annotation. Returns the masks drawn."""
    drawn = {
        "polygon": box_mask(5, 20, 10, 30),  # corner rectangle x 10..30, y 5..20
        "rle": box_mask(22, 36, 5, 20),
        "compressed": disc_mask(45, 28, 8),
        "crowd": box_mask(0, 40, 50, 60),
    }
    write_rgb(folder / "img_a.png", rgb_image())
    write_rgb(folder / "img_b.png", rgb_image())
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": [rect_polygon(10, 5, 30, 20)]},
        {"id": 2, "image_id": 1, "category_id": 2, "iscrowd": 0, "segmentation": uncompressed_rle(drawn["rle"])},
        {"id": 3, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": compressed_rle(drawn["compressed"])},
        {"id": 4, "image_id": 1, "category_id": 2, "iscrowd": 1, "segmentation": uncompressed_rle(drawn["crowd"])},
        {"id": 5, "image_id": 1, "category_id": 3, "iscrowd": 0, "segmentation": [rect_polygon(0, 36, 60, 40)]},
        {"id": 6, "image_id": 2, "category_id": 2, "iscrowd": 1, "segmentation": uncompressed_rle(drawn["crowd"])},
    ]
    write_json(
        folder / "_annotations.coco.json",
        {
            "images": [
                {"id": 1, "file_name": "img_a.png", "height": H, "width": W},
                {"id": 2, "file_name": "img_b.png", "height": H, "width": W},
            ],
            "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}, {"id": 3, "name": "road"}],
            "annotations": annotations,
        },
    )
    return drawn


def test_read_coco_decodes_polygons_and_both_rle_kinds_and_skips_crowds(tmp_path):
    drawn = write_coco(tmp_path)

    frames = list(read_coco(tmp_path / "_annotations.coco.json", skip_classes=("road",)))

    assert len(frames) == 1  # img_b holds only a crowd: no instances, no frame
    frame = frames[0]
    assert (frame.name, frame.group) == ("img_a.png", "img_a.png")
    assert_rgb_image(frame, rgb_image())
    assert instance_names(frame) == ["car", "person", "car"]
    polygon, rle, compressed = (mask for _, mask in frame.instances)
    assert_covers_box(polygon, 5, 20, 10, 30)
    np.testing.assert_array_equal(rle, drawn["rle"])
    np.testing.assert_array_equal(compressed, drawn["compressed"])
    assert all(mask.dtype == bool and mask.shape == (H, W) for _, mask in frame.instances)


def test_read_coco_class_filters_min_area_and_group_fn(tmp_path):
    write_coco(tmp_path)
    path = tmp_path / "_annotations.coco.json"

    assert instance_names(next(read_coco(path))) == ["car", "person", "car", "road"]
    assert instance_names(next(read_coco(path, keep_classes=("person",)))) == ["person"]
    assert instance_names(next(read_coco(path, min_area=250))) == ["car"]  # 300 px; the others are smaller
    assert next(read_coco(path, group_fn=lambda name: name[:3])).group == "img"


def test_read_coco_takes_images_from_image_dir_and_checks_their_size(tmp_path):
    write_coco(tmp_path / "ann")
    (tmp_path / "ann" / "img_a.png").rename(tmp_path / "img_a.png")
    path = tmp_path / "ann" / "_annotations.coco.json"

    assert next(read_coco(path, tmp_path)).name == "img_a.png"
    write_rgb(tmp_path / "img_a.png", rgb_image(H // 2, W))
    with pytest.raises(ValueError, match="img_a.png"):
        next(read_coco(path, tmp_path))


# --- Cityscapes -------------------------------------------------------------------------------------------------


def write_cityscapes(root: Path) -> None:
    """``bremen``: one frame with an instance-id PNG; ``jena``: one frame with only a polygon JSON."""
    ids = np.zeros((H, W), np.uint16)
    ids[34:40, 15:60] = 7  # road: not one of the 9 classes
    ids[2:16, 2:20] = 26001  # car, 252 px
    ids[2:16, 25:45] = 26002  # car, 280 px
    ids[2:7, 50:55] = 26003  # car, 25 px: below min_area
    ids[20:38, 2:13] = 24001  # person, 198 px
    ids[20:32, 20:34] = 20  # traffic sign without instance id, 168 px
    ids[20:23, 45:48] = 20  # a 9-px speck of traffic sign: below min_area
    stem = "bremen_000000_000019"
    write_gray(root / "gtFine" / "train" / "bremen" / f"{stem}_gtFine_instanceIds.png", ids)
    write_rgb(root / "leftImg8bit" / "train" / "bremen" / f"{stem}_leftImg8bit.png", rgb_image())

    stem = "jena_000000_000313"
    square = lambda x0, y0, x1, y1: [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    write_json(
        root / "gtFine" / "train" / "jena" / f"{stem}_gtFine_polygons.json",
        {
            "imgHeight": H,
            "imgWidth": W,
            "objects": [
                {"label": "car", "polygon": square(10, 5, 29, 24)},  # pixel centres: x 10..29, y 5..24
                {"label": "persongroup", "polygon": square(40, 5, 49, 24)},
                {"label": "road", "polygon": square(0, 30, 59, 39)},
                {"label": "car", "polygon": square(0, 30, 59, 39), "deleted": 1},
                {"label": "traffic light", "polygon": square(55, 0, 57, 2)},  # 9 px: below min_area
            ],
        },
    )
    write_rgb(root / "leftImg8bit" / "train" / "jena" / f"{stem}_leftImg8bit.png", rgb_image())


def test_read_cityscapes_instance_ids(tmp_path):
    write_cityscapes(tmp_path)

    frame = next(read_cityscapes(tmp_path))

    assert (frame.name, frame.group) == ("bremen_000000_000019", "bremen")
    assert_rgb_image(frame, rgb_image())
    assert sorted(instance_names(frame)) == ["car", "car", "person", "traffic sign"]
    masks = {(name, int(m.sum())): m for name, m in frame.instances}
    np.testing.assert_array_equal(masks["car", 252], box_mask(2, 16, 2, 20))
    np.testing.assert_array_equal(masks["car", 280], box_mask(2, 16, 25, 45))
    np.testing.assert_array_equal(masks["person", 198], box_mask(20, 38, 2, 13))
    np.testing.assert_array_equal(masks["traffic sign", 168], box_mask(20, 32, 20, 34))


def test_read_cityscapes_polygon_json_uses_pixel_centre_coordinates(tmp_path):
    write_cityscapes(tmp_path)

    frames = list(read_cityscapes(tmp_path))

    assert [f.group for f in frames] == ["bremen", "jena"]
    frame = frames[1]
    assert frame.name == "jena_000000_000313"
    assert_rgb_image(frame, rgb_image())
    assert instance_names(frame) == ["car", "person"]  # "persongroup" -> "person"; road, deleted, tiny dropped
    np.testing.assert_array_equal(frame.instances[0][1], box_mask(5, 25, 10, 30))
    np.testing.assert_array_equal(frame.instances[1][1], box_mask(5, 25, 40, 50))


def test_read_cityscapes_reads_only_the_requested_split(tmp_path):
    write_cityscapes(tmp_path)
    (tmp_path / "gtFine" / "val" / "bremen").mkdir(parents=True)

    assert list(read_cityscapes(tmp_path, split="val")) == []
    assert len(list(read_cityscapes(tmp_path, split="train"))) == 2


# --- image + binary-mask folders --------------------------------------------------------------------------------


def write_mask_folders(root: Path) -> None:
    """``a``: a half-size mask; ``b``: two blobs and a speck; ``c``: no mask; ``d``: a mask without an image;
    ``e``: an empty mask."""
    for stem in "abce":
        write_rgb(root / "images" / f"{stem}.png", rgb_image())
    half = np.zeros((H // 2, W // 2), np.uint8)
    half[5:15, 5:25] = 255
    write_gray(root / "masks" / "a.png", half)
    two = np.zeros((H, W), np.uint8)
    two[5:25, 2:22] = 255
    two[5:25, 35:55] = 255
    two[30:33, 30:33] = 255
    write_gray(root / "masks" / "b.png", two)
    write_gray(root / "masks" / "d.png", two)
    write_gray(root / "masks" / "e.png", np.zeros((H, W), np.uint8))


def test_read_mask_folders_resizes_small_masks_and_splits_blobs(tmp_path):
    write_mask_folders(tmp_path)

    frames = list(read_mask_folders(tmp_path / "images", tmp_path / "masks", class_name="person"))

    assert [(f.name, f.group) for f in frames] == [("a", "a"), ("b", "b")]
    a, b = frames
    assert_rgb_image(a, rgb_image())
    assert instance_names(a) == ["person"]
    np.testing.assert_array_equal(a.instances[0][1], box_mask(10, 30, 10, 50))  # half-size mask scaled by 2
    assert instance_names(b) == ["person", "person"]  # the 9-px speck is below min_area
    np.testing.assert_array_equal(b.instances[0][1], box_mask(5, 25, 2, 22))
    np.testing.assert_array_equal(b.instances[1][1], box_mask(5, 25, 35, 55))


def test_read_mask_folders_min_area(tmp_path):
    write_mask_folders(tmp_path)

    frames = {f.name: f for f in read_mask_folders(tmp_path / "images", tmp_path / "masks", min_area=5)}

    assert instance_names(frames["b"]) == ["object"] * 3
    assert [f for f in read_mask_folders(tmp_path / "images", tmp_path / "masks", min_area=1000)] == []


# --- VGG Image Annotator ----------------------------------------------------------------------------------------


def via_polygon(xs: list[int], ys: list[int], cls: str) -> dict:
    return {
        "shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
        "region_attributes": {"Clases": cls},
    }


def write_via(folder: Path) -> Path:
    write_rgb(folder / "road_001.png", rgb_image())
    write_rgb(folder / "road_002.png", rgb_image())
    data = {
        "road_001.png1234": {
            "filename": "road_001.png",
            "size": 1234,
            "regions": {
                "0": via_polygon([10, 30, 30, 10], [5, 5, 20, 20], "Vehiculo"),
                "1": via_polygon([0, 60, 60, 0], [25, 25, 40, 40], "Pista"),
                "2": {"shape_attributes": {"name": "rect", "x": 40, "y": 0, "width": 15, "height": 15},
                      "region_attributes": {"Clases": "Vehiculo"}},
            },
            "file_attributes": {},
        },
        "missing.png999": {
            "filename": "missing.png",
            "size": 999,
            "regions": {"0": via_polygon([10, 30, 30, 10], [5, 5, 20, 20], "Vehiculo")},
            "file_attributes": {},
        },
        "road_002.png555": {  # regions as a list (VIA 2 style); only road
            "filename": "road_002.png",
            "size": 555,
            "regions": [via_polygon([0, 60, 60, 0], [25, 25, 40, 40], "Pista")],
            "file_attributes": {},
        },
    }
    return write_json(folder / "via_annotations.json", data)


def test_read_via_polygons_skip_classes_and_missing_images(tmp_path):
    path = write_via(tmp_path)

    frames = list(read_via(path, skip_classes=("Pista",)))

    assert len(frames) == 1  # missing.png has no file; road_002 holds only skipped regions
    frame = frames[0]
    assert (frame.name, frame.group) == ("road_001.png", "road_001.png")
    assert_rgb_image(frame, rgb_image())
    assert instance_names(frame) == ["Vehiculo"]  # the rect region is not a polygon
    assert_covers_box(frame.instances[0][1], 5, 20, 10, 30)


def test_read_via_keeps_every_class_without_skip_classes(tmp_path):
    path = write_via(tmp_path)

    frames = list(read_via(path))

    assert [f.name for f in frames] == ["road_001.png", "road_002.png"]
    assert instance_names(frames[0]) == ["Vehiculo", "Pista"]
    np.testing.assert_array_equal(frames[1].instances[0][1], box_mask(25, 40, 0, 60))


# --- YOLO segmentation ------------------------------------------------------------------------------------------


def write_yolo(root: Path) -> tuple[Path, Path]:
    """``images/street.png`` with a labelled person and an unnamed class 5; ``labels/orphan.txt`` has no image."""
    write_rgb(root / "images" / "street.png", rgb_image())
    labels = root / "labels"
    labels.mkdir()
    (labels / "street.txt").write_text(
        "0 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75\n"  # x 15..45, y 10..30 in pixels
        "5 0.0 0.0 0.2 0.0 0.2 0.5 0.0 0.5\n"  # x 0..12, y 0..20; class 5 has no name here
        "3 0.1 0.1 0.2 0.2\n"  # too few points: ignored
        "\n"
    )
    (labels / "orphan.txt").write_text("0 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75\n")  # no image
    return root / "images", labels


def test_read_yolo_scales_normalised_polygons_and_names_classes(tmp_path):
    images, labels = write_yolo(tmp_path)

    frames = list(read_yolo(images, labels, class_names={0: "person"}))

    assert [(f.name, f.group) for f in frames] == [("street", "street")]
    frame = frames[0]
    assert_rgb_image(frame, rgb_image())
    assert instance_names(frame) == ["person", "5"]
    assert_covers_box(frame.instances[0][1], 10, 30, 15, 45)
    assert_covers_box(frame.instances[1][1], 0, 20, 0, 12)
    assert instance_names(next(read_yolo(images, labels))) == ["0", "5"]
    assert instance_names(next(read_yolo(images, labels, min_area=300))) == ["0"]


# --- pixel-exact corner polygons (known bug) ---------------------------------------------------------------------


def first_polygon_mask(reader: str, root: Path) -> np.ndarray:
    """The first instance mask each corner-coordinate reader makes from its fixture's first polygon."""
    if reader == "coco":
        write_coco(root)
        return next(read_coco(root / "_annotations.coco.json")).instances[0][1]
    if reader == "via":
        return next(read_via(write_via(root))).instances[0][1]
    return next(read_yolo(*write_yolo(root))).instances[0][1]


@pytest.mark.parametrize(
    "reader, box",
    [("coco", (5, 20, 10, 30)), ("via", (5, 20, 10, 30)), ("yolo", (10, 30, 15, 45))],
)
def test_corner_polygons_are_pixel_exact(tmp_path, reader, box):
    # COCO [10, 5, 30, 5, 30, 20, 10, 20], VIA x 10..30 / y 5..20, YOLO 0.25..0.75: pixels x0..x1-1, y0..y1-1.
    np.testing.assert_array_equal(first_polygon_mask(reader, tmp_path), box_mask(*box))


# --- the real data sets -----------------------------------------------------------------------------------------


@pytest.mark.skipif(not SHARED_DATA.exists(), reason=f"{SHARED_DATA} is not present")
def test_shared_sources_on_the_real_data():
    sources = shared_sources(SHARED_DATA)

    assert set(sources) == {"camvid", "adas", "otonom", "coco128", "humanseg"}
    assert all("train" in splits for splits in sources.values())
    frame = next(sources["camvid"]["train"]())
    assert frame.image.shape == (360, 480, 3)
    assert frame.image.dtype == np.uint8
    assert len(frame.instances) >= 1
    assert all(mask.shape == (360, 480) and mask.dtype == bool for _, mask in frame.instances)
    assert set(instance_names(frame)) <= set(datasets.CAMVID_CLASSES.values())


def test_shared_sources_leaves_out_missing_sets(tmp_path):
    assert shared_sources(tmp_path) == {}
    (tmp_path / "camvid").mkdir()
    assert set(shared_sources(tmp_path)) == {"camvid"}
    assert set(shared_sources(tmp_path)["camvid"]) == {"train", "val"}

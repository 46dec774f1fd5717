"""Tests for the general-object readers in ``training/datasets.py``: salient-object masks (DUTS) and human-parsing
labels (Clothing Co-Parsing), on fixtures the tests write under ``tmp_path``."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from datasets import read_parsing, read_salient, salient_objects, user_sources

H, W = 120, 160


def disc(cx: int, cy: int, r: int) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    cv2.circle(m, (cx, cy), r, 1, -1)
    return m.astype(bool)


def test_one_object_cut_by_a_thin_occluder_stays_one():
    body = disc(60, 60, 30)
    body[:, 58:61] = False  # a post in front of it: two components, 3 px apart
    objects = salient_objects(body)
    assert len(objects) == 1
    assert (objects[0] == body).all()  # only the mask's own pixels, not the closing's bridge


def test_objects_far_apart_are_separate_largest_first():
    small, large = disc(20, 20, 12), disc(110, 70, 30)
    objects = salient_objects(small | large)
    assert len(objects) == 2
    assert (objects[0] == large).all() and (objects[1] == small).all()


def test_specks_are_dropped():
    speck = np.zeros((H, W), bool)
    speck[5:8, 150:153] = True
    objects = salient_objects(disc(60, 60, 30) | speck)
    assert len(objects) == 1 and not objects[0][5:8, 150:153].any()


def write_pair(tmp_path, stem: str, mask: np.ndarray, grey_edge: bool = False) -> None:
    (tmp_path / "img").mkdir(exist_ok=True)
    (tmp_path / "msk").mkdir(exist_ok=True)
    image = np.full((H, W, 3), (0, 0, 255), np.uint8)  # BGR red on disk
    cv2.imwrite(str(tmp_path / "img" / f"{stem}.png"), image)
    grey = mask.astype(np.uint8) * 255
    if grey_edge:
        grey = cv2.GaussianBlur(grey, (5, 5), 0)  # DUTS masks have soft edges
    cv2.imwrite(str(tmp_path / "msk" / f"{stem}.png"), grey)


def test_read_salient_thresholds_soft_masks_and_splits(tmp_path):
    write_pair(tmp_path, "a", disc(40, 60, 25), grey_edge=True)
    write_pair(tmp_path, "b", disc(20, 20, 12) | disc(110, 70, 30))
    write_pair(tmp_path, "c", np.zeros((H, W), bool))  # nothing salient: no frame
    frames = list(read_salient(tmp_path / "img", tmp_path / "msk"))
    assert [f.name for f in frames] == ["a", "b"]
    assert [len(f.instances) for f in frames] == [1, 2]
    assert frames[0].image[0, 0].tolist() == [255, 0, 0]  # RGB
    iou = (frames[0].instances[0][1] & disc(40, 60, 25)).sum() / (frames[0].instances[0][1] | disc(40, 60, 25)).sum()
    assert iou > 0.95


def test_read_salient_keep_selects_images_by_index(tmp_path):
    for stem in "abcd":
        write_pair(tmp_path, stem, disc(60, 60, 30))
    frames = list(read_salient(tmp_path / "img", tmp_path / "msk", keep=lambda i: i % 2 == 1))
    assert [f.name for f in frames] == ["b", "d"]


def test_duts_split_is_by_image_and_disjoint(tmp_path):
    for split in ("TR", "TE"):
        for i in range(12):
            d = tmp_path / "DUTS" / f"DUTS-{split}"
            (d / f"DUTS-{split}-Image").mkdir(parents=True, exist_ok=True)
            (d / f"DUTS-{split}-Mask").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(d / f"DUTS-{split}-Image" / f"{split}{i:02d}.jpg"), np.zeros((H, W, 3), np.uint8))
            cv2.imwrite(str(d / f"DUTS-{split}-Mask" / f"{split}{i:02d}.png"), disc(60, 60, 30).astype(np.uint8) * 255)
    readers = user_sources(duts=tmp_path / "DUTS")["duts"]
    train = {f.name for f in readers["train"]()}
    val = {f.name for f in readers["val"]()}
    assert val == {"TE09"}
    assert not train & val and len(train) == 12 + 11


def test_read_parsing_takes_every_label_as_the_person(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")  # a training-only dependency
    (tmp_path / "photos").mkdir()
    (tmp_path / "labels").mkdir()
    labels = np.zeros((H, W), np.uint8)
    labels[20:60, 60:100] = 41  # skin
    labels[60:110, 55:105] = 31  # pants
    labels[40:50, 108:114] = 19  # a hand held apart, 8 px away: part of the person
    labels[2:6, 2:6] = 5  # a speck far away: dropped
    cv2.imwrite(str(tmp_path / "photos" / "0001.jpg"), np.zeros((H, W, 3), np.uint8))
    scipy_io.savemat(str(tmp_path / "labels" / "0001.mat"), {"groundtruth": labels})
    (frame,) = read_parsing(tmp_path / "photos", tmp_path / "labels")
    ((cls, person),) = frame.instances
    assert cls == "person"
    assert (person == ((labels > 0) & ~(np.arange(W)[None] < 10))).all()


def test_animal_folders_pair_image_and_mask_stems_and_split_per_class(tmp_path):
    for cls in ("emu", "rhino"):
        (tmp_path / "images" / cls).mkdir(parents=True)
        (tmp_path / "masks" / cls).mkdir(parents=True)
        for i in range(1, 7):
            cv2.imwrite(str(tmp_path / "images" / cls / f"image_{i:04d}.jpg"), np.zeros((H, W, 3), np.uint8))
            cv2.imwrite(str(tmp_path / "masks" / cls / f"mask_{i:04d}.png"), disc(60, 60, 30).astype(np.uint8) * 255)
    readers = user_sources(animals=tmp_path)["animals"]
    train = [(f.instances[0][0], f.name) for f in readers["train"]()]
    val = [(f.instances[0][0], f.name) for f in readers["val"]()]
    assert val == [("emu", "0005"), ("rhino", "0005")]  # every 5th image of each class, by name
    assert len(train) == 10 and not set(train) & set(val)


def test_borrat_takes_its_own_train_and_valid_folders(tmp_path):
    for folder, ids in (("train", [1, 2]), ("valid", [3])):
        (tmp_path / folder).mkdir()
        images, anns = [], []
        for i in ids:
            cv2.imwrite(str(tmp_path / folder / f"f{i}.jpg"), np.zeros((H, W, 3), np.uint8))
            images.append({"id": i, "file_name": f"f{i}.jpg", "width": W, "height": H})
            anns.append({"id": i, "image_id": i, "category_id": 1, "iscrowd": 0, "area": 1600.0,
                         "bbox": [40, 40, 40, 40], "segmentation": [[40, 40, 80, 40, 80, 80, 40, 80]]})
        data = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "human"}]}
        (tmp_path / folder / "_annotations.coco.json").write_text(json.dumps(data))
    readers = user_sources(borrat=tmp_path)["borrat"]
    assert len(list(readers["train"]())) == 2
    (val,) = readers["val"]()
    assert val.instances[0][0] == "human" and 1500 < val.instances[0][1].sum() < 1800

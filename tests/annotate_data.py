"""Small box-labelled data sets written by the tests: synthetic images with objects of known pixels, as COCO,
YOLO and labelme, with the awkward cases (crowd, already segmented, missing or corrupt image, bad boxes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT = 160, 120


@dataclass(frozen=True)
class Scene:
    """One image and the masks of its objects ((H, W) bool each)."""

    name: str
    image: np.ndarray  # (H, W, 3) uint8 BGR
    masks: tuple[np.ndarray, ...]


def bbox(mask: np.ndarray) -> list[float]:
    """COCO ``[x, y, w, h]`` of a mask, corner coordinates: columns x .. x + w - 1, rows y .. y + h - 1."""
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def scenes() -> list[Scene]:
    """Two 160x120 images: a red square, a green ellipse and a yellow ring; a blue square and a white disc."""
    rng = np.random.default_rng(0)
    out = []
    shapes = [
        [("rect", (20, 15, 59, 54), (40, 60, 220)), ("ellipse", (110, 75, 32, 22), (60, 200, 40)),
         ("ring", (52, 90, 26, 10), (40, 230, 230))],
        [("rect", (90, 20, 139, 69), (220, 80, 40)), ("disc", (45, 70, 25, 25), (235, 235, 235))],
    ]
    for n, objects in enumerate(shapes):
        image = rng.normal(90, 20, (HEIGHT, WIDTH, 3)).clip(0, 255).astype(np.uint8)
        masks = []
        for kind, (a, b, c, d), colour in objects:
            m = np.zeros((HEIGHT, WIDTH), np.uint8)
            if kind == "rect":
                m[b : d + 1, a : c + 1] = 1
            elif kind == "ring":
                cv2.circle(m, (a, b), c, 1, -1)
                cv2.circle(m, (a, b), d, 0, -1)
            else:
                cv2.ellipse(m, (a, b), (c, d), 0, 0, 360, 1, -1)
            image[m > 0] = colour
            masks.append(m > 0)
        out.append(Scene(f"scene{n}.png", image, tuple(masks)))
    return out


def write_images(folder: Path) -> list[Scene]:
    folder.mkdir(parents=True, exist_ok=True)
    found = scenes()
    for s in found:
        cv2.imwrite(str(folder / s.name), s.image)
    return found


def write_coco(root: Path) -> tuple[Path, Path, list[Scene]]:
    """``root/instances.json`` and ``root/images/``: every object as a box, plus one crowd annotation and one
    that already has a segmentation, with extra keys everywhere. Annotation ids run 11, 12, ..."""
    images = root / "images"
    found = write_images(images)
    doc = {
        "info": {"description": "test set", "version": "1"},
        "licenses": [{"id": 1, "name": "CC"}],
        "images": [
            {"id": 100 + n, "file_name": s.name, "width": WIDTH, "height": HEIGHT, "license": 1}
            for n, s in enumerate(found)
        ],
        "annotations": [],
        "categories": [{"id": 1, "name": "thing", "supercategory": "object"}],
    }
    for n, s in enumerate(found):
        for m in s.masks:
            doc["annotations"].append(
                {"id": 11 + len(doc["annotations"]), "image_id": 100 + n, "category_id": 1, "bbox": bbox(m),
                 "area": float(m.sum()), "iscrowd": 0, "attributes": {"occluded": False}}
            )
    doc["annotations"].append(
        {"id": 90, "image_id": 100, "category_id": 1, "bbox": [0.0, 0.0, 30.0, 20.0], "iscrowd": 1,
         "segmentation": {"counts": [0, 10], "size": [HEIGHT, WIDTH]}, "area": 10.0}
    )
    doc["annotations"].append(
        {"id": 91, "image_id": 101, "category_id": 1, "bbox": bbox(found[1].masks[0]), "iscrowd": 0,
         "segmentation": [[90.0, 20.0, 140.0, 20.0, 140.0, 70.0, 90.0, 70.0]], "area": 2500.0}
    )
    path = root / "instances.json"
    path.write_text(json.dumps(doc, indent=1))
    return path, images, found


def write_yolo(root: Path) -> tuple[Path, Path, list[Scene]]:
    """``root/labels/*.txt`` (``class cx cy w h`` normalised; one line already a polygon) and ``root/images/``;
    plus an empty label file."""
    images = root / "images"
    found = write_images(images)
    labels = root / "labels"
    labels.mkdir(parents=True)
    for s in found:
        lines = []
        for k, m in enumerate(s.masks):
            x, y, w, h = bbox(m)
            lines.append(f"{k} {(x + w / 2) / WIDTH:.6f} {(y + h / 2) / HEIGHT:.6f} {w / WIDTH:.6f} {h / HEIGHT:.6f}")
        (labels / s.name.replace(".png", ".txt")).write_text("\n".join(lines) + "\n")
    with open(labels / found[0].name.replace(".png", ".txt"), "a") as f:
        f.write("7 0.1 0.1 0.2 0.1 0.2 0.2\n")
    (labels / "empty.txt").write_text("")
    return labels, images, found


def write_labelme(root: Path) -> tuple[Path, list[Scene]]:
    """``root/labelme/*.json`` next to their images (``imagePath`` relative), rectangles with corners in either
    order, plus a point shape and a polygon that must stay."""
    folder = root / "labelme"
    found = write_images(folder)
    for s in found:
        shapes = []
        for k, m in enumerate(s.masks):
            x, y, w, h = bbox(m)
            corners = [[x, y], [x + w - 1, y + h - 1]]
            shapes.append({"label": f"obj{k}", "points": corners if k % 2 == 0 else corners[::-1], "group_id": None,
                           "description": "", "shape_type": "rectangle", "flags": {"checked": True}, "mask": None})
        shapes.insert(1, {"label": "dot", "points": [[5.0, 5.0]], "group_id": None, "description": "note",
                          "shape_type": "point", "flags": {}, "mask": None})
        shapes.append({"label": "poly", "points": [[1.0, 1.0], [10.0, 1.0], [10.0, 10.0]], "group_id": 7,
                       "description": "", "shape_type": "polygon", "flags": {}, "mask": None})
        doc = {"version": "5.5.0", "flags": {"reviewed": False}, "shapes": shapes, "imagePath": s.name,
               "imageData": None, "imageHeight": HEIGHT, "imageWidth": WIDTH, "custom": [1, 2]}
        (folder / s.name.replace(".png", ".json")).write_text(json.dumps(doc, indent=2))
    return folder, found


def crash_after(n: int, monkeypatch) -> None:
    """Make the next ``annotate`` run die (like Ctrl-C) after ``n`` images are done."""
    from polyseg.annotate import run as run_module

    real = run_module._run

    def dying(*args, **kwargs):
        for k, result in enumerate(real(*args, **kwargs)):
            if k == n:
                raise KeyboardInterrupt
            yield result

    monkeypatch.setattr(run_module, "_run", dying)

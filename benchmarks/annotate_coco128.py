"""Accuracy of ``polyseg annotate`` on COCO128: boxes taken from its polygons, polygons back, IoU against the truth.

    python benchmarks/annotate_coco128.py ../shared/data/coco128-seg --out coco128-annotate

Writes ``OUT/instances.json`` (COCO boxes: ``bbox`` = the extent of each true polygon, corner coordinates, as COCO
derives its boxes), runs ``annotate()`` on it (polygons, and RLE), and prints the mean IoU of the produced masks
with the true polygons, next to the IoU of the filled box, all rasterised by pycocotools. The held-out fifth is
the images the shipped model never trained on: index i % 5 == 4 among the frames ``training/datasets.py``'s
``read_yolo`` yields (sorted label files with an image and an object of at least 100 px).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))

from datasets import read_yolo
from polyseg.annotate import annotate


def coco_from_yolo_seg(data: Path, out: Path) -> Path:
    """A COCO detection file for ``data/labels/train2017`` (boxes only; the true polygons kept under ``truth``)."""
    images, annotations = [], []
    for label in sorted((data / "labels/train2017").glob("*.txt")):
        image = data / "images/train2017" / f"{label.stem}.jpg"
        if not image.is_file():
            continue
        h, w = cv2.imread(str(image)).shape[:2]
        images.append({"id": len(images) + 1, "file_name": image.name, "width": w, "height": h})
        for line in label.read_text().splitlines():
            values = line.split()
            xy = np.asarray(values[1:], np.float64).reshape(-1, 2) * (w, h)
            (x0, y0), (x1, y1) = xy.min(0), xy.max(0)
            annotations.append(
                {"id": len(annotations) + 1, "image_id": len(images), "category_id": int(values[0]) + 1,
                 "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": 0, "truth": xy.ravel().tolist()}
            )
    out.mkdir(parents=True, exist_ok=True)
    path = out / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [
        {"id": k, "name": str(k)} for k in range(1, 81)]}))
    return path


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def decode(segmentation, h: int, w: int) -> np.ndarray:
    rles = mask_utils.frPyObjects(segmentation, h, w)
    return mask_utils.decode(mask_utils.merge(rles) if isinstance(rles, list) else rles).astype(bool)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path, help="the coco128-seg folder (images/train2017, labels/train2017)")
    p.add_argument("--out", type=Path, required=True, help="a scratch folder for the COCO files")
    args = p.parse_args()
    path = coco_from_yolo_seg(args.data, args.out)
    held_out = {
        f.name for i, f in enumerate(read_yolo(args.data / "images/train2017", args.data / "labels/train2017"))
        if i % 5 == 4
    }
    doc = json.loads(path.read_text())
    images = {im["id"]: im for im in doc["images"]}
    rows = {}
    for mode in ("polygons", "rle"):
        out = args.out / f"instances_{mode}.json"
        summary = annotate(path, args.data / "images/train2017", out, rle=mode == "rle", progress=False)
        print(summary.line())
        for ann in json.loads(out.read_text())["annotations"]:
            if "segmentation" not in ann:
                continue
            im = images[ann["image_id"]]
            h, w = im["height"], im["width"]
            truth = decode([ann["truth"]], h, w)
            x, y, bw, bh = ann["bbox"]
            box = decode([[x, y, x + bw, y, x + bw, y + bh, x, y + bh]], h, w)
            key = (Path(im["file_name"]).stem in held_out, ann["id"])
            rows.setdefault(key, {})[mode] = iou(decode(ann["segmentation"], h, w), truth)
            rows[key]["box"] = iou(box, truth)
    print("| objects | n | polygons IoU | RLE IoU | filled box IoU |")
    print("|---|---|---|---|---|")
    for name, keep in (("all COCO128", lambda k: True), ("held-out fifth", lambda k: k[0]),
                       ("the other 4/5 (in training)", lambda k: not k[0])):
        sel = [r for k, r in rows.items() if keep(k) and "polygons" in r and "rle" in r]
        mean = {m: 100 * np.mean([r[m] for r in sel]) for m in ("polygons", "rle", "box")}
        print(f"| {name} | {len(sel)} | {mean['polygons']:.1f} | {mean['rle']:.1f} | {mean['box']:.1f} |")


if __name__ == "__main__":
    main()

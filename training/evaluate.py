"""Evaluate an exported IR through the public API on the validation frames, at full image resolution.

For every validation instance: ground-truth extreme points -> ``Segmenter.polygon()`` -> filled polygon -> IoU with
the ground-truth mask; the same with the points jittered by up to +-3 px; the box alone; and the mean border error
(distance from each predicted boundary pixel to the true boundary). Baselines in the same run: the filled box of
the points, and ``cv2.grabCut`` started from that box. At the network's 128x128 resolution it also reports the
paper's aIoU / iIoU / mIoU.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from datasets import Frame
from polyseg import Segmenter
from polyseg.crop import CropWindow
from prepare import Sources, add_data_arguments, sources_from_args
from samples import extreme_points, make_sample

JITTER = 3.0


def fill(polygon: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The public pixel convention: ``fillPoly`` of the rounded pixel-centre vertices."""
    m = np.zeros(shape, np.uint8)
    if len(polygon) >= 3:
        cv2.fillPoly(m, [np.round(polygon).astype(np.int32)], 1)
    return m.astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def boundary(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    return (m - cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)).astype(bool)


def border_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean distance (px) from the predicted boundary pixels to the nearest true boundary pixel."""
    pb = boundary(pred)
    if not pb.any():
        return float("nan")
    dist = cv2.distanceTransform((~boundary(gt)).astype(np.uint8), cv2.DIST_L2, 5)
    return float(dist[pb].mean())


def grabcut(image_rgb: np.ndarray, box: np.ndarray, iterations: int = 5) -> np.ndarray:
    """``cv2.grabCut`` initialised with the box, run on a crop around it (box + 10 % margin)."""
    h, w = image_rgb.shape[:2]
    win = CropWindow.from_box(box, margin=0.1, min_margin=8)
    rows, cols, _, _ = win.clip(h, w)
    crop = np.ascontiguousarray(image_rgb[rows, cols][:, :, ::-1])
    x0, y0 = cols.start, rows.start
    rect = (int(box[0]) - x0, int(box[1]) - y0, int(box[2] - box[0]) + 1, int(box[3] - box[1]) + 1)
    mask = np.zeros(crop.shape[:2], np.uint8)
    out = np.zeros((h, w), bool)
    try:
        cv2.grabCut(crop, mask, rect, np.zeros((1, 65)), np.zeros((1, 65)), iterations, cv2.GC_INIT_WITH_RECT)
    except cv2.error:
        return out
    out[rows, cols] = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    return out


def evaluate_frames(
    segmenter: Segmenter, frames: dict[str, Iterable[Frame]], *, baselines: bool = True, seed: int = 0
) -> dict:
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    net_inputs, net_targets, net_classes = [], [], []
    for source, frame_list in frames.items():
        for frame in frame_list:
            shape = frame.image.shape[:2]
            for cls, gt in frame.instances:
                pts = extreme_points(gt)
                box = np.concatenate([pts.min(0), pts.max(0)])
                row = {"source": source, "class": cls, "area": int(gt.sum())}
                seg = segmenter.segment(frame.image, pts)
                pred = fill(seg.polygon, shape)
                row["iou"] = iou(pred, gt)
                row["area_ratio"] = float(pred.sum() / gt.sum())  # > 1: the outline is drawn too large
                row["iou_mask"] = iou(seg.mask, gt)
                row["score"] = seg.score
                row["border"] = border_error(pred, gt)
                jittered = pts + rng.uniform(-JITTER, JITTER, pts.shape)
                jittered = np.clip(jittered, 0, np.array(shape[::-1]) - 1)
                if (jittered.max(0) - jittered.min(0) >= 2).all():
                    row["iou_jitter"] = iou(fill(segmenter.polygon(frame.image, jittered), shape), gt)
                row["iou_box"] = iou(fill(segmenter.polygon(frame.image, box=box), shape), gt)
                if baselines:
                    box_mask = np.zeros(shape, bool)
                    box_mask[int(box[1]) : int(box[3]) + 1, int(box[0]) : int(box[2]) + 1] = True
                    row["iou_boxfill"] = iou(box_mask, gt)
                    row["iou_grabcut"] = iou(grabcut(frame.image, box), gt)
                rows.append(row)
                info = segmenter.info  # the IR's own geometry, as polygon() uses it
                s = make_sample(frame.image, gt.astype(np.uint8) * 255, None, size=info.input_size,
                                radius=info.point_radius, margin=info.margin, min_margin=info.min_margin)
                if s is not None:
                    net_inputs.append(s[0].astype(np.float16))  # exact: values are whole numbers 0-255
                    net_targets.append(s[1] > 0.5)
                    net_classes.append(f"{source}/{cls}")
    # The paper's metrics at network resolution, on the same instances, through the same IR.
    probs = np.empty((len(net_inputs),) + net_inputs[0].shape[1:], np.float32)
    for i, prob in segmenter.network.run_many((x.astype(np.float32) for x in net_inputs), len(net_inputs)):
        probs[i] = prob
    from train import val_metrics, val_metrics_by_source

    pred, target = probs > segmenter.info.threshold, np.stack(net_targets)
    at128 = val_metrics(pred, target, net_classes)
    at128["sources"] = val_metrics_by_source(pred, target, net_classes)
    return {"rows": rows, "at128": at128}


#: Object sizes reported separately (px, at the frame's resolution: Cityscapes' 2048x1024 for its frames).
SIZE_BINS = ((0, 500, "<500px"), (500, 2000, "500-2000px"), (2000, 10000, "2000-10000px"), (10000, None, ">10000px"))


def size_bin(area: int) -> str:
    return next(name for lo, hi, name in SIZE_BINS if area >= lo and (hi is None or area < hi))


def summarise(rows: list[dict]) -> dict[str, dict[str, float]]:
    keys = ["iou", "iou_mask", "iou_jitter", "iou_box", "iou_boxfill", "iou_grabcut", "border", "area_ratio"]
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["source"]].append(r)
        groups[f"{r['source']}/{r['class']}"].append(r)
        groups[f"{r['source']}/size {size_bin(r['area'])}"].append(r)
        groups["all"].append(r)
    out = {}
    for name, rs in sorted(groups.items()):
        s = {"n": len(rs)}
        for k in keys:
            vals = np.array([r[k] for r in rs if k in r and np.isfinite(r[k])], np.float64)
            if len(vals):
                s[k] = float(vals.mean() * (1 if k in ("border", "area_ratio") else 100))
        out[name] = s
    ious = np.array([r["iou"] for r in rows])
    scores = np.array([r["score"] for r in rows])
    out["all"]["score_iou_corr"] = float(np.corrcoef(scores, ious)[0, 1])
    return out


def markdown(summary: dict[str, dict[str, float]], min_class_n: int = 30) -> str:
    """A table of every data set and of the classes with at least ``min_class_n`` objects."""
    cols = [("n", "objects", "{:.0f}"), ("iou", "IoU", "{:.1f}"), ("iou_mask", "mask IoU", "{:.1f}"),
            ("iou_jitter", "IoU ±3px", "{:.1f}"),
            ("iou_box", "IoU box only", "{:.1f}"), ("iou_boxfill", "filled box", "{:.1f}"),
            ("iou_grabcut", "grabCut", "{:.1f}"), ("border", "border err px", "{:.2f}"),
            ("area_ratio", "predicted / true px", "{:.3f}")]
    lines = ["| set | " + " | ".join(c[1] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, s in summary.items():
        if "/" in name and s["n"] < min_class_n:
            continue
        lines.append(f"| {name} | " + " | ".join(c[2].format(s[c[0]]) if c[0] in s else "–" for c in cols) + " |")
    return "\n".join(lines)


def load_frames(sources: Sources, only: list[str] | None = None, split: str = "val") -> dict[str, Iterable[Frame]]:
    """The frames of ``split`` of each source, read lazily (one frame in memory at a time)."""
    return {
        name: readers[split]()
        for name, readers in sources.items()
        if split in readers and (only is None or name in only)
    }


def run(
    model: Path | None,
    sources: Sources,
    only: list[str] | None = None,
    baselines: bool = True,
    config=None,
    split: str = "val",
) -> dict:
    """Evaluate one IR (None: the bundled one) on ``split``; returns the report written by ``--out``."""
    t0 = time.time()
    frames = load_frames(sources, only, split)
    with Segmenter.from_pretrained(model, config=config) as seg:
        result = evaluate_frames(seg, frames, baselines=baselines)
        version = seg.info.version
    summary = summarise(result["rows"])
    return {"model": str(model or "bundled"), "version": version, "at128": result["at128"],
            "full_resolution": summary, "seconds": time.time() - t0}


def print_report(report: dict) -> None:
    print(markdown(report["full_resolution"]))
    at128 = report["at128"]
    print("at 128x128:", json.dumps({k: round(v, 2) for k, v in at128.items() if k != "sources"}))
    for source, m in at128.get("sources", {}).items():
        print(f"  {source}:", json.dumps({k: round(v, 2) for k, v in m.items()}))
    print(f"score/IoU correlation: {report['full_resolution']['all']['score_iou_corr']:.3f}; {report['seconds']:.0f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None, help="IR .xml (default: the bundled weights)")
    add_data_arguments(p)
    p.add_argument("--sources", nargs="*", default=None, help="data sets to evaluate (default: all with a val split)")
    p.add_argument("--split", default="val", help="val, or test where a data set has one (OtonomDataset)")
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--out", type=Path, default=None, help="write the report JSON here")
    p.add_argument("--accuracy-mode", action="store_true", help="force float32 inference (default: as users run it)")
    a = p.parse_args()
    config = {"EXECUTION_MODE_HINT": "ACCURACY"} if a.accuracy_mode else None
    report = run(a.model, sources_from_args(a), a.sources, not a.no_baselines, config, a.split)
    print_report(report)
    if a.out:
        a.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

"""Command line: ``polyseg IMAGE --points x,y x,y x,y x,y`` or ``--box x0,y0,x1,y1``; prints JSON.

``polyseg --example`` segments the car in the example image shipped with the package and writes an overlay PNG.
``polyseg serve ...`` runs the HTTP server (:mod:`polyseg.serve.cli`; needs ``polyseg[serve]``).
``polyseg annotate ...`` turns the boxes of a whole data set into polygons (:mod:`polyseg.annotate.cli`).
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .imageio import MAX_IMAGE_FILE_BYTES, read_regular_file
from .result import Segmentation
from .segmenter import Segmenter

FORMATS = ("polygon", "coco", "labelme", "cvat", "label-studio")


def _pair_list(text: str, n: int, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(";", ",").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be numbers separated by commas, got {text!r}") from None
    if len(values) != n:
        raise argparse.ArgumentTypeError(f"{what} must be {n} numbers separated by commas, got {text!r}")
    return values


def _point(text: str) -> list[float]:
    return _pair_list(text, 2, "a point (x,y)")


def _box(text: str) -> list[float]:
    return _pair_list(text, 4, "a box (x0,y0,x1,y1)")


def convert(seg: Segmentation, fmt: str, label: str) -> Any:
    """The segmentation in one of :data:`FORMATS`."""
    h, w = seg.image_size
    if fmt == "coco":
        return seg.to_coco()
    if fmt == "labelme":
        return seg.to_labelme(label)
    if fmt == "cvat":
        return seg.to_cvat()
    if fmt == "label-studio":
        return seg.to_label_studio(w, h, label=label)
    return {"polygon": seg.polygon.round(2).tolist(), "score": round(seg.score, 4), "area": seg.area, "bbox": list(seg.bbox)}


def draw_overlay(image_bgr: np.ndarray, seg: Segmentation, points: np.ndarray | None, box: np.ndarray | None) -> np.ndarray:
    """The image with the mask tinted, the polygon outlined and the prompt marked (BGR in, BGR out)."""
    out = image_bgr.copy()
    tint = out.copy()
    tint[seg.mask] = (0.5 * tint[seg.mask] + (0, 110, 0)).clip(0, 255).astype(np.uint8)
    out = cv2.addWeighted(tint, 0.7, out, 0.3, 0)
    for part in seg.parts:
        cv2.polylines(out, [np.round(part.outer).astype(np.int32)], True, (0, 255, 255), 2, cv2.LINE_AA)
        for hole in part.holes:
            cv2.polylines(out, [np.round(hole).astype(np.int32)], True, (255, 0, 255), 1, cv2.LINE_AA)
    if points is not None:
        for x, y in np.round(points).astype(int):
            cv2.circle(out, (int(x), int(y)), 5, (0, 0, 255), -1, cv2.LINE_AA)
    if box is not None:
        x0, y0, x1, y1 = np.round(box).astype(int)
        cv2.rectangle(out, (int(x0), int(y0)), (int(x1), int(y1)), (255, 128, 0), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from .serve.cli import main as serve_main

        return serve_main(argv[1:])
    if argv[:1] == ["annotate"]:
        from .annotate.cli import main as annotate_main

        return annotate_main(argv[1:])
    p = argparse.ArgumentParser(prog="polyseg", description="Object outline from four extreme points or a box.")
    p.add_argument("image", nargs="?", type=Path, help="image file (any format OpenCV reads)")
    prompt = p.add_mutually_exclusive_group()
    prompt.add_argument("--points", nargs=4, type=_point, metavar="X,Y", help="four extreme points, any order")
    prompt.add_argument("--box", type=_box, metavar="X0,Y0,X1,Y1", help="a box instead of points")
    p.add_argument("--positive", nargs="+", type=_point, default=[], metavar="X,Y",
                   help="corrective clicks on parts the first answer missed (refined by the correction network)")
    p.add_argument("--negative", nargs="+", type=_point, default=[], metavar="X,Y",
                   help="corrective clicks on parts the first answer wrongly took")
    p.add_argument("--example", action="store_true", help="run on the example image shipped with polyseg")
    p.add_argument("--format", choices=FORMATS, default="polygon", help="output format (default: polygon)")
    p.add_argument("--label", default="object", help="label for labelme / Label Studio output")
    p.add_argument("--tolerance", type=float, default=1.4, help="polygon simplification, px (default 1.4)")
    p.add_argument("--overlay", type=Path, help="write the image with the result drawn on it (PNG)")
    p.add_argument("--model", type=Path, help="an OpenVINO IR .xml instead of the bundled weights")
    args = p.parse_args(argv)

    if args.example:
        if args.image or args.points or args.box:
            p.error("--example takes no image, --points or --box")
        data = resources.files("polyseg") / "data"
        meta = json.loads((data / "example.json").read_text())
        image_path = Path(str(data / meta["image"]))
        args.points = meta["extreme_points"]
        args.label = meta["label"]
        args.overlay = args.overlay or Path("polyseg-example.png")
    elif args.image is None or (args.points is None and args.box is None):
        p.error("give IMAGE and --points or --box (or --example)")
    else:
        image_path = args.image

    try:  # decode the bytes ourselves: cv2.imread prints a warning of its own for a missing file
        data = read_regular_file(image_path, MAX_IMAGE_FILE_BYTES)  # not a FIFO or device: they hang or never end
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except (OSError, ValueError, cv2.error):
        image = None
    if image is None:
        print(f"polyseg: error: cannot read image {image_path}: missing, or not an image OpenCV can decode", file=sys.stderr)
        return 2
    try:
        with Segmenter.from_pretrained(args.model) as segmenter:
            seg = segmenter.segment(image, args.points, box=args.box, positive=args.positive, negative=args.negative,
                                    image_format="BGR", tolerance=args.tolerance)
    except (TypeError, ValueError, FileNotFoundError) as exc:
        print(f"polyseg: error: {exc}", file=sys.stderr)
        return 2
    json.dump(convert(seg, args.format, args.label), sys.stdout)
    sys.stdout.write("\n")
    if args.overlay:
        points = None if args.points is None else np.asarray(args.points)
        box = None if args.box is None else np.asarray(args.box)
        cv2.imwrite(str(args.overlay), draw_overlay(image, seg, points, box))
        print(f"overlay written to {args.overlay}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``polyseg annotate INPUT --images DIR --out OUTPUT [...]``: the command line of :func:`polyseg.annotate.annotate`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from .formats import FORMATS
from .run import ENGINES, annotate


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Bad arguments: one line, ``polyseg: error: ...``, and exit code 2."""
        self.exit(2, f"polyseg: error: {message} (see polyseg annotate --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="polyseg annotate",
        description="Turn the boxes of a COCO, YOLO or labelme data set into polygons (the input is never modified).",
    )
    p.add_argument("input", type=Path, help="COCO instance JSON, YOLO labels folder, or labelme JSON folder/file")
    p.add_argument("--images", type=Path, help="folder of the images (labelme: default imagePath of each file)")
    p.add_argument("--out", type=Path, required=True, help="output JSON file (COCO) or folder (YOLO, labelme)")
    p.add_argument("--format", choices=FORMATS, help="input format (default: guessed from INPUT)")
    p.add_argument("--rle", action="store_true", help="COCO: RLE masks instead of polygons, so holes survive")
    p.add_argument("--tolerance", type=float, default=1.4, help="polygon simplification, px (default 1.4)")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run without redoing done images")
    p.add_argument("--overwrite", action="store_true", help="also redo annotations that already have a polygon")
    p.add_argument("--workers", type=int, help="local: decoding threads (default: CPUs); ray: actors")
    p.add_argument("--engine", choices=ENGINES, default="local", help="local (default) or ray")
    p.add_argument("--ray-address", help="Ray cluster to join (default: a local Ray instance)")
    p.add_argument("--model", type=Path, help="an OpenVINO IR .xml instead of the bundled weights")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.ray_address and args.engine != "ray":
        p.error("--ray-address needs --engine ray")
    try:
        summary = annotate(
            args.input,
            args.images,
            args.out,
            format=args.format,
            rle=args.rle,
            tolerance=args.tolerance,
            resume=args.resume,
            overwrite=args.overwrite,
            workers=args.workers,
            engine=args.engine,
            ray_address=args.ray_address,
            model=args.model,
            progress=not args.quiet,
        )
    except (TypeError, ValueError, FileNotFoundError) as exc:
        print(f"polyseg: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the disk said no: read-only, full, permissions, I/O
        where = exc.filename2 or exc.filename or args.out
        print(f"polyseg: error: {exc.strerror or exc}: {where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("polyseg: interrupted; finished images are kept: run the same command with --resume", file=sys.stderr)
        return 130
    print(summary.line(), file=sys.stderr)
    return 0

"""Prepare a training cache: one patch around each object instance, with its mask.

The cache keeps, per instance, the image region around the object's box (plus a wide margin, zero-padded where it
leaves the image, as the package pads) and its mask, shrunk so that the longer side is at most ``max_side`` px.
Training then cuts its 128x128 samples out of these patches with the package's own :class:`polyseg.CropWindow`,
so augmentation costs microseconds and the network input matches run-time inputs exactly.

The cache lives outside the repository (default ``~/.cache/polyseg``); ``../shared/data`` is only read.
"""

from __future__ import annotations

import argparse
import pickle
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from datasets import Frame, shared_sources, user_sources
from polyseg.crop import CropWindow

DEFAULT_CACHE = Path.home() / ".cache" / "polyseg"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CONTEXT = 0.5  # margin around each box kept in the cache, as a fraction of the box side
MAX_SIDE = 320


@dataclass
class Patch:
    """One cached instance: ``image`` (h, w, 3) uint8 RGB, ``mask`` (h, w) uint8 0-255, and where it came from."""

    image: np.ndarray
    mask: np.ndarray
    source: str
    cls: str
    frame: str
    group: str


def instance_patch(frame: Frame, cls: str, mask: np.ndarray, source: str, max_side: int = MAX_SIDE) -> Patch:
    ys, xs = np.nonzero(mask)
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], np.float64)
    window = CropWindow.from_box(box, margin=CONTEXT, min_margin=16)
    rows, cols, wrows, wcols = window.clip(*mask.shape)
    img = np.zeros((window.height, window.width, 3), np.uint8)
    msk = np.zeros((window.height, window.width), np.uint8)
    img[wrows, wcols] = frame.image[rows, cols]
    msk[wrows, wcols] = mask[rows, cols].astype(np.uint8) * 255
    scale = max_side / max(window.width, window.height)
    if scale < 1:
        size = (max(1, round(window.width * scale)), max(1, round(window.height * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        msk = cv2.resize(msk, size, interpolation=cv2.INTER_AREA)
    return Patch(img, msk, source, cls, frame.name, f"{source}/{frame.group}")


Sources = dict[str, dict[str, Callable[[], Iterator[Frame]]]]


def prepare(sources: Sources, cache_dir: Path, splits: tuple[str, ...] = ("train", "val")) -> dict[str, Path]:
    """Write ``cache_dir/SPLIT.pkl`` for each split (a list of :class:`Patch`) and return the paths."""
    if not sources:
        raise SystemExit("no data: give --data with known data sets, --cityscapes or --coco")
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split in splits:
        t0 = time.time()
        patches: list[Patch] = []
        for source, readers in sources.items():
            if split not in readers:
                continue
            for frame in readers[split]():
                patches += [instance_patch(frame, cls, m, source) for cls, m in frame.instances]
        if not patches:
            raise SystemExit(f"no {split} instances in the given data")
        paths[split] = save(patches, cache_dir / f"{split}.pkl")
        counts = Counter(p.source for p in patches)
        print(f"{split}: {len(patches)} instances {dict(counts)} in {time.time() - t0:.0f} s -> {paths[split]}")
    return paths


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=SHARED_DATA, help="folder of the known data sets (../shared/data)")
    p.add_argument("--no-shared", action="store_true", help="do not use the data sets under --data")
    p.add_argument("--cityscapes", type=Path, help="a Cityscapes root (gtFine/ and leftImg8bit/)")
    p.add_argument("--coco", nargs="+", type=Path, action="append", metavar="PATH",
                   help="COCO train: annotations.json [image_dir]; repeat for several files (images de-duplicated by id)")
    p.add_argument("--coco-val", nargs="+", type=Path, metavar="PATH", help="COCO val: annotations.json [image_dir]")
    p.add_argument("--cityscapes-yolo", type=Path, metavar="DIR",
                   help="the Roboflow YOLOv8-seg export of Cityscapes (folder with data.yaml), split by city")
    p.add_argument("--pennfudan", type=Path, metavar="DIR", help="the PennFudanPed folder (PNGImages/, PedMasks/)")
    p.add_argument("--duts", type=Path, metavar="DIR", help="the DUTS folder (DUTS-TR/ and DUTS-TE/ with *-Image, *-Mask)")
    p.add_argument("--ccp", type=Path, metavar="DIR",
                   help="the Clothing Co-Parsing folder (photos/, annotations/pixel-level/*.mat)")
    p.add_argument("--animals", type=Path, metavar="DIR",
                   help="images/CLASS/image_N.* and masks/CLASS/mask_N.png (the Caltech-101 animal masks)")
    p.add_argument("--borrat", type=Path, metavar="DIR",
                   help="the Borrat teacher-occlusion folder (train/ and valid/ with _annotations.coco.json)")


def sources_from_args(a: argparse.Namespace) -> Sources:
    sources = {} if a.no_shared else shared_sources(a.data)
    coco_val = tuple(a.coco_val) if a.coco_val else None
    sources.update(
        user_sources(
            a.cityscapes,
            a.coco,
            coco_val,
            cityscapes_yolo=a.cityscapes_yolo,
            pennfudan=a.pennfudan,
            duts=getattr(a, "duts", None),
            ccp=getattr(a, "ccp", None),
            animals=getattr(a, "animals", None),
            borrat=getattr(a, "borrat", None),
        )
    )
    return sources


def save(patches: list[Patch], path: Path) -> Path:
    """Write a cache split (plain dicts: loadable whichever module runs as ``__main__``), through a temporary file
    and a rename, so a killed run never leaves half a file; returns ``path``."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump([vars(p) for p in patches], f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return path


def load(path: Path) -> list[Patch]:
    with open(path, "rb") as f:
        return [Patch(**d) for d in pickle.load(f)]


def load_split(cache: Path, split: str) -> list[Patch]:
    """The patches of ``split`` in ``cache``: ``SPLIT.pkl`` (:func:`save`), else the shards ``SPLIT-*.pack`` that
    ``pack.py`` writes."""
    path = cache / f"{split}.pkl"
    if path.exists():
        return load(path)
    shards = sorted(cache.glob(f"{split}-*.pack"))
    if not shards:
        raise SystemExit(f"no {split} data in {cache}: neither {split}.pkl (prepare.py) nor {split}-*.pack (pack.py)")
    from pack import unpack

    return unpack(shards)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(p)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    a = p.parse_args()
    prepare(sources_from_args(a), a.cache)


if __name__ == "__main__":
    main()

"""Pack a prepared cache small enough to travel: each patch re-encoded (WebP image, bi-level PNG mask), in shards.

A training cache (``prepare.py``) holds raw pixels: 80,000 objects take ~11 GB of memory. To train on a machine
that only receives files through a narrow pipe (a lent GPU machine takes 64 MiB per call), this writes the same
patches, each shrunk so that its longer side is at most ``--max-side`` px and compressed, into shards of at most
``--shard-mb`` MB: ``SPLIT-000.pack``, ``SPLIT-001.pack``, ... :func:`prepare.load_split` reads a folder of shards
as it reads ``SPLIT.pkl``, so ``train.py --cache FOLDER`` trains on it unchanged.

The defaults lose little: a patch is the object's box plus half its side on every side, so at 224 px the box is
112 px, and the network sees it at 91-121 px (crop margins 0.03-0.2); WebP at quality 85 is sharper than the
JPEG re-compression (quality 30-90) that ``--quality-aug`` trains with. Masks are kept exactly (thresholded at
half, as training reads them).

    python training/pack.py --cache ~/.cache/polyseg --out PACKED --splits train val
"""

from __future__ import annotations

import argparse
import pickle
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from prepare import DEFAULT_CACHE, Patch, load

MAX_SIDE = 224
QUALITY = 85


def encode(patch: Patch, max_side: int = MAX_SIDE, quality: int = QUALITY) -> dict:
    """One patch as a dict of bytes: ``image`` (WebP of the RGB pixels), ``mask`` (bi-level PNG), and its labels."""
    image, mask = patch.image, patch.mask
    scale = max_side / max(image.shape[:2])
    if scale < 1:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    ok_i, img = cv2.imencode(".webp", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_WEBP_QUALITY, quality])
    binary = np.where(mask > 127, 255, 0).astype(np.uint8)
    ok_m, msk = cv2.imencode(".png", binary, [cv2.IMWRITE_PNG_BILEVEL, 1, cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not (ok_i and ok_m):
        raise RuntimeError(f"could not encode a patch of {patch.source}/{patch.frame}")
    labels = {k: v for k, v in vars(patch).items() if k not in ("image", "mask")}
    return {"image": img.tobytes(), "mask": msk.tobytes(), **labels}


def decode(item: dict) -> Patch:
    """The :class:`Patch` of one :func:`encode` dict (RGB image, mask 0/255)."""
    image = cv2.imdecode(np.frombuffer(item["image"], np.uint8), cv2.IMREAD_COLOR)
    mask = cv2.imdecode(np.frombuffer(item["mask"], np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None or mask is None or image.shape[:2] != mask.shape:
        raise ValueError(f"a packed patch of {item.get('source')}/{item.get('frame')} does not decode")
    labels = {k: v for k, v in item.items() if k not in ("image", "mask")}
    return Patch(image=np.ascontiguousarray(image[:, :, ::-1]), mask=mask, **labels)


def shards(items: list[dict], limit: int) -> Iterator[list[dict]]:
    """Consecutive runs of ``items`` of at most ``limit`` encoded bytes each (one item per shard at least)."""
    shard, size = [], 0
    for item in items:
        n = len(item["image"]) + len(item["mask"]) + 200
        if shard and size + n > limit:
            yield shard
            shard, size = [], 0
        shard.append(item)
        size += n
    if shard:
        yield shard


def pack(
    patches: list[Patch],
    out: Path,
    split: str,
    *,
    max_side: int = MAX_SIDE,
    quality: int = QUALITY,
    shard_mb: float = 50.0,
    threads: int = 4,
) -> list[Path]:
    """Write ``out/SPLIT-NNN.pack`` shards of ``patches`` and return their paths (old shards of the split removed)."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{split}-*.pack"):
        old.unlink()
    with ThreadPoolExecutor(threads) as pool:  # OpenCV's codecs release the GIL
        items = list(pool.map(lambda p: encode(p, max_side, quality), patches, chunksize=64))
    paths = []
    for i, shard in enumerate(shards(items, int(shard_mb * 1e6))):
        path = out / f"{split}-{i:03d}.pack"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(shard, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
        paths.append(path)
    return paths


def unpack(paths: list[Path], threads: int = 8) -> list[Patch]:
    """The patches of ``paths`` (shards written by :func:`pack`), in order."""
    items = []
    for path in paths:
        with open(path, "rb") as f:
            items += pickle.load(f)
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(decode, items, chunksize=64))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="a prepared cache (SPLIT.pkl)")
    p.add_argument("--out", type=Path, required=True, help="folder for the shards")
    p.add_argument("--splits", nargs="+", default=["train", "val"])
    p.add_argument("--max-side", type=int, default=MAX_SIDE, help="longer side of a packed patch, px")
    p.add_argument("--quality", type=int, default=QUALITY, help="WebP quality, 1-100")
    p.add_argument("--shard-mb", type=float, default=50.0, help="largest shard, MB")
    a = p.parse_args()
    for split in a.splits:
        t0 = time.time()
        patches = load(a.cache / f"{split}.pkl")
        paths = pack(patches, a.out, split, max_side=a.max_side, quality=a.quality, shard_mb=a.shard_mb)
        size = sum(q.stat().st_size for q in paths) / 1e6
        print(f"{split}: {len(patches)} patches -> {len(paths)} shards, {size:.1f} MB in {time.time() - t0:.0f} s")
        del patches


if __name__ == "__main__":
    main()

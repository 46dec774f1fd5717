"""A packed cache (``training/pack.py``): what travels to a lent GPU machine trains as the cache it came from."""

from __future__ import annotations

import dataclasses
import pickle

import cv2
import numpy as np
import pytest

pack = pytest.importorskip("pack")  # training/ is on the path (conftest.py)
from prepare import Patch, load_split
from training_data import ellipse_patch


def photo_patch(rng: np.random.Generator, shape=(300, 200)) -> Patch:
    """A smooth, photo-like patch (WebP is lossy: noise would not survive it) with an elliptic object."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    image = np.stack([(xx * 255 // w), (yy * 255 // h), np.full_like(xx, 90)], -1).astype(np.uint8)
    mask = ((((xx - w / 2) / (w / 3)) ** 2 + ((yy - h / 2) / (h / 3)) ** 2) <= 1).astype(np.uint8) * 255
    image[mask > 0] = (230, 40, 40)
    return Patch(image, mask, "photos", "thing", f"f{rng.integers(1000)}", "photos/0")


def test_a_packed_patch_decodes_to_the_same_object_within_webp_loss():
    patch = photo_patch(np.random.default_rng(0))
    back = pack.decode(pack.encode(patch, max_side=400))
    assert back.image.shape == patch.image.shape and back.image.dtype == np.uint8
    assert np.array_equal(back.mask, patch.mask)  # masks are lossless
    assert np.abs(back.image.astype(int) - patch.image).mean() < 3  # RGB order kept: red stays red
    assert back.image[150, 100, 0] > 200 and back.image[150, 100, 2] < 80
    assert (back.source, back.cls, back.frame, back.group) == (patch.source, patch.cls, patch.frame, patch.group)


def test_a_large_patch_is_shrunk_to_max_side_and_its_mask_stays_binary():
    patch = photo_patch(np.random.default_rng(0), shape=(320, 240))
    back = pack.decode(pack.encode(patch, max_side=224))
    assert back.image.shape[:2] == back.mask.shape == (224, 168)
    assert set(np.unique(back.mask)) == {0, 255}
    expected = cv2.resize(patch.mask, (168, 224), interpolation=cv2.INTER_AREA) > 127
    assert np.array_equal(back.mask > 0, expected)


def test_shards_respect_the_size_limit_and_keep_the_order(tmp_path):
    rng = np.random.default_rng(1)
    patches = [photo_patch(rng, shape=(int(rng.integers(40, 200)), int(rng.integers(40, 200)))) for _ in range(30)]
    paths = pack.pack(patches, tmp_path, "train", shard_mb=0.01, threads=2)
    assert len(paths) > 1
    assert all(p.stat().st_size < 0.01e6 * 1.5 + 5000 for p in paths)  # one patch may exceed it alone
    back = pack.unpack(paths)
    assert [p.frame for p in back] == [p.frame for p in patches]
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(back, patches))


def test_load_split_reads_shards_when_there_is_no_pickle(tmp_path):
    rng = np.random.default_rng(2)
    patches = [ellipse_patch(rng, "a") for _ in range(5)]
    pack.pack(patches, tmp_path / "packed", "val", threads=1)
    assert [p.source for p in load_split(tmp_path / "packed", "val")] == ["a"] * 5
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "val.pkl").write_bytes(pickle.dumps([dataclasses.asdict(p) for p in patches[:2]]))
    assert len(load_split(tmp_path / "raw", "val")) == 2  # a prepared cache wins
    with pytest.raises(SystemExit, match=r"no train data .*train\.pkl.*train-\*\.pack"):
        load_split(tmp_path / "packed", "train")


def test_packing_again_replaces_the_old_shards(tmp_path):
    rng = np.random.default_rng(3)
    pack.pack([photo_patch(rng) for _ in range(6)], tmp_path, "train", shard_mb=0.005, threads=1)
    pack.pack([photo_patch(rng)], tmp_path, "train", threads=1)
    assert len(load_split(tmp_path, "train")) == 1

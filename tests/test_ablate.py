"""The ablation runs of weights 2.0 (``training/ablate.py``) on a tiny synthetic cache and a tiny Roboflow-style
Cityscapes export: one change per arm, the first trial's label drawing for the ``labels-640`` arm, resumable.

Needs PyTorch (the ``train`` extra); skipped where it is not installed, as in the default test run.
"""

from __future__ import annotations

import dataclasses
import json
import pickle

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
ablate = pytest.importorskip("ablate")

from prepare import load
from training_data import ellipse_patch

SOURCES = ["camvid", "adas", "otonom", "coco128", "coco", "humanseg", "pennfudan", "cityscapes_rf"]


@pytest.fixture
def cache(tmp_path):
    """The 2.0 recipe's sources, 3 objects each for training and 1 for validation."""
    rng = np.random.default_rng(0)
    for name, n in (("train", 3), ("val", 1)):
        patches = [ellipse_patch(rng, s) for s in SOURCES for _ in range(n)]
        (tmp_path / f"{name}.pkl").write_bytes(pickle.dumps([dataclasses.asdict(p) for p in patches]))
    return tmp_path


@pytest.fixture
def export(tmp_path):
    """One training frame (jena) with a 20 x 16 px car, one validation frame (ulm): ``data.yaml`` + folders."""
    root = tmp_path / "Cityscapes-3"
    (root / "train/images").mkdir(parents=True)
    (root / "train/labels").mkdir(parents=True)
    (root / "data.yaml").write_text("names:\n- car\n- person\nnc: 2\n")
    x0, y0, x1, y1 = 1001, 501, 1020, 516  # pixel-centre vertices at 2048x1024
    line = "0 " + " ".join(f"{x / 2048:.8f} {y / 1024:.8f}" for x, y in [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    for city in ("jena", "ulm"):
        name = f"{city}_000001_000019_leftImg8bit"
        assert cv2.imwrite(str(root / "train/images" / f"{name}.jpg"), np.full((64, 64, 3), 90, np.uint8))
        (root / "train/labels" / f"{name}.txt").write_text(line + "\n")
    return root


def test_the_labels_640_arm_redraws_only_the_cityscapes_training_objects(cache, export, tmp_path):
    out = ablate.labels_640_cache(cache, export, tmp_path / "arm")

    patches = load(out / "train.pkl")
    others = [p for p in patches if p.source != "cityscapes_rf"]
    redrawn = [p for p in patches if p.source == "cityscapes_rf"]
    assert len(others) == 3 * (len(SOURCES) - 1)  # kept as they were
    assert [p.group for p in redrawn] == ["cityscapes_rf/jena"]  # ulm is a validation city
    assert (out / "val.pkl").resolve() == (cache / "val.pkl").resolve()  # validated on the same objects
    # 20 x 16 px exactly drawn; at 640x640 with rounded vertices and enlarged it covers a different pixel count.
    assert (redrawn[0].mask > 127).sum() != 20 * 16


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the score/IoU correlation of a single object is undefined
def test_each_arm_trains_once_and_is_evaluated_through_polygon(cache, export, tmp_path, capsys):
    argv = ["--cache", str(cache), "--arms", "recipe", "no-quality-aug", "--epochs", "2", "--samples-per-epoch",
            "8", "--batch", "4", "--threads", "1", "--out", str(tmp_path / "ablations.json"),
            "--evaluate", "--cityscapes-yolo", str(export), "--eval-sources", "cityscapes_rf"]

    report = ablate.main(argv)

    assert list(report["arms"]) == ["recipe", "no-quality-aug"]
    for name, arm in report["arms"].items():
        history = json.loads((cache / "ablation" / name / "history.json").read_text())
        assert len(history) == 2 and arm["samples"] == 16
        assert set(arm["best"]["sources"]) == set(SOURCES)
        # the ulm frame's car (20 x 16 = 320 px at 2048x1024), through the exported IR and polygon()
        assert arm["polygon"]["cityscapes_rf"]["n"] == 1
        assert arm["polygon"]["cityscapes_rf/size <500px"]["n"] == 1 and "iou" in arm["polygon"]["cityscapes_rf"]
    assert report["arms"]["no-quality-aug"]["change"] == {"quality_aug": False}
    assert json.loads((tmp_path / "ablations.json").read_text()) == report
    printed = capsys.readouterr().out
    assert "| recipe | 16 |" in printed and "cityscapes_rf (n=1)" in printed
    mtime = (cache / "ablation" / "recipe" / "history.json").stat().st_mtime
    ablate.main(argv)  # a rerun reports without training again
    assert (cache / "ablation" / "recipe" / "history.json").stat().st_mtime == mtime


def test_a_second_cycle_counts_its_samples_on_top_of_the_full_run(cache, tmp_path, capsys):
    import train

    def run(out, *extra):
        argv = ["--cache", str(cache), "--out", str(out), "--epochs", "1", "--samples-per-epoch", "8"]
        train.train(train.parser().parse_args([*argv, "--batch", "4", "--threads", "1", *extra]))

    run(tmp_path / "full")
    run(tmp_path / "cycle", "--init-from", str(tmp_path / "full" / "best.pt"), "--lr", "3e-4")
    argv = ["--cache", str(cache), "--arms", "recipe", "--epochs", "1", "--samples-per-epoch", "8", "--batch", "4",
            "--threads", "1", "--out", str(tmp_path / "ablations.json"), "--full-run", str(tmp_path / "full"),
            "--full-samples-per-epoch", "8"]

    with pytest.raises(SystemExit, match="give --full-run too"):
        ablate.main([*argv[:-4], "--second-cycle", str(tmp_path / "cycle")])
    report = ablate.main([*argv, "--second-cycle", str(tmp_path / "cycle")])

    assert list(report["arms"]) == ["recipe", "full 2.0 run", "second cycle"]
    assert report["arms"]["full 2.0 run"]["samples"] == 8
    assert report["arms"]["second cycle"]["samples"] == 16  # 8 of the full run, then 8 of its own
    assert "| second cycle | 16 |" in capsys.readouterr().out

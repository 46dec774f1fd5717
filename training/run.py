"""One command from data to shipped weights: prepare -> train -> export -> evaluate (FP16 and INT8).

    python training/run.py                       # the data sets in ../shared/data
    python training/run.py --cityscapes ~/cityscapes --no-shared
    python training/run.py --coco ann/instances_train2017.json train2017 --coco other/instances_train2017.json other
    python training/run.py --cityscapes-yolo Cityscapes-3 --pennfudan PennFudanPed --quality-aug --epochs 48 ...

Each step leaves its output in ``--cache`` (default ``~/.cache/polyseg``) and is skipped when that output already
exists, so a killed run continues where it stopped (training resumes from its last epoch). The shipped IR goes to
``weights/`` with ``weights/metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import openvino as ov

import evaluate
import export
import train
from polyseg.network import BUNDLED_MODEL
from prepare import DEFAULT_CACHE, add_data_arguments, load, prepare, sources_from_args
from samples import make_sample

INT8_MAX_LOSS = 0.5  # IoU points the INT8 model may lose and still ship
# How often the objects of each ../shared/data set are drawn when --source-weight is not given: OtonomDataset, a
# Roboflow export with three augmented copies of each photo, about once per photo; AdasWithoutDA, the smaller of
# the two road-scene sets the model is meant for, twice. Sets not in use are left out.
SHARED_SOURCE_WEIGHTS = {"otonom": 0.33, "adas": 2.0}


def network_ms(xml: Path, runs: int = 200) -> float:
    """Median latency (ms) of one 1x4x128x128 inference with the package's default settings."""
    core = ov.Core()
    compiled = core.compile_model(xml, "CPU", {"PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    x = np.random.default_rng(0).uniform(0, 255, (1, 4, 128, 128)).astype(np.float32)
    for _ in range(20):
        request.infer({0: x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        request.infer({0: x})
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(p)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--version", default="1.1")
    p.add_argument("--weights", type=Path, default=export.WEIGHTS_DIR)
    p.add_argument("--run-dir", type=Path, help="where training writes its checkpoints (default: CACHE/run)")
    p.add_argument("--skip-int8", action="store_true")
    p.add_argument("--no-baselines", action="store_true",
                   help="skip the filled-box and grabCut baselines (they do not depend on the weights; grabCut takes "
                        "~45 min on 4,000 Cityscapes objects): evaluate.py computes them on its own")
    train.add_train_arguments(p)
    a = p.parse_args()
    a.out, a.resume = a.run_dir or a.cache / "run", True
    sources = sources_from_args(a)
    if a.source_weight is None:
        a.source_weight = [f"{name}={w}" for name, w in SHARED_SOURCE_WEIGHTS.items() if name in sources]

    # 1. prepare
    if not (a.cache / "train.pkl").exists() or not (a.cache / "val.pkl").exists():
        prepare(sources, a.cache)
    # 2. train (resumes from last.pt; skipped if it finished)
    done = a.out / "history.json"
    if not done.exists() or len(json.loads(done.read_text())) < a.epochs:
        train.train(a)
    best = a.out / "best.pt"
    # 3. export FP16
    stage = a.out / "export"
    fp16 = export.export(best, stage / "fp16" / BUNDLED_MODEL, a.version)
    # 4. evaluate FP16, then INT8
    report = {"fp16": evaluate.run(fp16, sources, baselines=not a.no_baselines)}
    evaluate.print_report(report["fp16"])
    report["fp16"]["network_ms"] = network_ms(fp16)
    if any("test" in readers for readers in sources.values()):  # never trained on, never used to pick an epoch
        report["fp16_test"] = evaluate.run(fp16, sources, split="test", baselines=not a.no_baselines)
        evaluate.print_report(report["fp16_test"])
    chosen = fp16
    if not a.skip_int8:
        geometry = train.sample_geometry(a)  # the run's, as the IR states it
        calib = [make_sample(q.image, q.mask, None, **geometry) for q in load(a.cache / "train.pkl")[::10]]
        calib_x = np.stack([s[0] for s in calib if s is not None])
        int8 = export.quantize_int8(best, calib_x, stage / "int8" / BUNDLED_MODEL, a.version)
        report["int8"] = evaluate.run(int8, sources, baselines=False)
        report["int8"]["network_ms"] = network_ms(int8)
        loss = report["fp16"]["full_resolution"]["all"]["iou"] - report["int8"]["full_resolution"]["all"]["iou"]
        faster = report["int8"]["network_ms"] < report["fp16"]["network_ms"]
        report["int8_decision"] = {"iou_loss": loss, "faster": faster, "shipped": bool(faster and loss <= INT8_MAX_LOSS)}
        print("INT8:", json.dumps(report["int8_decision"]), f"fp16 {report['fp16']['network_ms']:.2f} ms,",
              f"int8 {report['int8']['network_ms']:.2f} ms")
        if report["int8_decision"]["shipped"]:
            chosen = int8
    # 5. ship
    a.weights.mkdir(parents=True, exist_ok=True)
    for suffix in (".xml", ".bin"):
        shutil.copyfile(chosen.with_suffix(suffix), a.weights / BUNDLED_MODEL.replace(".xml", suffix))
    report["shipped"] = "int8" if chosen != fp16 else "fp16"
    report["command"] = " ".join([Path(sys.argv[0]).name] + sys.argv[1:])
    (a.weights / "metrics.json").write_text(json.dumps(report, indent=1))
    print(f"shipped {report['shipped']} IR to {a.weights}")


if __name__ == "__main__":
    main()

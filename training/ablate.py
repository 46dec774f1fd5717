"""What each part of the weights 2.0 recipe brings: short training runs from scratch that differ from the recipe in
one thing only, on the same prepared cache, validated on the same objects.

    python training/ablate.py --cache CACHE --cityscapes-yolo DATA/Cityscapes-3 \\
        --full-run CACHE/run --evaluate --out weights/ablations.json

``CACHE`` is the cache that ``run.py`` prepared for 2.0 (``train.pkl``, ``val.pkl``). Each arm trains
``--epochs`` x ``--samples-per-epoch`` samples with the recipe's cosine schedule and keeps its best epoch by
validation iIoU, as ``train.py`` does; a killed run resumes (rerun the same command). The arms:

- ``recipe``: weights 2.0's recipe (image-quality augmentation, the 2.0 draw weights, exact masks);
- ``recipe-seed1``: the same with another seed: how far two runs of one recipe differ (the noise floor);
- ``recipe-4x``: the recipe with 4 times the samples per epoch (the schedule's share, with the full run);
- ``no-quality-aug``: without blur / resize / JPEG / sharpen augmentation;
- ``draw-1.1``: 1.1's draw weights (every set once, OtonomDataset 0.33, AdasWithoutDA 2) instead of 2.0's;
- ``labels-640``: Cityscapes masks drawn as the first trial drew them (640x640, rounded vertices, enlarged);
  the other sets' objects and the validation objects are the recipe's.

The schedule's share is the recipe at this short budget, at 4 times it, the full 2.0 run (``--full-run``, its
``history.json`` and ``best.pt``), and a second learning-rate cycle that continued from the full run's best epoch
(``--second-cycle``: a ``run.py --init-from`` run's folder; its samples are counted on top of the full run's).
All runs are validated on the cache's ``val.pkl`` (exact masks) at 128x128; per-set figures come from the same predictions. With ``--evaluate``, each run's best epoch is also exported (FP16)
and evaluated as users run it, through ``polygon()`` at full resolution with ``evaluate.py``'s code, on the
Cityscapes validation cities (per object size at 2048x1024) and CamVid val.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import evaluate
import export
import train
from datasets import CITYSCAPES_YOLO_SOURCE, cityscapes_yolo_sources, shared_sources, user_sources
from prepare import SHARED_DATA, instance_patch, load, save
from run import SHARED_SOURCE_WEIGHTS

#: The 2.0 recipe's draw weights (weights/README.md gives the full command); sets not named are drawn once.
DRAW_2_0 = ["camvid=5", "adas=6", "otonom=1", "coco128=5", "coco=3", "humanseg=4", "pennfudan=4"]
#: 1.1's draw weights (``run.py``'s defaults for the shared sets).
DRAW_1_1 = [f"{name}={w:g}" for name, w in SHARED_SOURCE_WEIGHTS.items()]

ARMS: dict[str, dict] = {
    "recipe": {},
    "recipe-seed1": {"seed": 1},
    "recipe-4x": {"budget": 4},
    "no-quality-aug": {"quality_aug": False},
    "draw-1.1": {"source_weight": DRAW_1_1},
    "labels-640": {"cache": "labels-640"},
}


def labels_640_cache(cache: Path, root: Path, out: Path) -> Path:
    """A copy of ``cache`` whose Cityscapes *training* objects are drawn at 640x640 with rounded vertices; the
    other sets' objects and ``val.pkl`` are the cache's own. Built once (``out/train.pkl``)."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "val.pkl").exists():
        (out / "val.pkl").symlink_to((cache / "val.pkl").resolve())
    if (out / "train.pkl").exists():
        return out
    t0 = time.time()
    patches = [p for p in load(cache / "train.pkl") if p.source != CITYSCAPES_YOLO_SOURCE]
    kept = len(patches)
    for frame in cityscapes_yolo_sources(root, labels_at=(640, 640))["train"]():
        patches += [instance_patch(frame, cls, m, CITYSCAPES_YOLO_SOURCE) for cls, m in frame.instances]
    save(patches, out / "train.pkl")
    print(f"labels-640 cache: {kept} objects kept, {len(patches) - kept} Cityscapes objects redrawn "
          f"in {time.time() - t0:.0f} s")
    return out


def summary(change: dict | str, history: list[dict], samples: int) -> dict:
    """A run's entry in the report: its change, the epoch ``train.py`` keeps (highest iIoU, with its overall and
    per-set metrics), its samples and its training time."""
    best = max(history, key=lambda h: h["iIoU"])
    return {"change": change, "best": best, "samples": samples, "seconds": sum(h["seconds"] for h in history)}


def run_arm(name: str, a: argparse.Namespace) -> dict:
    change = ARMS[name]
    cache = a.cache
    if change.get("cache") == "labels-640":
        cache = labels_640_cache(a.cache, a.cityscapes_yolo, a.work / "cache-labels-640")
    args = train.parser().parse_args([])
    args.cache, args.out, args.resume = cache, a.work / name, True
    args.epochs, args.batch, args.threads = a.epochs, a.batch, a.threads
    args.samples_per_epoch = a.samples_per_epoch * change.get("budget", 1)
    args.quality_aug, args.source_weight = change.get("quality_aug", True), change.get("source_weight", DRAW_2_0)
    args.seed = change.get("seed", 0)
    done = args.out / "history.json"
    if not done.exists():
        train.train(args)
    return summary(dict(change), json.loads(done.read_text()), args.epochs * args.samples_per_epoch)


def evaluate_run(checkpoint: Path, out_dir: Path, a: argparse.Namespace) -> dict:
    """Export ``checkpoint`` (FP16) and evaluate it through ``polygon()`` on ``--eval-sources`` (no baselines);
    the report is kept beside the IR and reused when it exists."""
    report_path = out_dir / "evaluation.json"
    if not report_path.exists():
        sources = shared_sources(a.data) | user_sources(cityscapes_yolo=a.cityscapes_yolo)
        ir = export.export(checkpoint, out_dir / "ir" / "polyseg_unet.xml", f"ablation-{out_dir.name}")
        report = evaluate.run(ir, sources, a.eval_sources, baselines=False)
        report_path.write_text(json.dumps(report, indent=1))
    report = json.loads(report_path.read_text())
    return {k: v for k, v in report["full_resolution"].items() if not k.count("/") or "size" in k}


def table(report: dict) -> str:
    arms = report["arms"]
    sources = sorted(next(iter(arms.values()))["best"]["sources"])
    lines = ["| run | samples | best epoch | aIoU | iIoU | " + " | ".join(f"{s} iIoU" for s in sources) + " |",
             "|---" * (5 + len(sources)) + "|"]
    for name, r in arms.items():
        b = r["best"]
        lines.append(f"| {name} | {r['samples']:,} | {b['epoch']} | {b['aIoU']:.1f} | {b['iIoU']:.1f} | "
                     + " | ".join(f"{b['sources'][s]['iIoU']:.1f}" for s in sources) + " |")
    evaluated = {name: r["polygon"] for name, r in arms.items() if "polygon" in r}
    if evaluated:
        first = next(iter(evaluated.values()))
        groups = []  # each data set, then its size bins (those with at least 30 objects)
        for source in sorted(k for k in first if "/" not in k and k != "all"):
            bins = [f"{source}/size {label}" for _, _, label in evaluate.SIZE_BINS]
            groups += [source] + [b for b in bins if b in first and first[b]["n"] >= 30]
        lines += ["", "Through polygon() at full resolution (mean IoU; ±3 px clicks in brackets):", "",
                  "| run | " + " | ".join(f"{g.replace('/size ', ' ')} (n={first[g]['n']})" for g in groups) + " |",
                  "|---" * (1 + len(groups)) + "|"]
        for name, e in evaluated.items():
            lines.append(f"| {name} | " + " | ".join(
                f"{e[g]['iou']:.1f} ({e[g].get('iou_jitter', float('nan')):.1f})" for g in groups) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, required=True, help="the cache run.py prepared (train.pkl, val.pkl)")
    p.add_argument("--cityscapes-yolo", type=Path, help="the Roboflow export (needed by the labels-640 arm)")
    p.add_argument("--work", type=Path, help="where the arms' runs go (default CACHE/ablation)")
    p.add_argument("--arms", nargs="+", choices=sorted(ARMS), default=list(ARMS))
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--samples-per-epoch", type=int, default=5000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--full-run", type=Path, help="the full 2.0 run's folder (history.json, best.pt): the schedule's share")
    p.add_argument(
        "--second-cycle", type=Path, help="a run that continued from --full-run's best.pt (train.py --init-from)"
    )
    p.add_argument("--evaluate", action="store_true", help="also evaluate each run's best epoch through polygon()")
    p.add_argument("--eval-sources", nargs="+", default=[CITYSCAPES_YOLO_SOURCE, "camvid"])
    p.add_argument("--data", type=Path, default=SHARED_DATA, help="the shared data sets (CamVid val)")
    p.add_argument("--full-samples-per-epoch", type=int, default=20000, help="of the full run and the second cycle (2.0: 20,000)")
    p.add_argument("--out", type=Path, required=True, help="JSON report")
    a = p.parse_args(argv)
    a.work = a.work or a.cache / "ablation"
    if a.cityscapes_yolo is None and ("labels-640" in a.arms or a.evaluate):
        raise SystemExit("the labels-640 arm and --evaluate need --cityscapes-yolo")
    if a.second_cycle is not None and a.full_run is None:
        raise SystemExit("--second-cycle continues the full run: give --full-run too")
    report: dict = {"epochs": a.epochs, "samples_per_epoch": a.samples_per_epoch, "arms": {}}
    run_dirs = {name: a.work / name for name in a.arms}
    for name in a.arms:
        report["arms"][name] = run_arm(name, a)
        a.out.write_text(json.dumps(report, indent=1))  # as each arm finishes
    samples = 0  # the full run's and a second cycle's epochs, one after the other
    for name, run_dir, change in (
        ("full 2.0 run", a.full_run, "the shipped run's schedule"),
        ("second cycle", a.second_cycle, "a second cosine cycle from the full run's best epoch"),
    ):
        if run_dir is not None:
            history = json.loads((run_dir / "history.json").read_text())
            samples += a.full_samples_per_epoch * len(history)
            report["arms"][name], run_dirs[name] = summary(change, history, samples), run_dir
    if a.evaluate:
        for name, r in report["arms"].items():
            r["polygon"] = evaluate_run(run_dirs[name] / "best.pt", a.work / "evaluation" / name.replace(" ", "-"), a)
            a.out.write_text(json.dumps(report, indent=1))
    a.out.write_text(json.dumps(report, indent=1))
    print(table(report))
    return report


if __name__ == "__main__":
    main()

"""Compare the training losses on the same short budget: the paper's boundary-distance approximation, BCE, and
their sum. Each run uses the same data, seed and schedule; the table reports the best epoch's validation metrics
at 128x128.

    python training/compare_losses.py --epochs 6 --samples-per-epoch 6000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import train
from prepare import DEFAULT_CACHE


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--samples-per-epoch", type=int, default=6000)
    p.add_argument("--losses", nargs="+", default=["distance", "bce", "sum"])
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "weights" / "loss_comparison.json")
    a = p.parse_args()
    rows = {}
    for loss in a.losses:
        args = train.parser().parse_args(
            ["--cache", str(a.cache), "--out", str(a.cache / f"loss-{loss}"), "--loss", loss, "--resume",
             "--epochs", str(a.epochs), "--samples-per-epoch", str(a.samples_per_epoch)]
        )
        history = train.train(args)["history"]
        best = max(history, key=lambda h: h["iIoU"])
        rows[loss] = {k: best[k] for k in ("aIoU", "iIoU", "mIoU", "epoch")}
        print(loss, json.dumps(rows[loss]), flush=True)
    report = {"epochs": a.epochs, "samples_per_epoch": a.samples_per_epoch, "best_by_iIoU": rows}
    a.out.write_text(json.dumps(report, indent=1) + "\n")
    print("| loss | aIoU | iIoU | mIoU | best epoch |\n|---|---|---|---|---|")
    for loss, r in rows.items():
        print(f"| {loss} | {r['aIoU']:.1f} | {r['iIoU']:.1f} | {r['mIoU']:.1f} | {r['epoch']} |")


if __name__ == "__main__":
    main()

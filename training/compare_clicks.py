"""Two click reports on the same objects, object by object: how much of a NoC difference is the objects' draw.

    python training/compare_clicks.py NEW.json OLD.json [--threshold 90] [--resamples 10000]

Both reports come from ``evaluate_clicks.py`` with the same data arguments (so the same objects, in the same
order; refused otherwise). For every data set and size bin: mean NoC of each, their difference, and a 95 % paired
bootstrap interval of the difference over objects (objects resampled, each keeping both of its curves). The
interval says how far the difference could move with another draw of objects like these; it says nothing of how
far another training seed would move it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from clicker import clicks_to_reach
from evaluate_clicks import group_names


def object_clicks(report: dict, threshold: float) -> list[tuple[str, int, int, int | None]]:
    """``(source, area, NoC, pieces)`` of each object of an ``evaluate_clicks.py`` report (pieces None where the
    report did not count them)."""
    if "objects" not in report:
        raise ValueError("the report has no per-object curves: made before evaluate_clicks.py kept them; run it again")
    top = report["max_clicks"]
    return [
        (row[0], row[1], clicks_to_reach([v / 100 for v in row[3]], threshold / 100, top, first=row[2]),
         row[4] if len(row) > 4 else None)
        for row in report["objects"]
    ]


def compare(new: dict, old: dict, threshold: float = 90, resamples: int = 10000, seed: int = 0) -> dict[str, dict]:
    """Per group (all, each source, each source and size bin, issue 17's size thresholds): objects, mean NoC
    new / old, new − old and its 95 % paired bootstrap interval."""
    a, b = object_clicks(new, threshold), object_clicks(old, threshold)
    if [x[:2] for x in a] != [y[:2] for y in b]:
        raise ValueError("the two reports are not on the same objects in the same order: same data arguments?")
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (source, area, _, n_pieces) in enumerate(a):
        for name in group_names(source, area, n_pieces=n_pieces if n_pieces is not None else b[i][3]):
            groups[name].append(i)
    diff = np.array([x[2] - y[2] for x, y in zip(a, b)], np.float64)
    rng = np.random.default_rng(seed)
    out = {}
    for name, idx in sorted(groups.items()):
        d = diff[idx]
        boot = d[rng.integers(0, len(d), (resamples, len(d)))].mean(1)
        out[name] = {
            "n": len(d),
            "new": float(np.mean([a[i][2] for i in idx])),
            "old": float(np.mean([b[i][2] for i in idx])),
            "difference": float(d.mean()),
            "interval": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("new", type=Path)
    p.add_argument("old", type=Path)
    p.add_argument("--threshold", type=float, default=90, help="IoU in percent (NoC@90: 90)")
    p.add_argument("--resamples", type=int, default=10000)
    a = p.parse_args()
    try:
        result = compare(json.loads(a.new.read_text()), json.loads(a.old.read_text()), a.threshold, a.resamples)
    except ValueError as e:
        sys.exit(f"compare_clicks.py: {e}")
    t = f"{a.threshold:g}"
    print(f"| set | objects | NoC@{t} new | old | new − old | 95 % interval (objects resampled) |")
    print("|---|---|---|---|---|---|")
    for name, r in result.items():
        lo, hi = r["interval"]
        print(f"| {name} | {r['n']} | {r['new']:.2f} | {r['old']:.2f} | {r['difference']:+.2f} | {lo:+.2f} to {hi:+.2f} |")


if __name__ == "__main__":
    main()

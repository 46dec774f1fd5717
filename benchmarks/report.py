"""Summarise a pytest-benchmark JSON: medians, and ratios against the grabCut baseline of the same run."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(path: str) -> None:
    data = json.loads(Path(path).read_text())
    by_name = {b["name"]: b for b in data["benchmarks"]}
    med = {name: b["stats"]["median"] for name, b in by_name.items()}
    base = med["test_grabcut_baseline"]
    info = data["machine_info"]
    print(f"{info.get('cpu', {}).get('brand_raw', '?')}, {info.get('cpu', {}).get('count', '?')} logical cores, "
          f"Python {info['python_version']}")
    print("| benchmark | median | vs grabCut |")
    print("|---|---|---|")
    for name, m in med.items():
        print(f"| {name} | {m * 1000:.2f} ms | {base / m:.1f}x |")
    if "test_refine_one_click" in med:
        ratio = med["test_refine_one_click"] / med["test_polygon_end_to_end"]
        print(f"refine() / polygon(): {ratio:.2f} (medians of the same run)")
    for name, b in by_name.items():
        if "objects" in b["extra_info"]:
            print(f"{name}: {b['extra_info']['objects'] / med[name]:.0f} objects/s")
    cold = by_name["test_cold_start_and_peak_rss"]["extra_info"]
    print(f"cold start (import + load + first polygon): {cold['cold_start_s_median']:.2f} s median; "
          f"peak RSS {cold['peak_rss_mb_max']:.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results.json")

"""Speed and memory of polyseg on this machine, with cv2.grabCut as the baseline measured in the same run.

Run with ``pytest benchmarks --benchmark-json=benchmarks/results.json`` and summarise with
``python benchmarks/report.py benchmarks/results.json``. Nothing here asserts a time: the figures are reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from evaluate import grabcut
from polyseg.prompt import Prompt


def test_polygon_end_to_end(benchmark, segmenter, scene):
    """``polygon()`` on a 2048x1024 RGB image: checks, crop, network, mapping back, tracing."""
    image, points = scene
    polygon = benchmark(segmenter.polygon, image, points)
    assert len(polygon) >= 3


def test_refine_one_click(benchmark, segmenter, scene):
    """``refine()`` of the ``polygon()`` answer above with one positive and one negative click (the correction
    network, already loaded): checks, window, 6-channel input, network, mapping back, tracing."""
    image, points = scene
    first = segmenter.segment(image, points)
    centre = points.mean(axis=0)
    segmenter.refine(image, first, positive=[centre])  # loads the correction network outside the timing
    fixed = benchmark(segmenter.refine, image, first, positive=[centre], negative=[points.min(axis=0) + 4])
    assert fixed.parts


def test_network_alone(benchmark, segmenter, scene):
    """One 1x4x128x128 inference through the package's infer-request pool."""
    image, points = scene
    x = segmenter.prepare(segmenter.prepare_image(image), Prompt(extreme_points=points)).input
    prob = benchmark(segmenter.network, x)
    assert prob.shape == (128, 128)


@pytest.mark.parametrize("batch", [4, 1])
def test_segment_many_20_objects(benchmark, scene, many_prompts, batch, monkeypatch):
    """20 objects of one image, inference in batches of ``batch`` (4: ``polyseg.network.BATCH`` as shipped; 1: the
    network's throughput compilation before batching, what batching brings); objects/s = 20 / median."""
    import polyseg.network
    from polyseg import Segmenter

    monkeypatch.setattr(polyseg.network, "BATCH", batch)  # read when the Segmenter is created
    image, _ = scene
    with Segmenter.from_pretrained() as segmenter:
        results = benchmark(segmenter.segment_many, image, many_prompts)
    assert len(results) == 20
    benchmark.extra_info.update({"objects": 20, "batch": batch})


def test_grabcut_baseline(benchmark, scene):
    """The baseline: cv2.grabCut (5 iterations) from the same box, on a crop around it."""
    image, points = scene
    box = np.concatenate([points.min(0), points.max(0)])
    mask = benchmark.pedantic(grabcut, args=(image, box), rounds=10, iterations=1, warmup_rounds=1)
    assert mask.any()


COLD_START = """
import time; t0 = time.perf_counter()
import json
import numpy as np
from polyseg import Segmenter
seg = Segmenter.from_pretrained()
image = np.zeros((1024, 2048, 3), np.uint8); image[400:600, 900:1200] = 200
points = [(900, 500), (1050, 400), (1199, 500), (1050, 599)]
seg.polygon(image, points)
first = time.perf_counter() - t0
for _ in range(20):
    seg.polygon(image, points)
# VmHWM: this process's own peak RSS (ru_maxrss would carry over the parent's peak across fork + exec)
hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"cold_start_s": first, "peak_rss_mb": hwm_kb / 1024}))
"""


def test_cold_start_and_peak_rss(benchmark):
    """A fresh process: import, load the bundled IR, first ``polygon()``; then peak RSS after 21 calls."""
    runs = []

    def fresh_process():
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", COLD_START], check=True, capture_output=True, text=True)
        runs.append(json.loads(out.stdout) | {"process_s": time.perf_counter() - t})

    benchmark.pedantic(fresh_process, rounds=5, iterations=1)
    benchmark.extra_info["cold_start_s_median"] = float(np.median([r["cold_start_s"] for r in runs]))
    benchmark.extra_info["peak_rss_mb_max"] = float(max(r["peak_rss_mb"] for r in runs))

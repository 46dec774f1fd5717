"""Load test of ``polyseg serve`` on loopback: 8 concurrent clients send CVAT interactor requests with a
2048x1024 JPEG frame; throughput, p50/p99 latency, and whether every answer was correct.

Run with ``python -m pytest benchmarks/test_serve_load.py -s``; the figures go to ``benchmarks/serve_load.json``
(and are printed). Bounded in count (``CLIENTS x REQUESTS`` requests after a warm-up) and in time
(``DEADLINE_S``). Every answer is checked against the same request run in process: status 200, and the mask
at least 99 % IoU with the in-process mask. Nothing here asserts a time.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from serve_support import cvat_mask, iou, serve_process

CLIENTS = 8
REQUESTS = 30  # per client
DEADLINE_S = 240
OUT = Path(__file__).with_name("serve_load.json")


def test_serve_under_load(segmenter, scene):
    image_rgb, points = scene
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    frame = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)  # what the server will see
    b64 = base64.b64encode(jpeg.tobytes()).decode()
    box = [[float(points[:, 0].min()), float(points[:, 1].min())], [float(points[:, 0].max()), float(points[:, 1].max())]]
    bodies = [  # two kinds of request: four extreme points, and a box alone
        json.dumps({"image": b64, "pos_points": points.tolist(), "neg_points": [], "obj_bbox": None}).encode(),
        json.dumps({"image": b64, "pos_points": [], "neg_points": [], "obj_bbox": box}).encode(),
    ]
    references = [
        segmenter.segment(frame, points, image_format="BGR").mask,
        segmenter.segment(frame, box=np.asarray(box).ravel(), image_format="BGR").mask,
    ]

    with serve_process("--log-level", "warning") as port:
        def post(conn: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes]:
            conn.request("POST", "/api/cvat", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, response.read()

        warm = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for body in bodies * 4:
            assert post(warm, body)[0] == 200
        warm.close()

        records: list[tuple[int, float, int, bytes]] = []  # (kind, seconds, status, body)
        lock = threading.Lock()
        stop_at = time.monotonic() + DEADLINE_S

        def client(index: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for i in range(REQUESTS):
                if time.monotonic() > stop_at:
                    break
                kind = (index + i) % 2
                t0 = time.perf_counter()
                status, data = post(conn, bodies[kind])
                elapsed = time.perf_counter() - t0
                with lock:
                    records.append((kind, elapsed, status, data))
            conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0

    correct = 0
    for kind, _, status, data in records:
        if status == 200 and iou(cvat_mask(json.loads(data), frame.shape[:2]), references[kind]) >= 0.99:
            correct += 1
    latencies = np.array([r[1] for r in records]) * 1000
    result = {
        "clients": CLIENTS,
        "requests": len(records),
        "correct": correct,
        "all_correct": correct == len(records) == CLIENTS * REQUESTS,
        "wall_s": round(wall, 3),
        "throughput_rps": round(len(records) / wall, 2),
        "latency_ms": {"p50": round(float(np.percentile(latencies, 50)), 1),
                       "p99": round(float(np.percentile(latencies, 99)), 1),
                       "mean": round(float(latencies.mean()), 1), "max": round(float(latencies.max()), 1)},
        "request": {"image": "2048x1024 JPEG (quality 90)", "jpeg_bytes": int(jpeg.size),
                    "body_bytes": [len(b) for b in bodies], "endpoint": "POST /api/cvat",
                    "kinds": "alternating: four extreme points / obj_bbox alone"},
        "answer_bytes": int(np.median([len(r[3]) for r in records])),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version()},
        "training_paused": os.environ.get("POLYSEG_TRAINING_PAUSED") == "1",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    assert result["all_correct"], f"{correct} of {len(records)} answers correct"

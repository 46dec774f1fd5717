"""Shared helpers of the serve, CVAT, Label Studio and page tests: the example, its golden mask, IoU."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "polyseg" / "data"
EXAMPLE_JPG = DATA / "example.jpg"
EXAMPLE = json.loads((DATA / "example.json").read_text())
POINTS = EXAMPLE["extreme_points"]  # the car's four extreme points, (x, y) pixel centres
GOLDEN_MASK = cv2.imread(str(ROOT / "tests" / "golden" / "example_mask.png"), cv2.IMREAD_GRAYSCALE) > 0


def example_b64() -> str:
    return base64.b64encode(EXAMPLE_JPG.read_bytes()).decode()


def encode_b64(image: np.ndarray, ext: str = ".png") -> str:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return base64.b64encode(data.tobytes()).decode()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def filled(polygon, shape: tuple[int, int], shift: float = 0.0) -> np.ndarray:
    """The mask of a polygon; ``shift=-0.5`` for corner-coordinate (COCO, Label Studio) vertices."""
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(polygon, float) + shift).astype(np.int32)], 1)
    return m.astype(bool)


def cvat_mask(answer: dict, shape: tuple[int, int]) -> np.ndarray:
    """The full-frame mask of a CVAT interactor answer, read as CVAT reads it.

    cvat-ui's ``tools-control.tsx`` turns the answer into a mask shape with ``core.utils.mask2Rle(mask.flat())``
    and appends ``bounds``: runs alternate background / foreground at every change of value, the first run is
    background (``val > 0`` at index 0 opens with an empty background run), and the bounds are inclusive pixel
    indices ``[left, top, right, bottom]`` of a ``(bottom - top + 1) x (right - left + 1)`` mask
    (``cvat-core/src/object-utils.ts``).
    """
    left, top, right, bottom = answer["bounds"]
    width, height = right - left + 1, bottom - top + 1
    assert width >= 1 and height >= 1, f"CVAT cannot place a mask with bounds {answer['bounds']}"
    flat = [v for row in answer["mask"] for v in row]
    runs: list[int] = []
    for i, v in enumerate(flat):  # mask2Rle
        if i == 0:
            runs += [0, 1] if v > 0 else [1]
        elif v == flat[i - 1]:
            runs[-1] += 1
        else:
            runs.append(1)
    assert sum(runs) == width * height, "the mask does not cover its bounds"
    crop = np.repeat(np.arange(len(runs)) % 2, runs).astype(bool).reshape(height, width)
    full = np.zeros(shape, bool)
    full[top : bottom + 1, left : right + 1] = crop
    return full


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worktree_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) with this checkout's ``src/`` first on ``PYTHONPATH``, so that
    a child ``python -m polyseg...`` runs the code under test, as ``conftest.py`` makes the tests import it, and not
    whichever polyseg the interpreter has installed."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    return env


@contextmanager
def serve_process(*args: str, timeout: float = 60.0, env: dict[str, str] | None = None) -> Iterator[int]:
    """``polyseg serve ARGS`` in its own process on a free port; yields the port once it accepts connections.
    ``env``: the process's environment (default: this one's); either way it imports polyseg from this checkout
    (:func:`worktree_env`)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "polyseg.cli", "serve", "--port", str(port), *args],
                               env=worktree_env(env))
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"polyseg serve did not start on port {port}") from None
                time.sleep(0.3)
        yield port
    finally:
        process.terminate()
        process.wait(15)

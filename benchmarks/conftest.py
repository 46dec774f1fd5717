"""Shared fixtures for the benchmarks: the shipped segmenter and a 2048x1024 road-scene-sized image."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest

from polyseg import Segmenter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))  # the grabCut baseline is the one training/evaluate.py measures

WIDTH, HEIGHT = 2048, 1024


@pytest.fixture(scope="session")
def segmenter():
    with Segmenter.from_pretrained() as seg:
        yield seg


@pytest.fixture(scope="session")
def scene():
    """The bundled example scaled to 2048x1024 (RGB) and its car's extreme points scaled with it."""
    data = resources.files("polyseg") / "data"
    meta = json.loads((data / "example.json").read_text())
    image = cv2.imread(str(data / meta["image"]))
    sx, sy = WIDTH / image.shape[1], HEIGHT / image.shape[0]
    image = cv2.cvtColor(cv2.resize(image, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    points = (np.asarray(meta["extreme_points"], float) + 0.5) * (sx, sy) - 0.5
    return image, points


@pytest.fixture(scope="session")
def many_prompts(scene):
    """20 prompts of different sizes and places: the car's points shifted and scaled, half as boxes."""
    _, points = scene
    rng = np.random.default_rng(0)
    centre = points.mean(axis=0)
    prompts = []
    for i in range(20):
        scale = rng.uniform(0.3, 1.2)
        shift = rng.uniform((-800, -300), (600, 400))
        p = np.clip((points - centre) * scale + centre + shift, 0, (WIDTH - 1, HEIGHT - 1))
        prompts.append(p if i % 2 == 0 else np.concatenate([p.min(0), p.max(0)]))
    return prompts

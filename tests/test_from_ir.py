"""Reading the shipped IR back into the PyTorch U-Net (``training/from_ir.py``): the start of a run that continues
from the shipped weights. Needs PyTorch (the ``train`` extra); skipped where it is not installed."""

from __future__ import annotations

import json
from importlib import resources

import cv2
import numpy as np
import openvino as ov
import pytest

torch = pytest.importorskip("torch")
from_ir = pytest.importorskip("from_ir")

from polyseg import Segmenter
from polyseg.crop import CropWindow, network_input
from polyseg.network import bundled_model_path

DATA = resources.files("polyseg") / "data"
EXAMPLE = json.loads((DATA / "example.json").read_text())
EXAMPLE_POINTS = np.array(EXAMPLE["extreme_points"], np.float64)


def test_the_read_back_unet_computes_what_the_ir_computes():
    xml = bundled_model_path()
    image = cv2.cvtColor(cv2.imread(str(DATA / EXAMPLE["image"])), cv2.COLOR_BGR2RGB)
    with Segmenter.from_pretrained() as seg:
        info = seg.info
    lo, hi = EXAMPLE_POINTS.min(0), EXAMPLE_POINTS.max(0)
    window = CropWindow.from_box(np.r_[lo, hi], size=info.input_size, margin=info.margin, min_margin=info.min_margin)
    x = network_input(image, window, EXAMPLE_POINTS)[None]

    compiled = ov.Core().compile_model(str(xml), "CPU", {"EXECUTION_MODE_HINT": "ACCURACY"})
    expected = compiled(x)[0] > 0.5
    model = from_ir.unet_from_ir(xml).eval()
    with torch.no_grad():
        got = model(torch.from_numpy(x)).numpy() > 0.5
    iou = (expected & got).sum() / (expected | got).sum()
    assert iou > 0.99  # the IR's INT8 activation rounding is all that differs
    assert expected.sum() > 1000  # a real object, not two empty maps


def test_every_convolution_is_read_with_its_bias():
    convs = from_ir.ir_convolutions(bundled_model_path())
    assert len(convs) == 19  # 2 per level down (5) and up (4), plus the head
    assert convs[0][0].shape == (16, 4, 3, 3) and convs[-1][0].shape == (1, 16, 1, 1)
    assert all(bias is not None and bias.shape == (w.shape[0],) for w, bias in convs)

"""Export a training checkpoint to the shipped OpenVINO IR (FP16 weights) with its parameters in rt_info.

Optionally also an INT8 IR made with NNCF post-training quantisation, calibrated on validation samples.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import openvino as ov
import torch

from model import UNet
from polyseg.crop import INPUT_SIZE, MARGIN, MIN_MARGIN, POINT_RADIUS
from polyseg.network import BUNDLED_MODEL

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


def load_checkpoint(path: Path) -> UNet:
    model = UNet()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=False)["model"])
    return model.eval()


def to_openvino(model: UNet) -> ov.Model:
    """Trace the module to an OpenVINO model with a dynamic batch dimension."""
    example = torch.zeros(1, 4, INPUT_SIZE, INPUT_SIZE)
    ov_model = ov.convert_model(model, example_input=example, input=[(-1, 4, INPUT_SIZE, INPUT_SIZE)])
    ov_model.inputs[0].get_tensor().set_names({"input"})
    ov_model.outputs[0].get_tensor().set_names({"probability"})
    return ov_model


def set_model_info(ov_model: ov.Model, version: str, threshold: float = 0.5) -> None:
    """Store the parameters the package reads back (see :class:`polyseg.network.ModelInfo`)."""
    info = {
        "input_size": INPUT_SIZE,
        "margin": MARGIN,
        "min_margin": MIN_MARGIN,
        "point_radius": POINT_RADIUS,
        "threshold": threshold,
        "channel_order": "RGB",
        "version": version,
    }
    for key, value in info.items():
        ov_model.set_rt_info(str(value), ["model_info", key])


def export(checkpoint: Path, out: Path, version: str) -> Path:
    """Write ``out`` (.xml + .bin, FP16 weights) from a checkpoint; returns the .xml path."""
    ov_model = to_openvino(load_checkpoint(checkpoint))
    set_model_info(ov_model, version)
    out.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov_model, out, compress_to_fp16=True)
    return out


def quantize_int8(checkpoint: Path, calibration: np.ndarray, out: Path, version: str) -> Path:
    """NNCF post-training INT8 quantisation, calibrated on ``calibration`` ``(N, 4, S, S)`` float32 inputs."""
    import nncf

    ov_model = to_openvino(load_checkpoint(checkpoint))
    dataset = nncf.Dataset(list(calibration[:, None]))
    q = nncf.quantize(ov_model, dataset, subset_size=min(300, len(calibration)))
    set_model_info(q, version + "-int8")
    ov.save_model(q, out)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, default=WEIGHTS_DIR / BUNDLED_MODEL)
    p.add_argument("--version", default="dev")
    a = p.parse_args()
    print(export(a.checkpoint, a.out, a.version))


if __name__ == "__main__":
    main()

"""Export a training checkpoint to the shipped OpenVINO IR (FP16 weights) with its parameters in rt_info.

The parameters (input size, crop margins, point radius) come from the checkpoint's own training arguments
(:func:`model_info`), so an IR says what its weights were trained with, whatever the package's defaults are now;
:func:`polyseg.network.write_model_info` stores them. Optionally also an INT8 IR made with NNCF post-training
quantisation, calibrated on validation samples.

Reading a checkpoint needs PyTorch (imported when needed); :func:`model_info` and the rt_info writer do not.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from polyseg.network import BUNDLED_MODEL, ModelInfo, write_model_info

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"

#: The sample geometry of every run trained before ``train.py`` kept it among its arguments (the weights up to
#: 2.0 and their trials): what :func:`model_info` takes where a checkpoint's arguments lack a value.
EARLIER_RUNS: dict[str, float] = {"input_size": 128, "margin": 0.1, "min_margin": 3.0, "point_radius": 3.0}
#: What a 6-channel checkpoint of ``train_corrections.py`` is (its clicks drawn with the point radius).
CORRECTION: dict[str, Any] = {"kind": "correction", "previous_mask": "probability"}


def model_info(args: dict[str, Any], version: str, threshold: float = 0.5, *, input_channels: int = 4) -> ModelInfo:
    """The parameters an IR of a checkpoint carries, from the checkpoint's training arguments (``ck["args"]``:
    ``input_size``, ``margin``, ``min_margin``, ``point_radius``; :data:`EARLIER_RUNS` for those it lacks) and
    its network's input channels: 4 for the ``"extreme_points"`` models of ``train.py``, 6 for the
    ``"correction"`` models of ``train_corrections.py`` (clicks drawn with the point radius)."""
    geometry = {key: args.get(key, earlier) for key, earlier in EARLIER_RUNS.items()}
    return ModelInfo(
        input_size=int(geometry["input_size"]),
        margin=float(geometry["margin"]),
        min_margin=float(geometry["min_margin"]),
        point_radius=float(geometry["point_radius"]),
        threshold=threshold,
        channel_order="RGB",
        version=version,
        input_channels=input_channels,
        **({} if input_channels == 4 else CORRECTION | {"click_radius": float(geometry["point_radius"])}),
    )


def load_checkpoint(path: Path):  # -> tuple[UNet, dict]
    """The checkpoint's network (eval mode) and its training arguments."""
    import torch

    from model import UNet

    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    first = checkpoint["model"]["down.0.0.weight"]  # (base, in_channels, 3, 3)
    model = UNet(in_channels=int(first.shape[1]), base=int(first.shape[0]))
    model.load_state_dict(checkpoint["model"])
    return model.eval(), dict(checkpoint.get("args") or {})


def input_channels(model) -> int:
    """Channels of the U-Net's input (its first convolution's)."""
    return int(model.down[0][0].in_channels)


def to_openvino(model, info: ModelInfo) -> ov.Model:
    """Trace the module to an OpenVINO model taking ``(N, C, S, S)`` as ``info`` says, N dynamic."""
    import torch

    shape = (info.input_channels, info.input_size, info.input_size)
    ov_model = ov.convert_model(model, example_input=torch.zeros(1, *shape), input=[(-1, *shape)])
    ov_model.inputs[0].get_tensor().set_names({"input"})
    ov_model.outputs[0].get_tensor().set_names({"probability"})
    return ov_model


def export(checkpoint: Path, out: Path, version: str) -> Path:
    """Write ``out`` (.xml + .bin, FP16 weights) from a checkpoint; returns the .xml path."""
    model, args = load_checkpoint(checkpoint)
    info = model_info(args, version, input_channels=input_channels(model))
    ov_model = to_openvino(model, info)
    write_model_info(ov_model, info)
    out.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov_model, out, compress_to_fp16=True)
    return out


def quantize_int8(checkpoint: Path, calibration: np.ndarray, out: Path, version: str) -> Path:
    """NNCF post-training INT8 quantisation, calibrated on ``calibration`` ``(N, C, S, S)`` float32 inputs (C: the
    checkpoint's input channels, 4 for the first network, 6 for the correction network)."""
    import nncf

    model, args = load_checkpoint(checkpoint)
    info = model_info(args, version + "-int8", input_channels=input_channels(model))
    ov_model = to_openvino(model, info)
    dataset = nncf.Dataset(list(calibration[:, None]))
    q = nncf.quantize(ov_model, dataset, subset_size=min(300, len(calibration)))
    write_model_info(q, info)
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

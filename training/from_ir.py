"""Read a shipped OpenVINO IR back into the PyTorch U-Net, so a new run can start from the shipped weights.

The exported IR has every BatchNorm folded into its convolution (a weight and a bias), and the INT8 IR stores each
weight as an int8 constant times a per-channel scale (``Constant -> Convert -> Multiply``). Read back, each
convolution's dequantized weight goes into the matching ``nn.Conv2d`` and its bias into the following
``BatchNorm2d`` set to the identity (running mean 0, running variance ``1 - eps``, scale 1, shift = the bias): in
eval mode the module then computes exactly what the IR computes, less the INT8 activation rounding. Train such a
model with frozen BatchNorm (``train.py --freeze-bn``): in train mode, batch statistics would replace the identity.

    python training/from_ir.py weights/polyseg_unet.xml CACHE/from-2.0.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import openvino as ov
import torch
from torch import nn

from model import UNet


def _constant(node) -> np.ndarray:
    """The value of a constant sub-graph made of Constant, Convert, Subtract and Multiply nodes."""
    kind = node.get_type_name()
    if kind == "Constant":
        return node.get_data().astype(np.float64)
    if kind == "Convert":
        return _constant(node.input_value(0).get_node())
    if kind in ("Multiply", "Subtract"):
        a, b = (_constant(node.input_value(i).get_node()) for i in range(2))
        return a * b if kind == "Multiply" else a - b
    raise ValueError(f"unexpected {kind} node {node.get_friendly_name()} in a weight sub-graph")


def ir_convolutions(xml: Path | str) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """``(weight (O, I, k, k), bias (O,) or None)`` of every convolution of the IR, in execution order."""
    model = ov.Core().read_model(str(xml))
    convs = []
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Convolution":
            continue
        weight = _constant(op.input_value(1).get_node())
        bias = None
        consumers = [t.get_node() for t in op.output(0).get_target_inputs()]
        if len(consumers) == 1 and consumers[0].get_type_name() == "Add":
            add = consumers[0]
            other = add.input_value(1).get_node()
            if other is op:
                other = add.input_value(0).get_node()
            bias = _constant(other).reshape(-1)
        convs.append((weight, bias))
    return convs


def unet_from_ir(xml: Path | str) -> UNet:
    """A :class:`UNet` holding the IR's weights (BatchNorm as identity; see the module docstring)."""
    convs = ir_convolutions(xml)
    model = UNet(in_channels=convs[0][0].shape[1])
    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if len(layers) != len(convs):
        raise ValueError(f"{xml}: {len(convs)} convolutions, the U-Net has {len(layers)}")
    modules = list(model.modules())
    with torch.no_grad():
        for conv, (weight, bias) in zip(layers, convs):
            if tuple(conv.weight.shape) != weight.shape:
                raise ValueError(
                    f"{xml}: a convolution of shape {weight.shape} where the U-Net has {tuple(conv.weight.shape)}"
                )
            conv.weight.copy_(torch.from_numpy(weight))
            nxt = modules[modules.index(conv) + 1] if modules.index(conv) + 1 < len(modules) else None
            b = torch.zeros(weight.shape[0]) if bias is None else torch.from_numpy(bias)
            if isinstance(nxt, nn.BatchNorm2d):
                nxt.running_mean.zero_()
                nxt.running_var.fill_(1.0 - nxt.eps)
                nxt.weight.fill_(1.0)
                nxt.bias.copy_(b)
            elif conv.bias is not None:
                conv.bias.copy_(b)
    return model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("xml", type=Path)
    p.add_argument("out", type=Path, help="a checkpoint for train.py --init-from (with --freeze-bn)")
    a = p.parse_args()
    torch.save({"model": unet_from_ir(a.xml).state_dict(), "from_ir": str(a.xml)}, a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()

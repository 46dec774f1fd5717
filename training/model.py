"""The U-Net of the paper: f=16 (16, 32, 64, 128, 256 filters), 4 input channels, 128x128, one output map.

Input normalisation (0-255 -> zero mean, unit scale) and the final sigmoid live inside the module, so the
exported OpenVINO IR takes the raw ``(N, 4, 128, 128)`` float32 input that :func:`polyseg.crop.network_input`
builds and returns probabilities.
"""

from __future__ import annotations

import torch
from torch import nn


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net with max-pool down, bilinear upsample up and skip connections.

    Parameters
    ----------
    in_channels : int
        4: R, G, B and the extreme-point channel; 6 for the correction network (R, G, B, positive clicks,
        negative clicks, previous probability; :func:`polyseg.crop.correction_input`).
    base : int
        Filters at the first level (f); level k has ``base * 2**k``.
    depth : int
        Number of levels (5 gives 16, 32, 64, 128, 256 for f=16).
    """

    # R, G, B, then the prompt channels (0-255: points; for the correction network positive clicks, negative
    # clicks and the previous probability), scaled to 0-1.
    MEAN = (123.7, 116.3, 103.5, 0.0, 0.0, 0.0)
    STD = (58.4, 57.1, 57.4, 255.0, 255.0, 255.0)

    def __init__(self, in_channels: int = 4, base: int = 16, depth: int = 5) -> None:
        super().__init__()
        widths = [base * 2**k for k in range(depth)]
        self.register_buffer("mean", torch.tensor(self.MEAN[:in_channels]).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(self.STD[:in_channels]).view(1, -1, 1, 1))
        self.down = nn.ModuleList()
        cin = in_channels
        for w in widths:
            self.down.append(_double_conv(cin, w))
            cin = w
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(_double_conv(cin + w, w))
            cin = w
        self.head = nn.Conv2d(cin, 1, 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 4, S, S)`` raw input (0-255) -> ``(N, 1, S, S)`` logits."""
        x = (x - self.mean) / self.std
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = self.pool(x)
            x = block(x)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = nn.functional.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 4, S, S)`` raw input -> ``(N, 1, S, S)`` foreground probabilities."""
        return torch.sigmoid(self.logits(x))

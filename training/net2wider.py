"""Widen a trained U-Net without changing what it computes (Net2WiderNet, Chen et al. 2016, arXiv:1511.05641).

Each level's ``w`` channels become ``w'``: the first ``w`` are the old ones, each extra one a copy of an old one
chosen at random (its convolution filters and BatchNorm parameters and statistics copied). Wherever a widened set
of channels is read (the next convolution, an up block's skip, the head), the weights of a channel and of its
copies are divided by how many there are, so the sum is unchanged. ReLU, max-pool and bilinear up-sampling act per
channel, so the widened network computes the same function, exactly with BatchNorm in eval mode (``--freeze-bn``
keeps it so). A little noise on the divided weights breaks the symmetry between a channel and its copies, so that
training can make them differ.

Used by ``train_corrections.py --base 24 --init-from CHECKPOINT``: a wider correction network that starts where
the narrower one ended, instead of from scratch.
"""

from __future__ import annotations

import torch


def _mapping(old: int, new: int, gen: torch.Generator) -> torch.Tensor:
    """New channel -> old channel: identity for the first ``old``, then random old channels."""
    if new < old:
        raise ValueError(f"can only widen: {old} channels -> {new}")
    return torch.cat([torch.arange(old), torch.randint(0, old, (new - old,), generator=gen)])


def _read(weight: torch.Tensor, mapping: torch.Tensor, noise: float, gen: torch.Generator) -> torch.Tensor:
    """A convolution weight ``(out, in, k, k)`` whose input channels are widened by ``mapping``: the copies share
    their channel's weight equally; ``noise`` (relative) breaks the tie."""
    counts = torch.bincount(mapping, minlength=weight.shape[1]).to(weight.dtype)
    out = weight[:, mapping] / counts[mapping].view(1, -1, 1, 1)
    if noise > 0:
        out = out + noise * out.abs().mean() * torch.randn(out.shape, generator=gen, dtype=out.dtype)
    return out


def _write(state: dict, conv: str, bn: str, mapping: torch.Tensor) -> None:
    """Copy a convolution's output filters and its BatchNorm's entries along ``mapping``."""
    state[f"{conv}.weight"] = state[f"{conv}.weight"][mapping]
    for name in ("weight", "bias", "running_mean", "running_var"):
        state[f"{bn}.{name}"] = state[f"{bn}.{name}"][mapping]


def widen_unet(state: dict[str, torch.Tensor], base: int, seed: int = 0, noise: float = 0.01) -> dict:
    """The state dict of :class:`model.UNet` with ``base`` filters at its first level instead of the checkpoint's,
    computing the same function (up to ``noise``). Each level keeps ``base * 2**k`` filters."""
    state = {k: v.clone() for k, v in state.items()}
    old_base = int(state["down.0.0.weight"].shape[0])
    if base == old_base:
        return state
    depth = sum(1 for k in state if k.startswith("down.") and k.endswith(".0.weight"))
    gen = torch.Generator().manual_seed(seed)

    def read(conv: str, mapping: torch.Tensor) -> None:
        state[f"{conv}.weight"] = _read(state[f"{conv}.weight"], mapping, noise, gen)

    outputs = []  # mapping of each down level's output channels (its skip)
    previous = None  # mapping of the channels the next block reads (None: the network input, not widened)
    for i in range(depth):
        old, new = old_base * 2**i, base * 2**i
        inner, output = _mapping(old, new, gen), _mapping(old, new, gen)
        if previous is not None:
            read(f"down.{i}.0", previous)
        _write(state, f"down.{i}.0", f"down.{i}.1", inner)
        read(f"down.{i}.3", inner)
        _write(state, f"down.{i}.3", f"down.{i}.4", output)
        outputs.append(output)
        previous = output
    for j in range(depth - 1):
        level = depth - 2 - j  # the skip's level
        old, new = old_base * 2**level, base * 2**level
        skip = outputs[level]
        # input: cat(upsampled x, skip); the skip's channels come after the upsampled ones
        w = state[f"up.{j}.0.weight"]
        n_up = w.shape[1] - old
        up_part, skip_part = w[:, :n_up], w[:, n_up:]
        state[f"up.{j}.0.weight"] = torch.cat(
            [_read(up_part, previous, noise, gen), _read(skip_part, skip, noise, gen)], 1)
        inner, output = _mapping(old, new, gen), _mapping(old, new, gen)
        _write(state, f"up.{j}.0", f"up.{j}.1", inner)
        read(f"up.{j}.3", inner)
        _write(state, f"up.{j}.3", f"up.{j}.4", output)
        previous = output
    read("head", previous)
    return state

"""Widening a trained U-Net without changing its answer (``training/net2wider.py``): how a wider correction
network starts from the shipped narrower one. Needs PyTorch (the ``train`` extra); skipped where it is not
installed."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
model = pytest.importorskip("model")
net2wider = pytest.importorskip("net2wider")


def trained_like(in_channels: int = 6, base: int = 8, depth: int = 4):
    """A small U-Net with random weights and BatchNorm statistics (as after training), in eval mode."""
    torch.manual_seed(0)
    net = model.UNet(in_channels=in_channels, base=base, depth=depth)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


def test_the_widened_unet_computes_what_the_narrow_one_did():
    narrow = trained_like()
    x = torch.rand(2, 6, 64, 64) * 255
    state = net2wider.widen_unet(narrow.state_dict(), base=12, noise=0.0)
    wide = model.UNet(in_channels=6, base=12, depth=4).eval()
    wide.load_state_dict(state)  # every shape fits the wider network
    assert wide.down[0][0].out_channels == 12 and wide.down[3][0].out_channels == 96
    with torch.no_grad():
        torch.testing.assert_close(wide.logits(x), narrow.logits(x), atol=1e-4, rtol=1e-4)


def test_noise_breaks_the_symmetry_of_the_copies_but_keeps_the_answer():
    narrow = trained_like()
    x = torch.rand(2, 6, 64, 64) * 255
    state = net2wider.widen_unet(narrow.state_dict(), base=12, noise=0.01, seed=3)
    wide = model.UNet(in_channels=6, base=12, depth=4).eval()
    wide.load_state_dict(state)
    with torch.no_grad():
        a, b = torch.sigmoid(wide.logits(x)), torch.sigmoid(narrow.logits(x))
    assert (a - b).abs().max() < 0.05
    assert (a - b).abs().max() > 0  # the copies' weights differ a little


def test_the_same_width_is_returned_unchanged_and_narrowing_is_refused():
    state = trained_like().state_dict()
    same = net2wider.widen_unet(state, base=8)
    assert all(torch.equal(same[k], v) for k, v in state.items())
    with pytest.raises(ValueError, match="can only widen: 8 channels -> 4"):
        net2wider.widen_unet(state, base=4)

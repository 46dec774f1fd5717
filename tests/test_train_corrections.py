"""The correction network's training loop on a tiny synthetic cache. Needs PyTorch (the ``train`` extra)."""

from __future__ import annotations

import dataclasses
import json
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tc = pytest.importorskip("train_corrections")

from polyseg.network import bundled_model_path
from training_data import ellipse_patch


@pytest.fixture
def cache(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("train", 16), ("val", 8)):
        patches = [ellipse_patch(rng, "a") for _ in range(n)]
        (tmp_path / f"{name}.pkl").write_bytes(pickle.dumps([dataclasses.asdict(p) for p in patches]))
    return tmp_path


def run(cache, out, *extra):
    xml = str(bundled_model_path())
    args = tc.parser().parse_args(
        [
            "--cache",
            str(cache),
            "--out",
            str(out),
            "--first",
            xml,
            "--init-from",
            xml,
            "--freeze-bn",
            "--samples-per-epoch",
            "8",
            "--batch",
            "4",
            "--threads",
            "1",
            "--val-stride",
            "1",
            *extra,
        ]
    )
    return tc.train(args)


def test_before_training_the_widened_network_repeats_the_first_answer(cache, tmp_path):
    # New channels start at zero: at learning rate 0 every click leaves the first answer as it was (up to the
    # IR's INT8 rounding, which the read-back network does not repeat).
    out = tmp_path / "run"
    result = run(cache, out, "--epochs", "1", "--lr", "0")
    after = result["history"][0]["iou_after"]
    assert max(after) - min(after) < 2.0
    # Nothing moved, BatchNorm statistics included: validation and the clicks on the model's own answers run in
    # eval mode, and the training step keeps BatchNorm frozen.
    from from_ir import unet_from_ir

    start = tc.widen(unet_from_ir(bundled_model_path()).state_dict())
    held = torch.load(out / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(held[k], start[k]) for k in start if "num_batches" not in k)


def test_a_run_checkpoints_resumes_and_learns_from_clicks(cache, tmp_path):
    out = tmp_path / "run"
    run(cache, out, "--epochs", "1")
    assert (out / "best.pt").exists() and (out / "last.pt").exists()
    result = run(cache, out, "--epochs", "2", "--resume")
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert result["best"] == max(h["score"] for h in history)
    best = torch.load(out / "best.pt", weights_only=False)
    assert best["model"]["down.0.0.weight"].shape[1] == 6


def test_widen_adds_zero_weights_for_the_new_channels():
    from model import UNet

    wide = tc.widen(UNet().state_dict())
    assert wide["down.0.0.weight"].shape == (16, 6, 3, 3)
    assert not wide["down.0.0.weight"][:, 4:].any()
    UNet(in_channels=6).load_state_dict(wide)

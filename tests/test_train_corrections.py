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


def test_a_focus_sample_is_the_window_refine_zoom_builds_around_the_last_click():
    from clicker import Click
    from polyseg.crop import focus_window
    from samples import draw_sample

    rng = np.random.default_rng(1)
    patch = ellipse_patch(rng, "a")
    drawn = draw_sample(patch.image, patch.mask, None, size=32, radius=2.0)
    clicks = [Click(30, 16, False), Click(5, 5, False), Click(16, 3, True)]  # object-window input px; last: (16, 3)
    answer = np.zeros((32, 32), np.float32)
    answer[8:24, 8:24] = 1.0
    x, y = tc.focus_input(drawn, clicks, answer, rng, None, 2.0)
    assert x.shape == (6, 32, 32) and y.shape == (32, 32)
    focus = focus_window(drawn.window, drawn.window.to_image(np.array([16.0, 3.0])))
    assert focus.width == focus.height == round(max(drawn.window.width, drawn.window.height) / 3)
    assert np.array_equal(y, (focus.crop(patch.mask) > 127).astype(np.float32))  # the mask cut by the same window
    centre = focus.to_input(drawn.window.to_image(np.array([16.0, 3.0])))
    assert x[3][round(centre[1]), round(centre[0])] == 255  # the last click, drawn where it lies in the focus window
    assert not x[4].any()  # the negative clicks lie outside the focus window: left out, as refine() leaves them
    assert x[5].max() <= 255 and x[5].any()  # the object window's answer, seen through the focus window


def test_a_run_with_focus_samples_trains(cache, tmp_path):
    result = run(cache, tmp_path / "run", "--epochs", "1", "--focus", "0.5")
    assert len(result["history"]) == 1


def test_prior_p_sets_how_many_clicks_a_sample_gets_before_the_model_answers():
    rng = np.random.default_rng(0)
    few = [tc.prior_count(rng, 0.3, 10) for _ in range(4000)]
    many = [tc.prior_count(rng, 0.15, 16) for _ in range(4000)]
    assert min(few) == 0 and max(few) == 10 and max(many) == 16
    assert np.mean(few) == pytest.approx(2.3, abs=0.15)
    assert np.mean(many) == pytest.approx(5.25, abs=0.3)  # 1/0.15 - 1 = 5.7, 5.25 with the cap at 16


def test_prior_p_outside_zero_to_one_is_refused(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["train_corrections.py", "--first", "first.xml", "--prior-p", "0"])
    with pytest.raises(SystemExit):
        tc.main()
    assert "--prior-p must lie in (0, 1], got 0.0" in capsys.readouterr().err


def test_a_wider_network_starts_where_the_narrow_one_is_and_exports(cache, tmp_path):
    # --base 24 from the 16-filter shipped weights: widened without changing the answer (net2wider.py), so at
    # learning rate 0 clicks still leave the first answer as it was; the export reads the width from the weights.
    import export
    from polyseg import Segmenter

    out = tmp_path / "run"
    result = run(cache, out, "--epochs", "1", "--lr", "0", "--base", "24")
    after = result["history"][0]["iou_after"]
    assert max(after) - min(after) < 2.0
    best = torch.load(out / "best.pt", weights_only=False)["model"]
    assert tuple(best["down.0.0.weight"].shape[:2]) == (24, 6) and best["down.4.3.weight"].shape[0] == 384
    xml = export.export(out / "best.pt", tmp_path / "wide" / "polyseg_refine.xml", "test")
    image = np.full((200, 200, 3), 60, np.uint8)
    with Segmenter.from_pretrained(refiner=xml) as seg:
        first = seg.segment(image, box=(50, 50, 150, 150))
        fixed = seg.refine(image, first, positive=[(100, 100)])
        assert fixed.mask.shape == (200, 200) and seg.refiner_info.version == "test"


def test_batches_made_by_workers_do_not_depend_on_how_many_there_are(cache):
    # --workers (a GPU machine's cores): batch `step` comes from its own seed, so a batch read directly, or made
    # by one of two worker processes (each with its own one-thread copy of the first network), is the same.
    import argparse

    from prepare import load_split
    from samples import Augment

    args = argparse.Namespace(first=bundled_model_path(), batch=4, prior_p=0.3, max_prior=10, max_iter=2, focus=0.0)
    patches = load_split(cache, "train")
    order = np.arange(12) % len(patches)
    data = tc.ClickedBatches(patches, order, [0, 0], Augment(), {"size": 128, "radius": 3.0}, args)
    direct = [data[step] for step in range(len(data))]
    loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=2, collate_fn=tc._as_is)
    made = list(loader)
    assert len(made) == len(direct) == 3
    for a, b in zip(direct, made):
        assert np.array_equal(a.x4, b.x4) and np.array_equal(a.gt, b.gt)
        assert a.clicks == b.clicks and np.array_equal(a.iterations, b.iterations)
        assert np.allclose(a.previous, b.previous, atol=1e-5)
        assert a.drawn is None  # the drawn patches travel only for zoom-in samples
    assert sum(len(c) for b in direct for c in b.clicks) > 0  # prior clicks were placed


def test_the_gpu_recipe_trains_from_a_packed_cache_with_worker_processes(cache, tmp_path):
    # What a lent GPU machine runs: the cache packed into shards (pack.py), batches made by worker processes; the
    # device is given here as cpu, the same code path as cuda.
    from pack import pack
    from prepare import load_split

    packed = tmp_path / "packed"
    for split in ("train", "val"):
        pack(load_split(cache, split), packed, split)
    assert not list(packed.glob("*.pkl"))
    result = run(packed, tmp_path / "run", "--epochs", "1", "--workers", "2", "--device", "cpu")
    assert len(result["history"]) == 1 and (tmp_path / "run" / "best.pt").exists()

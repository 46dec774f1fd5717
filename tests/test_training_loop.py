"""The training loop on a tiny synthetic cache: checkpoints, ``--resume``, source weights and the weight EMA.

Needs PyTorch (the ``train`` extra); skipped where it is not installed, as in the default test run.
"""

from __future__ import annotations

import dataclasses
import json
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
train = pytest.importorskip("train")

from training_data import ellipse_patch


@pytest.fixture
def cache(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("train", 24), ("val", 8)):
        patches = [ellipse_patch(rng, "a" if i % 2 else "b") for i in range(n)]
        (tmp_path / f"{name}.pkl").write_bytes(pickle.dumps([dataclasses.asdict(p) for p in patches]))
    return tmp_path


def args_for(cache, out, *extra):
    return train.parser().parse_args(
        [
            "--cache",
            str(cache),
            "--out",
            str(out),
            "--samples-per-epoch",
            "16",
            "--batch",
            "8",
            "--threads",
            "1",
            *extra,
        ]
    )


@pytest.mark.parametrize("extra", [[], ["--ema", "0.9", "--source-weight", "a=2"]], ids=["plain", "ema+weights"])
def test_a_resumed_run_continues_where_it_stopped(cache, tmp_path, extra):
    out = tmp_path / "run"
    train.train(args_for(cache, out, "--epochs", "1", *extra))
    assert (out / "last.pt").exists() and (out / "best.pt").exists()
    first = torch.load(out / "last.pt", weights_only=False)
    assert first["epoch"] == 0 and len(first["history"]) == 1
    assert (first["ema"] is not None) == ("--ema" in extra)

    result = train.train(args_for(cache, out, "--epochs", "2", "--resume", *extra))
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]  # epoch 1 was not trained again
    assert history[0] == first["history"][0]
    assert result["best_iIoU"] == max(h["iIoU"] for h in history)


def test_best_checkpoint_holds_weights_the_unet_loads(cache, tmp_path):
    from model import UNet

    out = tmp_path / "run"
    train.train(args_for(cache, out, "--epochs", "1", "--ema", "0.9"))
    best = torch.load(out / "best.pt", weights_only=False)
    UNet().load_state_dict(best["model"])  # the EMA's weights, without AveragedModel's wrapper keys
    assert best["args"]["ema"] == 0.9


def test_a_warm_restart_starts_from_the_given_weights_with_a_fresh_schedule(cache, tmp_path):
    first = tmp_path / "first"
    train.train(args_for(cache, first, "--epochs", "1"))
    start = torch.load(first / "best.pt", weights_only=False)["model"]

    # At learning rate 0 the weights cannot move: what the second run holds is what it started from.
    second = tmp_path / "second"
    train.train(args_for(cache, second, "--epochs", "1", "--init-from", str(first / "best.pt"), "--lr", "0"))
    restarted = torch.load(second / "last.pt", weights_only=False)
    weights = [k for k in start if "running" not in k and "num_batches" not in k]  # BatchNorm statistics move
    assert all(torch.equal(restarted["model"][k], start[k]) for k in weights)
    assert restarted["epoch"] == 0 and len(restarted["history"]) == 1  # its own epochs, counted from one
    assert restarted["sched"]["last_epoch"] == 2  # two steps of 8 of 16 samples: a schedule of its own

    fresh = tmp_path / "fresh"  # the same run without --init-from keeps its random initial weights instead
    train.train(args_for(cache, fresh, "--epochs", "1", "--lr", "0"))
    untrained = torch.load(fresh / "last.pt", weights_only=False)["model"]
    assert not all(torch.equal(untrained[k], start[k]) for k in weights)


def test_a_run_starts_from_the_shipped_ir_with_frozen_batchnorm(cache, tmp_path):
    from from_ir import unet_from_ir
    from polyseg.network import bundled_model_path

    xml = bundled_model_path()
    with pytest.raises(SystemExit, match="add --freeze-bn"):
        train.train(args_for(cache, tmp_path / "unfrozen", "--epochs", "1", "--init-from", str(xml)))

    # At learning rate 0 with frozen BatchNorm, nothing moves, statistics included: the run holds the IR's weights.
    out = tmp_path / "from-ir"
    train.train(args_for(cache, out, "--epochs", "1", "--init-from", str(xml), "--freeze-bn", "--lr", "0"))
    held = torch.load(out / "last.pt", weights_only=False)["model"]
    start = unet_from_ir(xml).state_dict()
    assert all(torch.equal(held[k], start[k]) for k in start if "num_batches" not in k)


def test_an_export_states_the_geometry_the_run_trained_with(cache, tmp_path):
    """A run at 64x64 with 2 px discs and other margins is exported with exactly those parameters."""
    import export
    from polyseg.network import Network

    out = tmp_path / "run"
    extra = ["--input-size", "64", "--point-radius", "2", "--margin", "0.2", "--min-margin", "4"]
    train.train(args_for(cache, out, "--epochs", "1", *extra))
    xml = export.export(out / "best.pt", tmp_path / "ir" / "m.xml", "tiny")
    info = Network(xml).info
    assert (info.input_size, info.point_radius, info.margin, info.min_margin) == (64, 2.0, 0.2, 4.0)
    assert info.version == "tiny"


def test_the_input_size_must_suit_the_unet(cache, tmp_path, capsys):
    with pytest.raises(SystemExit):
        args_for(cache, tmp_path, "--input-size", "100")
    assert "multiple of 16" in capsys.readouterr().err


def test_worker_batches_do_not_depend_on_the_number_of_workers(cache):
    patches = train.load_split(cache, "train")
    order = np.arange(len(patches))
    geometry = {"size": 64, "radius": 3.0, "margin": 0.1, "min_margin": 4.0}
    batches = train.Batches(patches, order, 8, [0, 3], train.QUALITY, geometry)
    direct = [batches[i] for i in range(len(batches))]
    assert len(direct) == 3 and direct[0][0].shape == (8, 4, 64, 64) and direct[0][1].shape == (8, 1, 64, 64)
    args = train.parser().parse_args(["--workers", "2", "--batch", "8"])
    loader = train.epoch_batches(patches, order, None, train.QUALITY, geometry, args, 3)
    for (x, y), (dx, dy) in zip(loader, direct):
        assert torch.equal(x, dx) and torch.equal(y, dy)
    other_epoch = train.Batches(patches, order, 8, [0, 4], train.QUALITY, geometry)[0]
    assert not torch.equal(other_epoch[0], direct[0][0])


def test_a_run_with_workers_trains_and_validates(cache, tmp_path):
    out = tmp_path / "run"
    result = train.train(args_for(cache, out, "--epochs", "1", "--workers", "2"))
    assert (out / "best.pt").exists() and len(result["history"]) == 1


def test_piece_weight_draws_the_objects_seen_behind_an_occluder_more_often(tmp_path):
    rng = np.random.default_rng(0)
    whole, occluded = ellipse_patch(rng, "a"), ellipse_patch(rng, "a")
    occluded.mask[:, 30:34] = 0  # a pole across it: two pieces
    args = args_for(tmp_path, tmp_path / "run", "--piece-weight", "3")
    assert np.allclose(train.draw_probabilities([whole, occluded], args), [0.25, 0.75])
    assert train.draw_probabilities([whole, occluded], args_for(tmp_path, tmp_path / "run")) is None

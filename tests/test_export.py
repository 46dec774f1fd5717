"""What ``training/export.py`` writes into an IR: the checkpoint's own training arguments, not the package's
constants. Runs without PyTorch (the default test run); ``test_training_loop.py`` exports a trained checkpoint."""

from __future__ import annotations

import export
from polyseg import ModelInfo


def test_the_ir_states_the_checkpoints_training_arguments():
    args = {"input_size": 96, "point_radius": 2.5, "margin": 0.15, "min_margin": 4.0, "epochs": 30, "lr": 1e-3}
    assert export.model_info(args, "3.0", threshold=0.45) == ModelInfo(
        input_size=96, margin=0.15, min_margin=4.0, point_radius=2.5, threshold=0.45, channel_order="RGB",
        version="3.0", kind="extreme_points", input_channels=4)


def test_a_six_channel_checkpoint_is_a_correction_model_with_its_click_radius():
    args = {"input_size": 96, "margin": 0.15, "min_margin": 4.0, "point_radius": 2.5}
    info = export.model_info(args, "1.0", input_channels=6)
    assert (info.kind, info.input_channels, info.click_radius, info.previous_mask) == ("correction", 6, 2.5, "probability")


def test_a_checkpoint_older_than_the_geometry_arguments_gets_what_those_runs_trained_with():
    info = export.model_info({"epochs": 30, "lr": 1e-3}, "2.0")
    assert (info.input_size, info.margin, info.min_margin, info.point_radius) == (128, 0.1, 3.0, 3.0)
    assert info.version == "2.0"

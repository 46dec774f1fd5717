"""The model's parameters live in the IR (``rt_info["model_info"]``): written by one function, read back typed,
and every one of them taken from the weights, never from the package's constants."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from polyseg import ModelInfo, Segmenter
from polyseg.network import Network, bundled_model_path, parse_model_value, write_model_info
from regenerate_golden import example

#: A value for every field a Segmenter can run with, each unlike its default and unlike the bundled IR's: if any
#: field were not read from the weights, the info read back would differ here. (``kind`` and ``input_channels``
#: have tests of their own below: another value needs another network.)
EDITED = ModelInfo(input_size=96, margin=0.15, min_margin=5.0, point_radius=2.5, threshold=0.4,
                   channel_order="BGR", version="edited-1", click_radius=4.5, previous_mask="probability")
OWN_TESTS = ("kind", "input_channels")


def save_copy(tmp_path: Path, info: ModelInfo, input_size: int | None = None) -> Path:
    """A copy of the bundled IR with ``info`` in its rt_info (and its input reshaped to ``input_size``)."""
    model = ov.Core().read_model(bundled_model_path())
    size = info.input_size if input_size is None else input_size
    model.reshape({model.input(0): ov.PartialShape([-1, 4, size, size])})
    write_model_info(model, info)
    path = tmp_path / "edited.xml"
    ov.save_model(model, path, compress_to_fp16=False)
    return path


def test_every_parameter_is_read_from_the_weights(tmp_path):
    with Segmenter.from_pretrained() as bundled:
        shipped = bundled.info
    for f in dataclasses.fields(ModelInfo):
        if f.name in OWN_TESTS:
            continue
        assert getattr(EDITED, f.name) != f.default, f"{f.name}: pick a value unlike the default"
        assert getattr(EDITED, f.name) != getattr(shipped, f.name), f"{f.name}: pick a value unlike the bundled one"

    with Segmenter.from_pretrained(save_copy(tmp_path, EDITED)) as seg:
        assert seg.info == EDITED
        image, meta = example()
        result = seg.segment(image, meta["extreme_points"])  # a 96x96 input, built from the info read back
    assert result.mask.shape == image.shape[:2]


def test_the_bundled_parameters_survive_a_round_trip(tmp_path):
    with Segmenter.from_pretrained() as bundled:
        shipped = bundled.info
    with Segmenter.from_pretrained(save_copy(tmp_path, shipped)) as seg:
        assert seg.info == shipped


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [(bool, "False", False), (bool, "false", False), (bool, "0", False), (bool, "True", True), (bool, "1", True),
     (int, "128", 128), (int, " 64 ", 64), (float, "0.1", 0.1), (float, "3", 3.0), (str, "RGB", "RGB")],
)
def test_values_are_read_as_their_field_type(kind, raw, value):
    parsed = parse_model_value("field", kind, raw)
    assert parsed == value and type(parsed) is kind


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [(bool, "no", "must be true or false, got 'no'"), (int, "128.0", "must be a whole number, got '128.0'"),
     (int, "", "must be a whole number, got ''"), (float, "nan", "must be a finite number, got 'nan'"),
     (float, "0,1", "must be a finite number, got '0,1'")],
)
def test_a_value_of_the_wrong_type_is_refused(kind, raw, expected):
    with pytest.raises(ValueError, match=f"model_info field {expected}"):
        parse_model_value("field", kind, raw)


def test_a_bad_value_in_an_ir_names_the_file_and_the_field(tmp_path):
    xml = bundled_model_path().read_text()
    assert '<input_size value="128" />' in xml
    (tmp_path / "bad.xml").write_text(xml.replace('<input_size value="128" />', '<input_size value="128px" />'))
    (tmp_path / "bad.bin").write_bytes(bundled_model_path().with_suffix(".bin").read_bytes())
    with pytest.raises(ValueError, match=r"bad\.xml: model_info input_size must be a whole number, got '128px'"):
        Segmenter.from_pretrained(tmp_path / "bad.xml")


def test_an_input_size_the_network_does_not_take_is_refused(tmp_path):
    path = save_copy(tmp_path, dataclasses.replace(EDITED, input_size=64), input_size=96)
    with pytest.raises(ValueError, match=r"expected a network input of shape \(N, 4, 64, 64\)"):
        Segmenter.from_pretrained(path)


def test_the_network_uses_the_point_radius_it_reads(tmp_path):
    """The point channel is drawn with the IR's radius: another radius gives another input, so another result."""
    image, meta = example()
    results = []
    for radius in (1.0, 8.0):
        info = dataclasses.replace(ModelInfo(), point_radius=radius, version=f"r{radius}")
        with Segmenter.from_pretrained(save_copy(tmp_path, info)) as seg:
            results.append(seg.segment(image, meta["extreme_points"]).mask)
    assert not np.array_equal(*results)


def tiny_ir(tmp_path: Path, channels: int, info: ModelInfo | None) -> Path:
    """An IR of ``(N, channels, 32, 32)`` -> ``(N, 1, 32, 32)`` (the sigmoid of the channels' mean), with
    ``info`` in its rt_info (None: no model_info at all)."""
    import openvino.opset13 as ops

    x = ops.parameter([-1, channels, 32, 32], np.float32)
    y = ops.sigmoid(ops.reduce_mean(x, ops.constant(np.array([1], np.int64)), keep_dims=True))
    model = ov.Model([y], [x], "tiny")
    if info is not None:
        write_model_info(model, info)
    path = tmp_path / f"tiny{channels}.xml"
    ov.save_model(model, path)
    return path


def test_the_bundled_ir_says_what_it_is():
    model = ov.Core().read_model(bundled_model_path())
    assert model.get_rt_info(["model_info", "kind"]).astype(str) == "extreme_points"
    assert model.get_rt_info(["model_info", "input_channels"]).astype(str) == "4"


def test_the_network_takes_the_input_channels_its_model_info_states(tmp_path):
    three = ModelInfo(input_size=32, input_channels=3, kind="extreme_points", version="tiny")
    network = Network(tiny_ir(tmp_path, 3, three))
    assert network.info == three
    assert network(np.full((3, 32, 32), 2.0, np.float32)).shape == (32, 32)
    with pytest.raises(ValueError, match=r"expected a network input of shape \(N, 4, 32, 32\) as its model_info "):
        Network(tiny_ir(tmp_path, 3, dataclasses.replace(three, input_channels=4)))


def test_a_segmenter_runs_only_the_kind_of_model_it_builds_inputs_for(tmp_path):
    three = ModelInfo(input_size=32, input_channels=3, kind="extreme_points", version="tiny")
    with pytest.raises(ValueError, match=r"runs 'extreme_points' models with 4 input channels; this model_info says "
                                         r"kind 'extreme_points' with 3 input channels"):
        Segmenter(Network(tiny_ir(tmp_path, 3, three)))
    with Segmenter.from_pretrained() as bundled:
        other = dataclasses.replace(bundled.info, kind="corrections")
    with pytest.raises(ValueError, match=r"this model_info says kind 'corrections' with 4 input channels"):
        Segmenter.from_pretrained(save_copy(tmp_path, other))

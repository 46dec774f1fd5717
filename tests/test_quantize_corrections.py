"""``training/quantize_corrections.py``: the INT8 correction network is calibrated on the inputs corrections really
give it, recorded through the public API on training frames, every data set in turn."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from datasets import Frame
from polyseg import Segmenter
from quantize_corrections import record_inputs


def scene(seed: int, n_objects: int = 1) -> Frame:
    """A textured 240x320 frame with ``n_objects`` filled ellipses of another colour."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 80, (240, 320, 3), dtype=np.uint8)
    instances = []
    for i in range(n_objects):
        mask = np.zeros((240, 320), np.uint8)
        cv2.ellipse(mask, (80 + 140 * i, 120), (50, 35), 15 * seed, 0, 360, 1, -1)
        image[mask > 0] = (200, 60 + 40 * i, 40)
        instances.append(("thing", mask.astype(bool)))
    return Frame(f"f{seed}", image, instances)


@pytest.fixture(scope="module")
def segmenter():
    with Segmenter.from_pretrained() as seg:
        yield seg


def test_inputs_are_recorded_from_corrections_of_every_source_in_turn(segmenter):
    calls = []

    def frames(name, count):
        for i in range(count):
            calls.append(name)
            yield scene(i)

    x = record_inputs(segmenter, {"road": frames("road", 5), "general": frames("general", 5)}, count=9, clicks=3)
    size = segmenter.refiner_info.input_size
    assert x.shape == (9, 6, size, size) and x.dtype == np.float32
    # one object per source per round, three inputs per object: three objects fill the count, and it stops there
    assert calls == ["road", "general", "road"]
    assert x[:, 3].max() == 255  # the positive clicks (the extreme points among them) are drawn
    assert x[:, 5].max() > 0  # and the previous answer is fed back


def test_a_source_that_runs_out_leaves_the_others_to_fill_the_count(segmenter):
    x = record_inputs(segmenter, {"short": iter([scene(1)]), "long": (scene(i) for i in range(10))}, count=8, clicks=2)
    assert len(x) == 8


def test_small_objects_are_skipped_and_no_object_at_all_is_an_error(segmenter):
    tiny = scene(0)
    tiny.instances = [("thing", np.pad(np.ones((5, 5), bool), ((100, 135), (100, 215))))]
    with pytest.raises(ValueError, match="no training object"):
        record_inputs(segmenter, {"tiny": iter([tiny]), "empty": iter([])}, count=4)


def test_the_int8_ir_is_a_correction_network_that_refine_runs(segmenter, tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("nncf")
    import export
    from model import UNet

    net = UNet(in_channels=6, base=4)
    torch.save({"model": net.state_dict(), "args": {"point_radius": 3.0}}, tmp_path / "best.pt")
    x = record_inputs(segmenter, {"a": (scene(i) for i in range(4))}, count=6, clicks=2)
    out = export.quantize_int8(tmp_path / "best.pt", x, tmp_path / "int8" / "refine.xml", "9.9")
    with Segmenter.from_pretrained(refiner=out) as seg:
        info = seg.refiner_info
        assert (info.kind, info.input_channels, info.version) == ("correction", 6, "9.9-int8")
        frame = scene(3)
        first = seg.segment(frame.image, box=(30, 85, 130, 155))
        fixed = seg.refine(frame.image, first, positive=[(80, 120)])
        assert fixed.mask.shape == (240, 320)

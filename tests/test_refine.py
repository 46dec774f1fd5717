"""Corrective clicks through the public API: ``Segmenter.refine`` and ``segment(..., positive=, negative=)`` with
the shipped correction network.

The example is the bundled car; its first answer is made wrong on purpose (a box that cuts the car in half, or one
twice its size) so that a single click has something to fix that is known without a ground-truth mask.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from polyseg import Segmentation, Segmenter
from polyseg.network import BUNDLED_REFINER, bundled_model_path
from regenerate_golden import ACCURACY, example

# The car of the bundled example spans about x 336-591, y 261-385 (its extreme points).
CAR_BOX = (336, 261, 591, 385)
LEFT_HALF = (336, 261, 460, 385)  # a box that misses the car's right half


def right_edge(result: Segmentation) -> int:
    return int(np.nonzero(result.mask)[1].max())


@pytest.fixture(scope="module")
def seg():
    with Segmenter.from_pretrained(config=ACCURACY) as s:
        yield s


@pytest.fixture(scope="module")
def car():
    image, meta = example()
    return image, np.array(meta["extreme_points"], np.float64)


def test_the_correction_model_is_loaded_only_when_a_correction_is_asked_for(car):
    image, points = car
    with Segmenter.from_pretrained() as s:
        s.segment(image, points)
        assert s._refiner is None  # cold start and plain use as before
        s.refine(image, s.segment(image, points), negative=[(20, 20)])
        assert s.refiner_info.kind == "correction" and s.refiner_info.input_channels == 6
        assert s.refiner_info.previous_mask == "probability"


def test_a_positive_click_outside_the_answer_takes_in_the_missed_part(seg, car):
    image, _ = car
    first = seg.segment(image, box=LEFT_HALF)
    assert right_edge(first) < 480  # the first answer stops where the box does
    click = (555, 330)  # on the car's right half, outside the first window
    fixed = seg.refine(image, first, positive=[click])
    assert fixed.mask[click[1], click[0]]
    assert right_edge(fixed) > 575  # the window grew to take in the click, and the answer the missed part
    assert fixed.window.x0 + fixed.window.width > click[0] > fixed.window.x0


def test_a_negative_click_removes_what_was_wrongly_taken(seg, car):
    image, points = car
    first = seg.segment(image, points)
    # a negative click on the car's roof, well inside the first answer
    click = (470, 280)
    assert first.mask[click[1], click[0]]
    fixed = seg.refine(image, first, negative=[click])
    assert not fixed.mask[click[1], click[0]]
    inter = (fixed.mask & first.mask).sum()
    assert inter / (fixed.mask | first.mask).sum() > 0.9  # a local change: the car stays


def test_refine_is_stateless_all_clicks_each_time(seg, car):
    image, _ = car
    first = seg.segment(image, box=LEFT_HALF)
    once = seg.refine(image, first, positive=[(540, 330)])
    twice = seg.refine(image, once, positive=[(540, 330), (580, 360)])
    assert twice.prompt.positive.tolist() == [[540, 330], [580, 360]]  # every click so far, in order
    replayed = seg.segment(image, box=LEFT_HALF, positive=[(540, 330)])  # first answer + refine in one call
    assert np.array_equal(replayed.mask, once.mask)


def test_a_negative_click_outside_the_window_is_ignored(seg, car):
    image, points = car
    first = seg.segment(image, points)
    with_far = seg.refine(image, first, positive=[(450, 330)], negative=[(10, 600)])
    without = seg.refine(image, first, positive=[(450, 330)])
    assert np.array_equal(with_far.mask, without.mask)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, ValueError, "at least one corrective click"),
        ({"positive": [(700, 20)]}, ValueError, "positive clicks lie outside the 640x640 image"),
        ({"negative": [(float("nan"), 3)]}, ValueError, "negative clicks must be finite numbers"),
        ({"positive": [(1, 2, 3)]}, ValueError, r"\(N, 2\)"),
    ],
)
def test_bad_clicks_are_refused_with_a_clear_message(seg, car, kwargs, error, match):
    image, points = car
    first = seg.segment(image, points)
    with pytest.raises(error, match=match):
        seg.refine(image, first, **kwargs)


def test_previous_must_come_from_the_same_image_size(seg, car):
    image, points = car
    first = seg.segment(image, points)
    with pytest.raises(ValueError, match="640x640 image, this one is 640x320"):
        seg.refine(image[:320], first, positive=[(400, 300)])
    with pytest.raises(TypeError, match="must be a Segmentation"):
        seg.refine(image, first.mask, positive=[(400, 300)])
    by_hand = dataclasses.replace(first, probabilities=None)
    with pytest.raises(TypeError, match="not one built by hand"):
        seg.refine(image, by_hand, positive=[(400, 300)])


def test_a_first_answer_model_is_refused_as_the_refiner(car):
    image, points = car
    with Segmenter.from_pretrained(refiner=bundled_model_path()) as s:
        first = s.segment(image, points)
        with pytest.raises(ValueError, match="needs a 'correction' model"):
            s.refine(image, first, positive=[(400, 300)])


def test_the_refiner_ships_beside_the_first_model():
    xml = bundled_model_path(BUNDLED_REFINER)
    assert xml.is_file() and xml.with_suffix(".bin").is_file()
    assert isinstance(Segmentation, type)


def test_the_command_line_takes_corrective_clicks(tmp_path, capsys):
    import json

    import cv2

    from polyseg import cli

    image, _ = example()
    path = tmp_path / "car.png"
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert cli.main([str(path), "--box", ",".join(map(str, LEFT_HALF))]) == 0
    first = json.loads(capsys.readouterr().out)
    assert cli.main([str(path), "--box", ",".join(map(str, LEFT_HALF)), "--positive", "555,330"]) == 0
    fixed = json.loads(capsys.readouterr().out)
    assert max(x for x, _ in fixed["polygon"]) > max(x for x, _ in first["polygon"]) + 60
    assert cli.main([str(path), "--box", ",".join(map(str, LEFT_HALF)), "--negative", "900,300"]) == 2
    assert "negative clicks lie outside the 640x640 image" in capsys.readouterr().err


def test_zoom_in_refines_a_large_object_around_the_new_click_only(seg):
    from polyseg import segmenter as sm

    image = np.full((1000, 1400, 3), 60, np.uint8)
    cv2.ellipse(image, (700, 500), (500, 380), 0, 0, 360, (200, 80, 60), -1)
    first = seg.segment(image, [(200, 500), (700, 120), (1199, 500), (700, 879)])
    assert max(first.window.width, first.window.height) / first.window.size > sm.ZOOM_MIN_SCALE
    plain = seg.refine(image, first, positive=[(700, 300)])
    zoomed = seg.refine(image, first, positive=[(700, 300)], zoom=True)
    assert zoomed.probabilities.shape == plain.probabilities.shape == (128, 128)
    assert zoomed.window == plain.window and zoomed.mask.shape == plain.mask.shape == image.shape[:2]
    # only the focus window (a third of the window's side around the click, faded in) can differ
    focus = sm._focus_windows(first.window, first.prompt, zoomed.prompt)
    assert len(focus) == 1 and focus[0].width == round(max(first.window.width, first.window.height) / 3)
    f = focus[0]
    outside = zoomed.mask ^ plain.mask
    # the probabilities kept for the next correction are the same map at network resolution, away from the focus
    far = np.ones((128, 128), bool)
    fx0, fy0 = first.window.to_input(np.array([f.x0, f.y0], float))
    fx1, fy1 = first.window.to_input(np.array([f.x0 + f.width, f.y0 + f.height], float))
    far[max(int(fy0) - 2, 0) : int(fy1) + 3, max(int(fx0) - 2, 0) : int(fx1) + 3] = False
    assert np.abs(zoomed.probabilities - plain.probabilities)[far].mean() < 0.02  # up and down again: edges blur
    assert ((zoomed.probabilities > 0.5) == (plain.probabilities > 0.5))[far].mean() > 0.99
    outside[max(f.y0, 0) : f.y0 + f.height, max(f.x0, 0) : f.x0 + f.width] = False
    assert not outside.any()
    # the same click again is no new click: no focus window
    assert sm._focus_windows(zoomed.window, zoomed.prompt, zoomed.prompt) == []


def test_zoom_in_leaves_small_objects_alone(seg):
    image = np.full((200, 200, 3), 60, np.uint8)
    cv2.circle(image, (100, 100), 50, (200, 80, 60), -1)
    first = seg.segment(image, [(50, 100), (100, 50), (150, 100), (100, 150)])
    a = seg.refine(image, first, positive=[(100, 100)], zoom=True)
    b = seg.refine(image, first, positive=[(100, 100)])
    assert np.array_equal(a.mask, b.mask) and np.array_equal(a.probabilities, b.probabilities)


def test_a_correction_keeps_the_small_part_and_the_pin_hole_that_were_clicked(seg):
    """finish() drops parts under 5 % of the largest and fills pin holes; not where the annotator clicked."""
    from polyseg.crop import CropWindow
    from polyseg.prompt import Prompt
    from polyseg.segmenter import Prepared

    window = CropWindow(0, 0, 128, 128)  # image pixels are network pixels
    prob = np.zeros((128, 128), np.float32)
    prob[20:80, 20:80] = 0.9  # the object
    prob[100:105, 100:105] = 0.9  # a separate part, 25 px: 0.7 % of the object
    prob[50, 50] = 0.1  # a 1-px hole
    box = (20, 20, 79, 79)
    first = seg.finish(Prepared(Prompt(box=box), window, None, (128, 128)), prob)
    assert not first.mask[102, 102] and first.mask[50, 50]  # a first answer is cleaned as always
    clicked = Prompt(box=box, positive=[(102, 102)], negative=[(50, 50)])
    fixed = seg.finish(Prepared(clicked, window, None, (128, 128)), prob)
    assert fixed.mask[100:105, 100:105].all() and len(fixed.parts) == 2
    assert not fixed.mask[50, 50]
    assert fixed.mask.sum() == 60 * 60 - 1 + 25

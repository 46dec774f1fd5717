"""The prompt type (:class:`polyseg.prompt.Prompt`) and the one rule that turns a labeling tool's clicks into a
prompt (:func:`polyseg.prompt.tool_prompt`). Error messages of bad points and boxes: ``test_bad_inputs.py``."""

from __future__ import annotations

import numpy as np
import pytest

from polyseg.prompt import MAX_TOOL_CLICKS, NoPrompt, Prompt, tool_prompt

POINTS = [(25, 32), (40, 17), (55, 32), (40, 47)]  # left, top, right, bottom
BOX = (25, 17, 55, 47)


def test_a_prompt_stores_float_arrays_and_no_clicks_by_default():
    prompt = Prompt(extreme_points=POINTS)
    assert prompt.extreme_points.dtype == np.float64 and prompt.extreme_points.shape == (4, 2)
    assert prompt.box is None
    assert prompt.positive.shape == prompt.negative.shape == (0, 2) and not prompt.has_clicks
    assert Prompt(box=BOX).bounds.tolist() == [25, 17, 55, 47]


def test_clicks_are_checked_like_points():
    prompt = Prompt(box=BOX, positive=[(40, 32)], negative=[(2, 2), (70, 60)])
    assert prompt.has_clicks and prompt.negative.shape == (2, 2)
    with pytest.raises(ValueError, match=r"positive clicks must have shape \(N, 2\) as \(x, y\) pairs, got shape \(3,\)"):
        Prompt(box=BOX, positive=(1, 2, 3))
    with pytest.raises(ValueError, match=r"negative clicks must be finite numbers"):
        Prompt(box=BOX, negative=[(np.nan, 1)])
    with pytest.raises(ValueError, match=r"negative clicks lie outside the 80x64 image"):
        Prompt(box=BOX, negative=[(200, 1)]).inside(80, 64)


def test_inside_clips_onto_the_image_and_keeps_the_kind_of_prompt():
    prompt = Prompt(extreme_points=[(-1.2, 32), (40, 17), (55, 32), (40, 47)], positive=[(80.3, 5)]).inside(80, 64)
    assert prompt.extreme_points[0].tolist() == [0, 32] and prompt.box is None
    assert prompt.positive.tolist() == [[79, 5]]


def test_of_tells_points_from_a_box_by_shape():
    assert Prompt.of(POINTS).extreme_points.tolist() == [list(p) for p in POINTS]
    assert Prompt.of(BOX).box.tolist() == list(BOX)
    given = Prompt(box=BOX)
    assert Prompt.of(given) is given
    with pytest.raises(ValueError, match=r"expected \(4, 2\) extreme points or a \(4,\) box, got shape \(2, 2\)"):
        Prompt.of(POINTS[:2])


def test_scaled_maps_pixel_centres_with_the_image():
    """Twice the size: pixel 0 (spanning [-0.5, 0.5)) becomes pixels 0 and 1, centred on 0.5."""
    prompt = Prompt(box=(0, 10, 9, 19), negative=[(4.5, 4.5)]).scaled(2, 2)
    assert prompt.box.tolist() == [0.5, 20.5, 18.5, 38.5]
    assert prompt.negative.tolist() == [[9.5, 9.5]]


def test_a_tool_prompt_takes_the_first_four_positive_clicks_as_the_extreme_points():
    prompt = tool_prompt(np.array(POINTS), None)
    assert prompt.extreme_points.tolist() == [list(p) for p in POINTS]
    assert prompt.box is None and not prompt.has_clicks


def test_later_positive_clicks_and_every_negative_one_are_corrections():
    inner, outer = (40, 30), (70, 32)  # a fifth click inside the object, a sixth outside the first four
    prompt = tool_prompt(np.array(POINTS + [inner, outer]), None, negative=np.array([(30, 45)]))
    assert prompt.extreme_points.tolist() == [list(p) for p in POINTS]  # not the outermost four
    assert prompt.positive.tolist() == [list(inner), list(outer)]  # in click order
    assert prompt.negative.tolist() == [[30, 45]]


def test_with_a_box_every_click_is_a_correction():
    prompt = tool_prompt(np.array(POINTS), np.array(BOX, float), negative=np.array([(30, 45)]))
    assert prompt.extreme_points is None and prompt.box.tolist() == list(BOX)
    assert prompt.positive.tolist() == [list(p) for p in POINTS]
    assert prompt.negative.tolist() == [[30, 45]]
    assert tool_prompt(np.zeros((0, 2)), np.array(BOX, float)).has_clicks is False


def test_a_tool_prompt_needs_four_positive_clicks_or_a_box():
    with pytest.raises(NoPrompt, match=r"need 4 extreme points or a box: at least 4 positive points in pos_points "
                                        r"\(the first 4 are the object's extreme points, later ones corrections\) or "
                                        r"obj_bbox, got 3 points"):
        tool_prompt(np.array(POINTS[:3]), None, points_name="pos_points", box_name="obj_bbox")
    with pytest.raises(NoPrompt, match="got 3 points"):  # negative clicks do not make a prompt
        tool_prompt(np.array(POINTS[:3]), None, negative=np.array(POINTS))


def test_a_tool_prompt_takes_a_bounded_number_of_clicks():
    many = np.tile(np.array([(40.0, 32.0)]), (MAX_TOOL_CLICKS - 4, 1))  # with the extreme points: the most
    assert len(tool_prompt(np.concatenate([POINTS, many]), None).positive) == MAX_TOOL_CLICKS - 4
    with pytest.raises(ValueError, match=f"at most {MAX_TOOL_CLICKS} clicks per object, got {MAX_TOOL_CLICKS + 1} "):
        tool_prompt(np.concatenate([POINTS, many]), None, negative=np.array([(1.0, 1.0)]))

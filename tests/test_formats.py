"""Tests for :class:`polyseg.result.Segmentation` and its labeling-tool formats (COCO, labelme, CVAT, Label Studio).

The segmentations are built by hand from synthetic masks, so every expected number can be worked out on paper.
The main example is an 80 x 60 image with an object of two parts, found in a crop whose top-left pixel is image
pixel (x=10, y=5)::

    part A: columns 12 .. 31, rows 8 .. 22 (20 x 15 = 300 px) with a 3 x 3 hole at columns 18 .. 20, rows 13 .. 15
    part B: columns 40 .. 49, rows 30 .. 39 (10 x 10 = 100 px)

Conventions (see ``../shared/FORMATS.md``): ``Segmentation`` keeps pixel-centre coordinates; COCO and Label
Studio use corner coordinates (+0.5); labelme and CVAT take the pixel-centre vertices unchanged.
"""

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from polyseg.contours import trace
from polyseg.result import LABELME_VERSION, Segmentation
from serve_support import cvat_mask

IMAGE_SIZE = (60, 80)  # (height, width)
OFFSET = (10, 5)  # (x, y) of mask_crop[0, 0] in the image

# pycocotools (not polyseg) still calls np.array(..., copy=False) on NumPy 2.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def make_segmentation(mask_crop, offset=OFFSET, image_size=IMAGE_SIZE, tolerance=1.4, score=0.875):
    """A Segmentation whose parts are traced from ``mask_crop`` and placed at ``offset``."""
    mask_crop = np.asarray(mask_crop, bool)
    parts = tuple(trace(mask_crop, tolerance=tolerance, offset=offset, min_part_fraction=0.0, min_hole_area=0))
    return Segmentation(parts, mask_crop, offset, image_size, score)


def two_part_crop():
    crop = np.zeros((40, 50), bool)
    crop[3:18, 2:22] = True  # part A: image columns 12 .. 31, rows 8 .. 22
    crop[8:11, 8:11] = False  # its hole: image columns 18 .. 20, rows 13 .. 15
    crop[25:35, 30:40] = True  # part B: image columns 40 .. 49, rows 30 .. 39
    return crop


@pytest.fixture
def two_parts():
    return make_segmentation(two_part_crop())


@pytest.fixture
def one_part():
    crop = np.zeros((40, 50), bool)
    crop[3:18, 2:22] = True  # image columns 12 .. 31, rows 8 .. 22
    return make_segmentation(crop)


def corners(polygon):
    return sorted(map(tuple, np.asarray(polygon).tolist()))


# --- properties -------------------------------------------------------------------------------------------------


def test_polygon_is_the_outer_boundary_of_the_largest_part(two_parts):
    assert two_parts.polygon.shape == (4, 2)
    assert corners(two_parts.polygon) == [(12, 8), (12, 22), (31, 8), (31, 22)]
    assert [p.area for p in two_parts.parts] == [291, 100]
    assert len(two_parts.parts[0].holes) == 1


def test_area_counts_the_pixels_of_all_parts_without_holes(two_parts):
    assert two_parts.area == 300 - 9 + 100


def test_bbox_is_x_y_width_height_over_all_parts(two_parts, one_part):
    assert two_parts.bbox == (12, 8, 38, 32)  # columns 12 .. 49, rows 8 .. 39
    assert one_part.bbox == (12, 8, 20, 15)


def test_mask_places_the_crop_at_its_offset_in_a_full_size_array(two_parts):
    mask = two_parts.mask
    assert mask.shape == IMAGE_SIZE
    assert mask.dtype == bool
    assert mask.sum() == 391
    assert mask[8:23, 12:32].sum() == 291
    assert not mask[13:16, 18:21].any()  # the hole stays open
    assert mask[30:40, 40:50].all()
    assert not mask[:8].any() and not mask[:, :12].any()


def test_mask_of_a_crop_at_the_image_origin():
    crop = np.zeros((10, 10), bool)
    crop[0:3, 0:4] = True
    seg = make_segmentation(crop, offset=(0, 0), image_size=(10, 12))
    assert np.array_equal(seg.mask[:, :10], crop)
    assert not seg.mask[:, 10:].any()


def test_an_empty_segmentation():
    seg = Segmentation((), np.zeros((5, 5), bool), (3, 4), (20, 30), 0.0)
    assert seg.polygon.shape == (0, 2)
    assert seg.area == 0
    assert seg.bbox == (0, 0, 0, 0)
    assert not seg.mask.any()
    assert seg.to_coco()["segmentation"] == []
    assert seg.to_labelme() == []
    assert seg.to_cvat()["points"] == []
    assert seg.to_label_studio(30, 20)["value"]["points"] == []


def test_bbox_covers_every_mask_pixel_even_after_simplification():
    crop = np.zeros((30, 40), bool)
    crop[5:15, 10:30] = True
    crop[4, 20] = True  # one pixel sticking out of the top edge
    seg = make_segmentation(crop, offset=(0, 0), image_size=(30, 40), tolerance=1.4)
    assert seg.bbox == (10, 4, 20, 11)
    assert np.count_nonzero(seg.to_cvat()["mask"]) == seg.area == 201


# --- COCO -------------------------------------------------------------------------------------------------------


def test_to_coco_polygons_are_flat_corner_coordinate_lists_one_per_part(two_parts):
    coco = two_parts.to_coco(category_id=3)
    segmentation = coco["segmentation"]

    assert len(segmentation) == 2
    for flat, part in zip(segmentation, two_parts.parts):
        assert len(flat) % 2 == 0 and len(flat) >= 6
        assert all(isinstance(v, float) for v in flat)
        assert np.allclose(np.reshape(flat, (-1, 2)), part.outer + 0.5)
    assert corners(np.reshape(segmentation[0], (-1, 2))) == [(12.5, 8.5), (12.5, 22.5), (31.5, 8.5), (31.5, 22.5)]
    assert coco["category_id"] == 3


def test_to_coco_bbox_area_and_flags(two_parts):
    coco = two_parts.to_coco()
    assert coco["bbox"] == [12.0, 8.0, 38.0, 32.0]
    assert all(isinstance(v, float) for v in coco["bbox"])
    assert coco["area"] == 391.0 and isinstance(coco["area"], float)
    assert coco["iscrowd"] == 0
    assert coco["category_id"] == 1
    assert coco["score"] == 0.875


def test_pycocotools_reads_the_coco_polygons():
    ys, xs = np.mgrid[:100, :100]
    disc = (xs - 50) ** 2 + (ys - 50) ** 2 <= 40**2
    seg = make_segmentation(disc, offset=(0, 0), image_size=(100, 100), tolerance=0)
    rles = mask_utils.frPyObjects(seg.to_coco()["segmentation"], 100, 100)
    decoded = mask_utils.decode(mask_utils.merge(rles)).astype(bool)
    # A polygon through boundary pixel centres encloses slightly less than the mask.
    assert (decoded & disc).sum() / (decoded | disc).sum() > 0.97


def test_to_coco_rle_decodes_back_to_the_mask(two_parts):
    coco = two_parts.to_coco(rle=True)
    rle = coco["segmentation"]

    assert rle["size"] == [60, 80]
    assert sum(rle["counts"]) == 60 * 80
    decoded = mask_utils.decode(mask_utils.frPyObjects(rle, 60, 80))
    assert decoded.shape == IMAGE_SIZE
    assert np.array_equal(decoded.astype(bool), two_parts.mask)  # hole included
    assert coco["bbox"] == [12.0, 8.0, 38.0, 32.0]


@pytest.mark.parametrize(
    ("mask", "counts"),
    [
        # Column-major: column 0 is (1, 1), column 1 is (0, 1), column 2 is (0, 0) -> 1 1 0 1 0 0.
        # Runs always start with a run of zeros, here empty. Row-major would give 1 0 0 1 1 0.
        ([[1, 0, 0], [1, 1, 0]], [0, 2, 1, 1, 2]),
        # Columns (0, 0), (1, 0), (1, 1) -> 0 0 1 0 1 1. Row-major would give [1, 2, 2, 1].
        ([[0, 1, 1], [0, 0, 1]], [2, 1, 1, 2]),
        ([[0, 0, 0], [0, 0, 0]], [6]),
        ([[1, 1, 1], [1, 1, 1]], [0, 6]),
    ],
)
def test_to_coco_rle_runs_column_by_column(mask, counts):
    mask = np.array(mask, bool)
    seg = make_segmentation(mask, offset=(0, 0), image_size=mask.shape)
    rle = seg.to_coco(rle=True)["segmentation"]
    assert rle == {"counts": counts, "size": [2, 3]}
    assert np.array_equal(mask_utils.decode(mask_utils.frPyObjects(rle, 2, 3)).astype(bool), mask)


# --- labelme ----------------------------------------------------------------------------------------------------


def test_to_labelme_gives_one_polygon_shape_per_part_sharing_a_group_id(two_parts):
    shapes = two_parts.to_labelme(label="cat")
    assert len(shapes) == 2
    for shape, part in zip(shapes, two_parts.parts):
        assert shape["label"] == "cat"
        assert shape["shape_type"] == "polygon"
        assert shape["points"] == part.outer.tolist()  # pixel centres, unchanged
        assert shape["flags"] == {} and shape["description"] == ""
    assert shapes[0]["group_id"] == shapes[1]["group_id"] is not None
    assert corners(shapes[1]["points"]) == [(40, 30), (40, 39), (49, 30), (49, 39)]


def test_to_labelme_single_part_has_no_group_id_unless_given(one_part):
    (shape,) = one_part.to_labelme()
    assert shape["group_id"] is None
    assert shape["label"] == "object"
    assert corners(shape["points"]) == [(12, 8), (12, 22), (31, 8), (31, 22)]
    assert one_part.to_labelme(group_id=7)[0]["group_id"] == 7


def test_to_labelme_keeps_an_explicit_group_id_for_every_part(two_parts):
    assert [s["group_id"] for s in two_parts.to_labelme(group_id=5)] == [5, 5]


# --- CVAT -------------------------------------------------------------------------------------------------------


def test_to_cvat_points_bounds_and_mask(two_parts):
    cvat = two_parts.to_cvat()

    assert cvat["points"] == two_parts.polygon.tolist()
    assert cvat["bounds"] == [12, 8, 49, 39]  # inclusive: x1, y1, x2, y2
    mask = np.array(cvat["mask"])
    assert mask.shape == (39 - 8 + 1, 49 - 12 + 1)
    assert set(np.unique(mask).tolist()) == {0, 255}
    assert np.array_equal(mask == 255, two_parts.mask[8:40, 12:50])
    assert np.count_nonzero(mask) == two_parts.area


def test_to_cvat_is_what_the_cvat_interactor_answers(two_parts):
    """One encoder: the interactor function and ``to_cvat`` (CLI, page) write the same document, with the 0/255
    mask values of CVAT's own interactors (HRNet and IOG normalise their masks to 0-255; cvat-ui's SAM plugin
    writes ``input[i] > 0 ? 255 : 0``)."""
    from polyseg.serve.cvat import interactor_response

    assert interactor_response(two_parts) == two_parts.to_cvat()
    assert np.array_equal(cvat_mask(two_parts.to_cvat(), IMAGE_SIZE), two_parts.mask)


def test_to_cvat_of_nothing_is_an_empty_mask_cvat_can_place():
    """An empty result: no polygon, and a 1 x 1 background mask at the origin, whose bounds are valid pixel
    indices (``[0, 0, -1, -1]`` would make CVAT place a 0 x 0 mask)."""
    seg = Segmentation((), np.zeros((5, 5), bool), (3, 4), (20, 30), 0.0)
    answer = seg.to_cvat()
    assert answer == {"points": [], "mask": [[0]], "bounds": [0, 0, 0, 0]}
    assert not cvat_mask(answer, (20, 30)).any()


def test_to_cvat_of_one_part(one_part):
    cvat = one_part.to_cvat()
    assert cvat["bounds"] == [12, 8, 31, 22]
    assert np.array(cvat["mask"]).shape == (15, 20)
    assert np.all(np.array(cvat["mask"]) == 255)


# --- YOLO and whole files -----------------------------------------------------------------------------------------


def test_to_yolo_is_the_largest_part_in_normalised_corner_coordinates(two_parts):
    flat = two_parts.to_yolo()
    xy = np.asarray(flat).reshape(-1, 2)
    assert np.allclose(xy, (two_parts.polygon + 0.5) / (80, 60), atol=1e-6)
    # The vertex at pixel centre (12, 8) is the corner (12.5, 8.5) of the 80 x 60 image.
    assert [0.15625, 0.141667] in xy.round(6).tolist()
    assert Segmentation((), np.zeros((5, 5), bool), (3, 4), IMAGE_SIZE, 0.0).to_yolo() == []


def test_to_coco_file_is_an_instance_file_of_the_one_object(one_part):
    doc = one_part.to_coco_file("street.jpg", label="car")
    assert doc["images"] == [{"id": 1, "file_name": "street.jpg", "width": 80, "height": 60}]
    assert doc["categories"] == [{"id": 1, "name": "car"}]
    assert doc["annotations"] == [{"id": 1, "image_id": 1, **one_part.to_coco(category_id=1)}]


def test_to_labelme_file_is_a_labelme_file_without_image_data(two_parts):
    doc = two_parts.to_labelme_file("street.jpg", label="car")
    assert doc["version"] == LABELME_VERSION and doc["flags"] == {}
    assert doc["shapes"] == two_parts.to_labelme("car")
    assert (doc["imagePath"], doc["imageData"], doc["imageHeight"], doc["imageWidth"]) == ("street.jpg", None, 60, 80)


# --- Label Studio -----------------------------------------------------------------------------------------------


def test_to_label_studio_points_are_percent_of_the_image_in_corner_coordinates(one_part):
    result = one_part.to_label_studio(80, 60, label="dog", from_name="tag", to_name="img")

    assert result["type"] == "polygonlabels"
    assert (result["from_name"], result["to_name"]) == ("tag", "img")
    assert (result["original_width"], result["original_height"]) == (80, 60)
    assert result["value"]["polygonlabels"] == ["dog"]
    assert result["value"]["closed"] is True
    points = np.array(result["value"]["points"])
    assert np.allclose(points, (one_part.polygon + 0.5) / (80, 60) * 100, atol=1e-4)
    # The vertex at pixel centre (12, 8) is at (12.5 / 80, 8.5 / 60) of the image.
    assert (15.625, pytest.approx(14.1667, abs=1e-4)) in [tuple(p) for p in points.tolist()]
    assert result["score"] == 0.875


def test_to_label_studio_uses_the_width_and_height_it_is_given(one_part):
    # The caller's image size wins, e.g. when the segmented image was a resized copy.
    result = one_part.to_label_studio(160, 120)
    assert np.allclose(result["value"]["points"], (one_part.polygon + 0.5) / (160, 120) * 100, atol=1e-4)


@pytest.mark.parametrize(("width", "height"), [(0, 60), (80, 0), (-80, 60)])
def test_to_label_studio_rejects_a_bad_image_size(one_part, width, height):
    with pytest.raises(ValueError, match=rf"width and height must be positive, got {width} x {height}"):
        one_part.to_label_studio(width, height)


# --- JSON -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "convert",
    [
        pytest.param(lambda s: s.to_coco(), id="coco"),
        pytest.param(lambda s: s.to_coco(rle=True), id="coco-rle"),
        pytest.param(lambda s: s.to_labelme(), id="labelme"),
        pytest.param(lambda s: s.to_cvat(), id="cvat"),
        pytest.param(lambda s: s.to_yolo(), id="yolo"),
        pytest.param(lambda s: s.to_coco_file("x.jpg"), id="coco-file"),
        pytest.param(lambda s: s.to_labelme_file("x.jpg"), id="labelme-file"),
        pytest.param(lambda s: s.to_label_studio(80, 60), id="label-studio"),
    ],
)
@pytest.mark.parametrize("n_parts", [1, 2])
def test_every_format_is_json_serialisable(convert, n_parts, one_part, two_parts):
    seg = one_part if n_parts == 1 else two_parts
    out = convert(seg)
    assert json.loads(json.dumps(out)) == out

"""``training/evaluate.py`` on a synthetic frame with the shipped weights: every figure of a report row, the
summary by data set, class and size, and the markdown table.

Needs PyTorch (the ``train`` extra: the 128x128 metrics come from ``train.py``); skipped where it is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
evaluate = pytest.importorskip("evaluate")

from datasets import Frame
from polyseg import Segmenter


def toy_frame() -> Frame:
    """A 160x120 frame: a bright 40x30 px rectangle (1,200 px) and a 16x20 px square (320 px) on grey."""
    image = np.full((120, 160, 3), 70, np.uint8)
    big, small = np.zeros((120, 160), bool), np.zeros((120, 160), bool)
    big[20:50, 30:70] = True
    small[70:90, 110:126] = True
    image[big | small] = 210
    return Frame("toy", image, [("box", big), ("box", small)], "toy")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # a score/IoU correlation over 2 objects may be undefined
def test_a_report_row_per_object_and_a_summary_by_set_class_and_size():
    with Segmenter.from_pretrained() as seg:
        result = evaluate.evaluate_frames(seg, {"toy": [toy_frame()]})

    rows = result["rows"]
    assert [r["area"] for r in rows] == [1200, 320]
    for r in rows:  # a clean rectangle: the network finds it, the filled box of its extreme points is exact
        assert r["iou"] > 0.8 and r["iou_boxfill"] == 1.0
        assert 0.8 < r["area_ratio"] < 1.25
        assert {"iou_mask", "iou_jitter", "iou_box", "iou_grabcut", "border", "score"} <= set(r)
    summary = evaluate.summarise(rows)
    assert summary["toy"]["n"] == 2 and summary["toy/size <500px"]["n"] == 1
    assert summary["toy/size 500-2000px"]["area_ratio"] == pytest.approx(rows[0]["area_ratio"])
    assert summary["all"]["iou"] == pytest.approx(100 * np.mean([r["iou"] for r in rows]))
    assert "predicted / true px" in evaluate.markdown(summary)
    assert result["at128"]["iIoU"] > 80

"""INT8 correction network: NNCF post-training quantisation, calibrated on the inputs the network really gets.

The calibration inputs are recorded through the public API on *training* frames (never validation ones): for
objects of each data set in turn, the first answer from the ground truth's extreme points, then corrective clicks
placed and answered exactly as the evaluation does (:func:`evaluate_clicks.run_object`: the protocol's clicks,
each answered by ``Segmenter.refine()``), with the FP16 export of the same checkpoint; every ``(6, S, S)`` input the correction
network receives is kept. So the activation ranges NNCF measures are those of real corrections: clicks on error
regions, previous answers of every quality, road scenes and general objects alike.

    python training/quantize_corrections.py CACHE/run-corrections-w24/best.pt --out OUT/polyseg_refine.xml \\
        --version 1.4 --cityscapes-yolo DATA/Cityscapes-3 --pennfudan DATA/PennFudanPed --duts DATA/DUTS \\
        --ccp DATA/ccp --sources cityscapes_rf camvid adas coco128 pennfudan duts ccp
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

import export
from datasets import Frame
from evaluate import load_frames
from evaluate_clicks import run_object
from polyseg import Segmenter
from prepare import add_data_arguments, sources_from_args


class Recorder:
    """Stands in for a :class:`polyseg.network.Network`: runs it and keeps a copy of every input it is given."""

    def __init__(self, network) -> None:
        self.network, self.info, self.inputs, self.count = network, network.info, [], 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.inputs.append(np.array(x, dtype=np.float32).reshape(-1, *x.shape[-3:]))
        self.count += len(self.inputs[-1])
        return self.network(x)


def _objects(frames: Iterable[Frame], min_area: int, per_frame: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(image, ground-truth mask) of up to ``per_frame`` objects of at least ``min_area`` px in each frame."""
    for frame in frames:
        masks = [gt for _, gt in frame.instances if gt.sum() >= min_area][:per_frame]
        for gt in masks:
            yield frame.image, gt


def record_inputs(
    segmenter: Segmenter,
    frames_by_source: dict[str, Iterable[Frame]],
    count: int = 300,
    clicks: int = 4,
    min_area: int = 400,
    per_frame: int = 2,
) -> np.ndarray:
    """``(count, 6, S, S)`` float32 inputs of ``segmenter``'s correction network, recorded while correcting
    objects of each source in turn (one object per source per round) with ``clicks`` protocol clicks each."""
    recorder = Recorder(segmenter.refiner)
    segmenter._refiner = recorder  # the segmenter's own refiner, observed (a training tool, not the library)
    streams = [_objects(frames, min_area, per_frame) for frames in frames_by_source.values()]
    while streams and recorder.count < count:
        for stream in list(streams):
            item = next(stream, None)
            if item is None:  # this source has no more objects
                streams.remove(stream)
                continue
            image, gt = item
            run_object(segmenter, image, gt, "points", max_clicks=4 + clicks)  # the extreme points are clicks 1-4
            if recorder.count >= count:
                break
    if not recorder.inputs:
        raise ValueError("no training object to calibrate on: check the data arguments and --sources")
    return np.concatenate(recorder.inputs)[:count]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", type=Path, help="a train_corrections.py checkpoint (best.pt)")
    p.add_argument("--out", type=Path, required=True, help="the INT8 IR to write (.xml; .bin beside it)")
    p.add_argument("--version", default="dev", help="model_info version (\"-int8\" is appended)")
    add_data_arguments(p)
    p.add_argument("--sources", nargs="*", help="data sets to record on (default: all given)")
    p.add_argument("--count", type=int, default=300, help="calibration inputs (NNCF's subset size)")
    p.add_argument("--clicks", type=int, default=4, help="corrective clicks per object")
    a = p.parse_args()
    frames = load_frames(sources_from_args(a), a.sources, split="train")
    with tempfile.TemporaryDirectory() as tmp:
        fp16 = export.export(a.checkpoint, Path(tmp) / "refine.xml", a.version)
        with Segmenter.from_pretrained(refiner=fp16) as seg:
            x = record_inputs(seg, frames, count=a.count, clicks=a.clicks)
    print(f"{len(x)} calibration inputs from the training frames")
    print(export.quantize_int8(a.checkpoint, x, a.out, a.version))


if __name__ == "__main__":
    main()

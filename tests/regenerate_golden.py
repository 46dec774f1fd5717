"""Regenerate the golden result of the shipped weights on the bundled example image.

Run after shipping new weights: ``python tests/regenerate_golden.py``. Writes ``tests/golden/example_mask.png``
(the predicted mask, float32 inference) and ``tests/golden/example.json`` (the weights version it came from).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import cv2

from polyseg import Segmenter

GOLDEN = Path(__file__).resolve().parent / "golden"
ACCURACY = {"EXECUTION_MODE_HINT": "ACCURACY"}


def example() -> tuple:
    """The bundled example: ``(image_rgb, metadata)``."""
    data = resources.files("polyseg") / "data"
    meta = json.loads((data / "example.json").read_text())
    image = cv2.cvtColor(cv2.imread(str(data / meta["image"])), cv2.COLOR_BGR2RGB)
    return image, meta


def main() -> None:
    image, meta = example()
    with Segmenter.from_pretrained(config=ACCURACY) as seg:
        result = seg.segment(image, meta["extreme_points"])
        version = seg.info.version
    GOLDEN.mkdir(exist_ok=True)
    cv2.imwrite(str(GOLDEN / "example_mask.png"), result.mask.astype("uint8") * 255)
    (GOLDEN / "example.json").write_text(json.dumps({"version": version, "area": result.area}, indent=1) + "\n")
    print(f"golden mask of weights {version}: {result.area} px")


if __name__ == "__main__":
    main()
